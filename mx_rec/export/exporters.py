"""Exporters for tf.estimator.EvalSpec: final, latest or best exports.

    exporters = make_exporters(serving_input_receiver_fn, exporter_type="best",
                               best_exporter_metric="auc", exports_to_keep=3)
    tf.estimator.train_and_evaluate(estimator, train_spec,
                                    tf.estimator.EvalSpec(..., exporters=exporters))

Exports go to <model_dir>/export/<exporter_type>/<timestamp>/, written by
estimator.export_saved_model with the given serving_input_receiver_fn (for
an mx_rec model: mx_rec.export.serving_input_receiver_fn, giving a stock-TF
SavedModel).
"""

import tensorflow as tf

from mx_rec.export import early_stop, eval_history
from mx_rec.export.exporter_config import resolve


def make_exporters(serving_input_receiver_fn, config=None, **config_kwargs):
    """The exporters for EvalSpec(exporters=...) that `config` (an
    ExporterConfig, or its fields as keywords) asks for: [] for
    exporter_type "none", else one exporter named after exporter_type."""
    if not callable(serving_input_receiver_fn):
        raise TypeError("serving_input_receiver_fn must be a function returning a "
                        f"ServingInputReceiver, got {serving_input_receiver_fn!r}")
    config = resolve(config, **config_kwargs)
    if config.exporter_type == "final":
        return [FinalExporter(serving_input_receiver_fn, early_stop.stop_rule(config),
                              config.eval_name)]
    if config.exporter_type == "latest":
        return [tf.estimator.LatestExporter("latest", serving_input_receiver_fn,
                                            exports_to_keep=config.exports_to_keep)]
    if config.exporter_type == "best":
        return [BestExporter(serving_input_receiver_fn, config.best_exporter_metric,
                             config.metric_bigger, config.exports_to_keep, config.eval_name)]
    return []


class FinalExporter(tf.estimator.FinalExporter):
    """TF's FinalExporter (one export when training reaches max_steps) that
    also exports at the evaluation where early stopping ends training, which
    TF's never does: its final export waits for max_steps.

    should_stop: early_stop.stop_rule of the run's config, or None.
    """

    def __init__(self, serving_input_receiver_fn, should_stop=None, eval_name=None, name="final"):
        super().__init__(name, serving_input_receiver_fn)
        self._should_stop = should_stop
        self._eval_name = eval_name

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        stops = self._should_stop is not None and self._should_stop(
            eval_history.read(estimator.eval_dir(self._eval_name)))
        return super().export(estimator, export_path, checkpoint_path, eval_result,
                              is_the_final_export or stops)


class BestExporter(tf.estimator.Exporter):
    """Exports a checkpoint whose `metric` beats (strictly) that of every
    other checkpoint evaluated in the model directory, and keeps the newest
    `exports_to_keep` exports, which are the best ones.

    The evaluations compared against are read from the eval directory's
    event files at every export, so they include those of earlier processes.
    TF's BestExporter reads them too, but always exports at the first
    evaluation of a process, so a restarted run replaces the best export with
    a worse one (and exports_to_keep then deletes the best).
    """

    def __init__(self, serving_input_receiver_fn, metric, metric_bigger=True, exports_to_keep=1,
                 eval_name=None, name="best"):
        self._exporter = tf.estimator.LatestExporter(name, serving_input_receiver_fn,
                                                     exports_to_keep=exports_to_keep)
        self._metric = metric
        self._metric_bigger = metric_bigger
        self._eval_name = eval_name

    @property
    def name(self):
        return self._exporter.name

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        value = eval_history.metric_value(eval_result, self._metric)
        step = eval_result[eval_history.GLOBAL_STEP]
        evaluations = eval_history.read(estimator.eval_dir(self._eval_name))
        others = [(metrics[self._metric], other) for other, metrics in evaluations.items()
                  if other != step and self._metric in metrics]
        for best, best_step in others:
            if not eval_history.improves(value, best, self._metric_bigger):
                tf.compat.v1.logging.info("best exporter: %s %s at step %d does not beat %s at "
                                          "step %d; no export", self._metric, value, step, best,
                                          best_step)
                return None
        tf.compat.v1.logging.info("best exporter: exporting step %d (%s %s)", step, self._metric,
                                  value)
        return self._exporter.export(estimator, export_path, checkpoint_path, eval_result,
                                     is_the_final_export)
