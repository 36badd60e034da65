"""The evaluations recorded in an Estimator's eval directory.

Estimator.evaluate writes each metric of an evaluation into the event files
of its eval directory as a scalar summary whose step is the evaluated
checkpoint's global step, before train_and_evaluate calls the exporters.
Reading them back is how the best exporter and early stopping remember every
earlier evaluation, including those of earlier processes.
"""

import collections
import os

import tensorflow as tf

GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP


def event_files(eval_dir):
    """The event files in eval_dir, oldest first (their names start with the
    time they were opened)."""
    return sorted(tf.io.gfile.glob(os.path.join(eval_dir, "events.out.tfevents.*")))


def read(eval_dir):
    """OrderedDict {global step: {metric: value}} of every evaluation in
    eval_dir, by step; a step evaluated twice keeps its later values. A
    damaged record (a writer killed while writing) ends its file's reading."""
    results = collections.defaultdict(dict)
    for path in event_files(eval_dir):
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                values = {v.tag: v.simple_value for v in event.summary.value
                          if v.HasField("simple_value")}
                if values:
                    results[event.step].update(values)
        except tf.errors.DataLossError as e:
            tf.compat.v1.logging.warning("eval history: skipping the rest of %s: %s", path, e)
    return collections.OrderedDict(sorted(results.items()))


class Watcher:
    """Hands out the evaluations of eval_dir whenever they change, reading
    the event files only when they changed: cheap enough to poll after
    every training step."""

    def __init__(self, eval_dir):
        self._eval_dir = eval_dir
        self._files = None
        self._results = collections.OrderedDict()

    def poll(self):
        """read(eval_dir) if it differs from what the last poll returned
        (from nothing, on the first), else None."""
        files = [(path, tf.io.gfile.stat(path).length) for path in event_files(self._eval_dir)]
        if files == self._files:
            return None
        self._files = files
        results = read(self._eval_dir)
        if results == self._results:
            return None
        self._results = results
        return results


def metric_value(metrics, name):
    """metrics[name]; a ValueError naming best_exporter_metric and the
    metrics there are when the evaluation does not report `name`."""
    if name not in metrics:
        reported = ", ".join(repr(k) for k in sorted(metrics) if k != GLOBAL_STEP)
        raise ValueError(f"best_exporter_metric {name!r} is not an eval metric; the evaluation "
                         f"reports {reported} (eval_metric_ops of the model_fn, and 'loss')")
    return metrics[name]


def improves(value, best, metric_bigger):
    """Whether `value` is strictly better than `best`."""
    return value > best if metric_bigger else value < best
