"""ExporterConfig: when train_and_evaluate exports and when it stops early.

The exporter and early-stop fields of EasyRec's export_config, with its names
and defaults; exporters.make_exporters and early_stop.make_hooks take it.
"""

import dataclasses
from typing import Any, Callable, Optional, Union

from mx_rec.util.validation import check_bool, check_int

EXPORTER_TYPES = ("final", "latest", "best", "none")


@dataclasses.dataclass(frozen=True)
class ExporterConfig:
    """What tf.estimator.train_and_evaluate does after each evaluation.

    exporter_type: "final" (default): one export when training ends, at
      TrainSpec.max_steps or at the evaluation where early stopping stops it;
      "latest": an export after every evaluation, keeping the newest
      `exports_to_keep`; "best": an export after every evaluation whose
      `best_exporter_metric` beats every earlier evaluation in the model
      directory, this run's and earlier runs', keeping the newest (so best)
      `exports_to_keep`; "none": no export.
    best_exporter_metric: the eval metric (a key of the model's
      eval_metric_ops, or "loss") that "best" and the built-in early stopping
      watch. Default "auc". A name the evaluation does not report fails the
      first evaluation with a ValueError listing the metrics it does report.
    metric_bigger: True (default): a larger metric is better; False: smaller.
    exports_to_keep: how many exports "best" and "latest" keep, >= 1
      (default 1). "final" keeps every export.
    enable_early_stop: stop training when the evaluations say so (default
      False).
    max_check_steps: the built-in early stopping stops once the newest
      evaluation is `max_check_steps` global steps or more after the one with
      the best `best_exporter_metric` (no increase for that long when
      metric_bigger, no decrease otherwise). >= 1, default 10000. Not used
      with early_stop_func.
    early_stop_func: "" (default): the built-in rule; otherwise a function or
      its dotted path "package.module.function", called after each new
      evaluation as fn(eval_results, early_stop_params), where eval_results
      is {global step: {metric: value}} of every evaluation so far, in step
      order; it returns True to stop training. It is called by the training
      hook once per evaluation, and with exporter_type "final" by the
      exporter too, so it should depend on its arguments only.
    early_stop_params: passed unchanged as early_stop_func's second argument
      (default None).
    eval_name: the EvalSpec.name whose evaluations are read (default None:
      the evaluations of EvalSpec(name=None), in Estimator.eval_dir()).
    """

    exporter_type: str = "final"
    best_exporter_metric: str = "auc"
    metric_bigger: bool = True
    exports_to_keep: int = 1
    enable_early_stop: bool = False
    max_check_steps: int = 10000
    early_stop_func: Union[str, Callable] = ""
    early_stop_params: Any = None
    eval_name: Optional[str] = None

    def __post_init__(self):
        if self.exporter_type not in EXPORTER_TYPES:
            allowed = ", ".join(map(repr, EXPORTER_TYPES))
            raise ValueError(f"exporter_type must be one of {allowed}, got {self.exporter_type!r}")
        if not isinstance(self.best_exporter_metric, str) or not self.best_exporter_metric:
            raise ValueError("best_exporter_metric must be the name of an eval metric, got "
                             f"{self.best_exporter_metric!r}")
        check_bool("metric_bigger", self.metric_bigger)
        check_int("exports_to_keep", self.exports_to_keep, 1)
        check_bool("enable_early_stop", self.enable_early_stop)
        check_int("max_check_steps", self.max_check_steps, 1)
        if not (callable(self.early_stop_func) or isinstance(self.early_stop_func, str)):
            raise TypeError("early_stop_func must be a function or its dotted path "
                            f"'package.module.function', got {self.early_stop_func!r}")
        if self.eval_name is not None and not isinstance(self.eval_name, str):
            raise TypeError(f"eval_name must be None or an EvalSpec name, got {self.eval_name!r}")


def resolve(config=None, **config_kwargs):
    """ExporterConfig from an ExporterConfig and/or keyword overrides."""
    if config is not None and not isinstance(config, ExporterConfig):
        raise TypeError(f"config must be an ExporterConfig, got {config!r}")
    unknown = sorted(set(config_kwargs) - {f.name for f in dataclasses.fields(ExporterConfig)})
    if unknown:
        raise TypeError(f"unknown ExporterConfig field(s) {', '.join(unknown)}; the fields are "
                        f"{', '.join(f.name for f in dataclasses.fields(ExporterConfig))}")
    return dataclasses.replace(config or ExporterConfig(), **config_kwargs)
