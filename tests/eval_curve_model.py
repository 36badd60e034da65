"""An Estimator whose eval metric follows a given curve, for the exporter and
early-stop tests; run as a script it is the restarted process of
test_exporters.test_best_export_survives_a_restart:

    python eval_curve_model.py MODEL_DIR MAX_STEPS SCORES_JSON

The model has one variable w; every training step adds 1 to w and to the
global step, so w == the global step and an export tells which checkpoint it
holds (exported_steps). The serving signature predicts y = x * w. A
checkpoint is saved and evaluated every EVERY steps; the evaluation at step
k * EVERY reports "score" = scores[k - 1] (the last score after the curve's
end) and "loss" = 0.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

EVERY = 10


def model_fn(features, labels, mode, params):
    w = tf.compat.v1.get_variable("w", [], initializer=tf.compat.v1.zeros_initializer())
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"y": features["x"] * w})
    loss = 0.0 * tf.reduce_sum(features["x"])  # reads the input: evaluation ends with it
    step = tf.compat.v1.train.get_global_step()
    if mode == tf.estimator.ModeKeys.EVAL:
        scores = tf.constant(params["scores"], tf.float32)
        index = tf.minimum(tf.cast(step // EVERY, tf.int32) - 1, len(params["scores"]) - 1)
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={
            "score": (tf.gather(scores, index), tf.no_op())})
    train_op = tf.group(w.assign_add(1.0), step.assign_add(1))
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def estimator(model_dir, scores):
    return tf.estimator.Estimator(model_fn, params={"scores": list(scores)},
                                  config=tf.estimator.RunConfig(
                                      model_dir=str(model_dir), save_checkpoints_steps=EVERY,
                                      save_summary_steps=None, log_step_count_steps=None))


def input_fn():
    return tf.data.Dataset.from_tensors(({"x": [1.0]}, [0.0])).repeat()


def serving_input_receiver_fn():
    x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
    return tf.estimator.export.ServingInputReceiver({"x": x}, {"x": x})


def train_and_evaluate(est, max_steps, exporters=(), hooks=()):
    """Trains to max_steps (or an early stop), evaluating every checkpoint;
    returns the global step training ended at."""
    tf.estimator.train_and_evaluate(
        est, tf.estimator.TrainSpec(input_fn, max_steps=max_steps, hooks=list(hooks)),
        tf.estimator.EvalSpec(lambda: input_fn().take(1), steps=None, exporters=list(exporters),
                              start_delay_secs=0, throttle_secs=0))
    return est.get_variable_value("global_step")


def exported_steps(export_dir_base):
    """{export directory name: the global step it holds}, for every export."""
    if not os.path.isdir(export_dir_base):
        return {}
    return {name: round(float(tf.train.load_checkpoint(
        os.path.join(export_dir_base, name, "variables", "variables")).get_tensor("w")))
        for name in sorted(os.listdir(export_dir_base))}


def best_exporters_mx_rec_and_tf():
    """mx_rec's and TF's best exporters of the largest score, keeping 2."""
    from mx_rec.export.exporters import make_exporters
    return make_exporters(serving_input_receiver_fn, exporter_type="best",
                          best_exporter_metric="score", exports_to_keep=2) + [
        tf.estimator.BestExporter(
            "tf_best", serving_input_receiver_fn, exports_to_keep=2,
            compare_fn=lambda best_eval_result, current_eval_result:
                current_eval_result["score"] > best_eval_result["score"])]


if __name__ == "__main__":
    tf.compat.v1.disable_eager_execution()
    model_dir, max_steps, scores = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    train_and_evaluate(estimator(model_dir, scores), max_steps, best_exporters_mx_rec_and_tf())
