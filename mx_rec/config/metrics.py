"""eval_config: the metric keys evaluation reports, and their checks."""

from mx_rec.config import data
from mx_rec.config.errors import ConfigError, Problems

GAUC_REDUCTIONS = ("mean", "mean_by_sample_num", "mean_by_positive_num")


def _task_names(config):
    """The task towers' names of a multi-task model; [] for single-task models."""
    model = config.model_config
    if model.WhichOneof("model") != "mmoe":
        return []
    return [tower.tower_name for tower in model.mmoe.task_towers]


def metric_names(config):
    """The keys of the eval results: "loss", then each metrics_set entry's
    field name (auc, gauc, logloss, ...), per task "<name>_<tower_name>" for
    a multi-task model."""
    kinds = [entry.WhichOneof("metric") for entry in config.eval_config.metrics_set
             if entry.WhichOneof("metric")]
    tasks = _task_names(config)
    if tasks:
        return ["loss"] + [f"{kind}_{task}" for kind in kinds for task in tasks]
    return ["loss"] + kinds


def check(config):
    """ConfigError listing what is wrong in eval_config."""
    problems, seen = Problems(), set()
    for i, entry in enumerate(config.eval_config.metrics_set):
        path = f"eval_config.metrics_set[{i}]"
        kind = entry.WhichOneof("metric")
        if kind is None:
            names = ", ".join(field.name for field in entry.DESCRIPTOR.fields)
            problems.add(path, f"set one metric: {names}")
        elif kind in seen:
            problems.add(f"{path}.{kind}", "is listed twice")
        elif kind == "gauc":
            problems.check(_check_gauc, config, entry.gauc, f"{path}.gauc")
        elif kind == "recall_at_topk" and entry.recall_at_topk.topk < 1:
            problems.add(f"{path}.recall_at_topk.topk", "must be >= 1")
        seen.add(kind)
    problems.raise_if_any()


def _check_gauc(config, gauc, path):
    problems = Problems()
    problems.check(data.check_input_name, config, gauc.uid_field, f"{path}.uid_field")
    if gauc.reduction not in GAUC_REDUCTIONS:
        problems.add(f"{path}.reduction", f"{gauc.reduction!r} is not one of "
                     f"{', '.join(GAUC_REDUCTIONS)}")
    problems.raise_if_any()
