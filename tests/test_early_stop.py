"""Early stopping under tf.estimator.train_and_evaluate (mx_rec/export/early_stop.py).

Training must end at exactly the global step of the evaluation that decides
to stop: eval_curve_model drives a known metric sequence (one checkpoint and
evaluation every 10 steps), and a linear regression whose learning rate drops
to 0 gives a real plateau of the eval loss.
"""

import collections

import pytest
import tensorflow as tf

import eval_curve_model as curve
from mx_rec.export import early_stop, eval_history
from mx_rec.export.exporter_config import ExporterConfig

PLATEAU = [0.5, 0.6, 0.7, 0.7, 0.65, 0.9, 0.95]  # best 0.7 at step 30; 0.9 comes too late


def evaluated_steps(estimator):
    return list(eval_history.read(estimator.eval_dir()))


def test_no_increase_stops_at_the_plateau_and_again_after_a_restart(tmp_path):
    est = curve.estimator(tmp_path, PLATEAU)
    hooks = early_stop.make_hooks(est, enable_early_stop=True, best_exporter_metric="score",
                                  max_check_steps=20)
    # step 40 ties the best (0.7 at 30): no increase; step 50 is 20 steps after 30.
    assert curve.train_and_evaluate(est, 100, hooks=hooks) == 50
    assert evaluated_steps(est) == [10, 20, 30, 40, 50]

    # A new run on the same model_dir reads those evaluations back: it
    # trains one step, evaluates it (train_and_evaluate's final evaluation) and stops.
    est = curve.estimator(tmp_path, PLATEAU)
    hooks = early_stop.make_hooks(est, enable_early_stop=True, best_exporter_metric="score",
                                  max_check_steps=20)
    assert curve.train_and_evaluate(est, 100, hooks=hooks) == 51
    assert evaluated_steps(est) == [10, 20, 30, 40, 50, 51]


def regression_model_fn(features, labels, mode):
    """y = w * x by gradient descent at rate 0.1 for the updates at global
    steps 0..19, then rate 0: w is final after step 20."""
    w = tf.compat.v1.get_variable("w", [], initializer=tf.compat.v1.zeros_initializer())
    loss = tf.reduce_mean(tf.square(features["x"] * w - labels))
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss)
    step = tf.compat.v1.train.get_global_step()
    rate = tf.compat.v1.train.piecewise_constant(step, [tf.constant(19, tf.int64)], [0.1, 0.0])
    train_op = tf.compat.v1.train.GradientDescentOptimizer(rate).minimize(loss, global_step=step)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_no_decrease_stops_when_the_eval_loss_stops_falling(tmp_path):
    est = tf.estimator.Estimator(regression_model_fn, config=tf.estimator.RunConfig(
        model_dir=str(tmp_path), save_checkpoints_steps=10, save_summary_steps=None,
        log_step_count_steps=None))

    def input_fn():
        return tf.data.Dataset.from_tensors(({"x": [1.0]}, [2.0])).repeat()

    hooks = early_stop.make_hooks(est, enable_early_stop=True, best_exporter_metric="loss",
                                  metric_bigger=False, max_check_steps=20)
    tf.estimator.train_and_evaluate(
        est, tf.estimator.TrainSpec(input_fn, max_steps=200, hooks=hooks),
        tf.estimator.EvalSpec(lambda: input_fn().take(1), steps=None, throttle_secs=0,
                              start_delay_secs=0))
    losses = {step: m["loss"] for step, m in eval_history.read(est.eval_dir()).items()}
    # (2 - w) shrinks by 0.8 per update: loss (2 * 0.8^n)^2 after n updates.
    assert list(losses) == [10, 20, 30, 40]
    assert losses[10] == pytest.approx((2 * 0.8 ** 10) ** 2, rel=1e-4)
    assert losses[20] == pytest.approx((2 * 0.8 ** 20) ** 2, rel=1e-3)
    assert losses[40] == losses[30] == losses[20]  # the plateau: 40 is 20 steps after 20
    assert est.get_variable_value("global_step") == 40


CALLS = []


def stop_when_above(eval_results, early_stop_params):
    """An early_stop_func: stop once any evaluation's metric is above a threshold."""
    CALLS.append(list(eval_results))
    metric, above = early_stop_params["metric"], early_stop_params["above"]
    return any(metrics[metric] > above for metrics in eval_results.values())


def test_early_stop_func_by_dotted_path_sees_every_evaluation_once(tmp_path):
    CALLS.clear()
    est = curve.estimator(tmp_path, PLATEAU)
    hooks = early_stop.make_hooks(est, enable_early_stop=True,
                                  early_stop_func="test_early_stop.stop_when_above",
                                  early_stop_params={"metric": "score", "above": 0.65})
    assert curve.train_and_evaluate(est, 100, hooks=hooks) == 30
    assert CALLS == [[10], [10, 20], [10, 20, 30]]


def history(*scores, start=10):
    """eval_results with `scores` of "score" at steps start, start + 10, ..."""
    return collections.OrderedDict((start + 10 * i, {"score": s, "loss": 0.0})
                                   for i, s in enumerate(scores))


@pytest.mark.parametrize("metric_bigger, scores, stops", [
    (True, (0.5, 0.7, 0.6), False),             # 10 steps since the best
    (True, (0.5, 0.7, 0.6, 0.7), True),         # a tie is no increase: 20 steps
    (True, (0.5, 0.7, 0.6, 0.8), False),
    (False, (0.5, 0.3, 0.4, 0.3), True),
    (False, (0.5, 0.3, 0.4, 0.2), False),
    (True, (), False),
])
def test_built_in_rule(metric_bigger, scores, stops):
    rule = early_stop.stop_rule(ExporterConfig(enable_early_stop=True, best_exporter_metric="score",
                                               metric_bigger=metric_bigger, max_check_steps=20))
    assert rule(history(*scores)) is stops


def test_built_in_rule_needs_the_metric_in_the_newest_evaluation():
    rule = early_stop.stop_rule(ExporterConfig(enable_early_stop=True, best_exporter_metric="auc",
                                               max_check_steps=20))
    older = collections.OrderedDict([(10, {"loss": 1.0})])
    assert rule(collections.OrderedDict(list(older.items()) + [(40, {"auc": 0.7})])) is False
    with pytest.raises(ValueError, match=r"best_exporter_metric 'auc' is not an eval metric; "
                                         r"the evaluation reports 'loss', 'score'"):
        rule(history(0.5, 0.7))


def test_early_stop_func_may_be_a_function():
    rule = early_stop.stop_rule(ExporterConfig(enable_early_stop=True,
                                               early_stop_func=lambda results, params: params,
                                               early_stop_params=1))
    assert rule(history(0.5)) is True


def test_disabled_gives_no_hook(tmp_path):
    assert early_stop.make_hooks(curve.estimator(tmp_path, PLATEAU)) == []


@pytest.mark.parametrize("func, message", [
    ("stop_when_above", r"early_stop_func must be a dotted path 'package.module.function', "
                        r"got 'stop_when_above'"),
    ("no_such_module.fn", r"early_stop_func 'no_such_module.fn': cannot import 'no_such_module'"),
    ("test_early_stop.no_such_fn", r"early_stop_func 'test_early_stop.no_such_fn': "
                                   r"test_early_stop has no function 'no_such_fn'"),
    ("test_early_stop.CALLS", r"test_early_stop has no function 'CALLS'"),
])
def test_bad_early_stop_func_fails_when_the_hook_is_made(tmp_path, func, message):
    with pytest.raises(ValueError, match=message):
        early_stop.make_hooks(curve.estimator(tmp_path, PLATEAU), enable_early_stop=True,
                              early_stop_func=func)
