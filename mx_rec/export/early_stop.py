"""Early stopping of tf.estimator training, decided from the evaluations.

    hooks = make_hooks(estimator, enable_early_stop=True, best_exporter_metric="auc",
                       max_check_steps=2000)
    tf.estimator.train_and_evaluate(estimator, tf.estimator.TrainSpec(..., hooks=hooks), ...)

The decision reads every evaluation in the estimator's eval directory (see
eval_history.py), so it carries over a restart of training: a run restarted
after its evaluations said stop trains one step and stops.
"""

import importlib

import tensorflow as tf

from mx_rec.export import eval_history
from mx_rec.export.exporter_config import resolve


def make_hooks(estimator, config=None, **config_kwargs):
    """[] without enable_early_stop, else [an EarlyStopHook] for
    TrainSpec(hooks=...) reading the evaluations of `estimator` with the stop
    rule of `config` (an ExporterConfig, or its fields as keywords)."""
    config = resolve(config, **config_kwargs)
    should_stop = stop_rule(config)
    if should_stop is None:
        return []
    return [EarlyStopHook(estimator.eval_dir(config.eval_name), should_stop)]


class EarlyStopHook(tf.compat.v1.train.SessionRunHook):
    """Ends training after the step at which should_stop(eval_results) first
    returns True; it is called once per new evaluation found in eval_dir.

    In train_and_evaluate an evaluation runs inside the step that saves its
    checkpoint, before the hooks of TrainSpec, so training ends at exactly
    the evaluated step. The hook checks the eval directory after every step
    (a glob and a stat per event file), on every worker, so each worker
    stops by itself (TF's early-stopping hooks check on a timer against a
    global step read racing the step's own increment, and can miss a step).
    """

    def __init__(self, eval_dir, should_stop):
        self._watcher = eval_history.Watcher(eval_dir)
        self._should_stop = should_stop

    def after_run(self, run_context, run_values):
        eval_results = self._watcher.poll()
        if eval_results is not None and self._should_stop(eval_results):
            tf.compat.v1.logging.info("early stop after the evaluation at step %d",
                                      next(reversed(eval_results)))
            run_context.request_stop()


def stop_rule(config):
    """None without enable_early_stop, else fn(eval_results) -> bool: the
    config's early_stop_func bound to its early_stop_params, or the built-in
    no-increase (metric_bigger) / no-decrease rule."""
    if not config.enable_early_stop:
        return None
    if not config.early_stop_func:
        return lambda eval_results: no_improvement(
            eval_results, config.best_exporter_metric, config.metric_bigger, config.max_check_steps)
    func = config.early_stop_func
    if isinstance(func, str):
        func = load_function(func)
    return lambda eval_results: bool(func(eval_results, config.early_stop_params))


def no_improvement(eval_results, metric, metric_bigger, max_check_steps):
    """True once the newest evaluation is max_check_steps or more global steps
    after the first one with the best `metric`. Older evaluations without
    `metric` are passed over; the newest must have it (ValueError)."""
    if not eval_results:
        return False
    newest = next(reversed(eval_results))
    eval_history.metric_value(eval_results[newest], metric)
    best_step, best = None, None
    for step, metrics in eval_results.items():
        if metric in metrics and (best is None or
                                  eval_history.improves(metrics[metric], best, metric_bigger)):
            best_step, best = step, metrics[metric]
    if newest - best_step < max_check_steps:
        return False
    tf.compat.v1.logging.info("early stop: no %s of %s for %d steps (best %s at step %d)",
                              "increase" if metric_bigger else "decrease", metric,
                              newest - best_step, best, best_step)
    return True


def load_function(path):
    """The function at dotted path 'package.module.function' (early_stop_func)."""
    module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise ValueError("early_stop_func must be a dotted path 'package.module.function', "
                         f"got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"early_stop_func {path!r}: cannot import {module_name!r}: {e}") from e
    func = getattr(module, name, None)
    if not callable(func):
        raise ValueError(f"early_stop_func {path!r}: {module_name} has no function {name!r}")
    return func
