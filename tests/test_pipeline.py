"""The pipeline's parts on their own: keys, inputs, GAUC, output columns,
fine-tune var maps, dense AdamW and gradient clipping, command checks."""

import itertools
import re

import numpy as np
import pytest
import tensorflow as tf

import pipeline_data
from mx_rec.config import ConfigError
from mx_rec.config.protos.feature_pb2 import Feature
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import gradient_descent, minimize
from mx_rec.optimizers.adam_w import AdamWOptimizer
from mx_rec.pipeline import gauc, keys
from mx_rec.pipeline.commands import cli, train_eval
from mx_rec.pipeline.estimator import read_var_map
from mx_rec.pipeline.inputs import input_fn
from mx_rec.pipeline.output_columns import Column, cell, parse_output_cols


def run(tensors):
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.local_variables_initializer())
        return sess.run(tensors)


def first_batch(config, mode="eval", **kwargs):
    dataset = input_fn(config, mode, **kwargs)()
    return run(tf.compat.v1.data.make_one_shot_iterator(dataset).get_next())


def test_hex_keys_read_hexadecimal_and_empty_is_minus_one():
    strings = tf.constant(["0", "ff", "FF", "05db9164", "", "fffffffffffffff"])
    got = run(keys.hex_keys(strings, "C1"))
    assert got.tolist() == [0, 255, 255, 0x05db9164, keys.MISSING_HEX_KEY, 16**15 - 1]


@pytest.mark.parametrize("text, message", [("12g4", "hexadecimal digits only"),
                                           ("1" * 16, "at most 15 digits")])
def test_bad_hex_fails_naming_the_feature(text, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"feature C1: .*{message}"):
        run(keys.hex_keys(tf.constant([text]), "C1"))


def test_fingerprint_keys_are_stable_and_non_negative():
    strings = tf.constant(["a", "b", "a", ""])
    got = run(keys.string_keys(strings, Feature.FINGERPRINT, "f"))
    assert got[0] == got[2] != got[1] and (got >= 0).all()
    assert got.tolist() == run(tf.strings.to_hash_bucket_fast(strings, 2**63 - 1)).tolist()


def test_tag_keys_drop_empty_pieces():
    feature = Feature(separator="|", string_to_key=Feature.HEX)
    got = run(keys.tag_keys(tf.constant(["a|b", "", "c||", "10"]), feature, "tags"))
    assert got.to_list() == [[10, 11], [], [12], [16]]


def test_csv_columns_defaults_and_keys(tmp_path):
    data = tmp_path / "short.csv"
    data.write_text("1,0.5,,u3,a0,1|2,2\n\n0,0.25\r\n")
    config = pipeline_data.load(tmp_path, {"eval_input_path": str(data)})
    features, labels = first_batch(config)
    assert labels["label"].tolist() == [1, 0]
    assert features["x1"].tolist() == [0.5, 0.25]
    assert features["x2"].tolist() == [1.5, 1.5]  # default_val
    assert features["weight"].tolist() == [2.0, 1.0]
    assert features["item"].tolist() == [0xa0, keys.MISSING_HEX_KEY]
    assert [len(tags) for tags in features["tags"].to_list()] == [2, 0]
    assert features["user"].dtype == np.int64


def test_a_line_with_too_many_columns_fails_naming_the_count(tmp_path):
    data = tmp_path / "long.csv"
    data.write_text("1,0.5,1,u3,a0,1|2,2,extra\n")
    config = pipeline_data.load(tmp_path, {"eval_input_path": str(data)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="more columns than the 7"):
        first_batch(config)


def test_input_files_must_exist(tmp_path):
    config = pipeline_data.load(tmp_path, {"eval_input_path": str(tmp_path / "no*.csv")})
    with pytest.raises(ConfigError, match="eval_input_path: .*matches no file"):
        input_fn(config, "eval")


def test_tfrecord_input_reads_the_same_rows(tmp_path):
    records = pipeline_data.write_tfrecord(tmp_path / "data.tfrecord", 8, 5)
    csv = pipeline_data.write_csv(tmp_path / "data.csv", 8, 5)
    config = pipeline_data.load(tmp_path, {"eval_input_path": csv})
    from_csv = first_batch(config)
    config = pipeline_data.load(tmp_path, {"eval_input_path": records,
                                           "data_config.input_type": "TFRecordInput"})
    from_records = first_batch(config)
    for name in ("x1", "x2", "user", "item", "weight"):
        np.testing.assert_array_equal(from_csv[0][name], from_records[0][name])
    assert from_csv[0]["tags"].to_list() == from_records[0]["tags"].to_list()
    np.testing.assert_array_equal(from_csv[1]["label"], from_records[1]["label"])


def test_reserved_columns_are_passed_on_raw(tmp_path):
    config = pipeline_data.load(tmp_path)
    features, _ = first_batch(config, "predict", reserved_cols=("item", "label"))
    assert features["reserved/item"][0].decode() == pipeline_data.rows(1, 2)[0][4]
    with pytest.raises(ValueError, match="reserved_cols: 'nope' is not"):
        input_fn(config, "predict", reserved_cols=("nope",))


def brute_force_gauc(users, labels, probs, reduction):
    total = weights = 0.0
    for user in set(users):
        idx = [i for i, u in enumerate(users) if u == user]
        pos = [probs[i] for i in idx if labels[i]]
        neg = [probs[i] for i in idx if not labels[i]]
        if not pos or not neg:
            continue
        auc = np.mean([1.0 if p > n else 0.5 if p == n else 0.0
                       for p, n in itertools.product(pos, neg)])
        weight = {"mean": 1, "mean_by_sample_num": len(idx), "mean_by_positive_num": len(pos)}
        total += weight[reduction] * auc
        weights += weight[reduction]
    return total / weights


@pytest.mark.parametrize("reduction", ["mean", "mean_by_sample_num", "mean_by_positive_num"])
def test_gauc_equals_pairwise_auc_per_user(reduction):
    rng = np.random.RandomState(0)
    users = rng.randint(0, 6, 200)
    labels = rng.rand(200) < 0.4
    probs = np.round(rng.rand(200), 1)  # ties
    assert gauc.gauc_numpy(users, labels, probs, reduction) == pytest.approx(
        brute_force_gauc(list(users), list(labels), list(probs), reduction))


def test_gauc_metric_streams_over_batches():
    rng = np.random.RandomState(1)
    users, labels, probs = rng.randint(0, 5, 64), rng.rand(64) < 0.5, rng.rand(64)
    u, y, p = (tf.compat.v1.placeholder(dtype, [None]) for dtype in (tf.int64, tf.float32,
                                                                     tf.float32))
    value, update = gauc.gauc(u, y, p, "mean_by_sample_num")
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.local_variables_initializer())
        for part in np.array_split(np.arange(64), 4):
            sess.run(update, {u: users[part], y: labels[part], p: probs[part]})
        got = sess.run(value)
    assert got == pytest.approx(gauc.gauc_numpy(users, labels, probs, "mean_by_sample_num"))


def test_output_columns():
    outputs = ["logits", "probs", "user_emb"]
    assert parse_output_cols("probs float, logits double", outputs) == [
        Column("probs", "float"), Column("logits", "double")]
    assert cell(np.float32(0.1), Column("probs", "float")) == "0.1"
    assert cell(np.float32(0.1), Column("probs", "double")) == repr(float(np.float32(0.1)))
    assert cell(np.array([1.5, 2.0], np.float32), Column("user_emb", "string")) == "1.5,2.0"
    assert cell(np.array(b"x"), Column("reserved/c", "string")) == "x"
    with pytest.raises(ValueError, match="output_cols: 'probs real' is not 'name type'"):
        parse_output_cols("probs real", outputs)
    with pytest.raises(ValueError, match="output_cols: 'y' is not an output"):
        parse_output_cols("y float", outputs)
    with pytest.raises(ValueError, match="'user_emb' is a vector of 2 values: give it type "
                                         "string"):
        cell(np.zeros(2, np.float32), Column("user_emb", "float"))


def test_var_map_file(tmp_path):
    good = tmp_path / "map.txt"
    good.write_text("dense/kernel:0\told/kernel\n\nuser\tuser_old\n")
    assert read_var_map(str(good)) == {"dense/kernel": "old/kernel", "user": "user_old"}
    bad = tmp_path / "bad.txt"
    bad.write_text("dense/kernel old/kernel\n")
    with pytest.raises(ConfigError, match="fine_tune_ckpt_var_map: .*line 1: 'dense/kernel "
                                          "old/kernel' is not 'name_in_model<TAB>"):
        read_var_map(str(bad))


def test_dense_adam_w_is_adam_after_decoupled_decay():
    value = np.array([1.0, -2.0, 3.0], np.float32)
    var = tf.compat.v1.get_variable("w", initializer=value)
    loss = tf.reduce_sum(tf.square(var))
    step = AdamWOptimizer(weight_decay=0.1, learning_rate=0.01).minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(3):
            sess.run(step)
        got = sess.run(var)
    w, m, v = value.astype(np.float64), 0.0, 0.0
    for t in range(1, 4):
        grad = 2 * w
        w = w - 0.1 * w
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
        w = w - 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(got, w, rtol=1e-5)


def test_dense_adam_w_decays_only_the_rows_a_sparse_gradient_touches():
    var = tf.compat.v1.get_variable("e", initializer=np.ones([4, 2], np.float32))
    loss = tf.reduce_sum(tf.nn.embedding_lookup(var, [1, 1, 3]))
    step = AdamWOptimizer(weight_decay=0.5, learning_rate=1e-9).minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(step)
        got = sess.run(var)
    np.testing.assert_allclose(got[:, 0], [1.0, 0.5, 1.0, 0.5], rtol=1e-6)


def test_clip_norm_scales_dense_and_row_gradients_together(mx):
    table = create_table(tf.int64, 2, "t", tf.compat.v1.constant_initializer(1.0),
                         device_vocabulary_size=8)
    rows = sparse_lookup(table, tf.constant([3, 3], tf.int64))
    weight = tf.compat.v1.get_variable("w", initializer=np.float32(2.0))
    loss = tf.reduce_sum(rows) * weight  # d/dw = 4, d/drow3 = [4, 4] (two lookups of 2)
    step = minimize(loss, tf.compat.v1.train.GradientDescentOptimizer(1.0),
                    gradient_descent.create_hash_optimizer(1.0), clip_norm=0.5)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(step)
        w, row = sess.run(weight), table.read_rows([3], sess)[0]
    scale = 0.5 / np.sqrt(16 + 16 + 16)
    np.testing.assert_allclose([w, *row], [2 - 4 * scale, 1 - 4 * scale, 1 - 4 * scale],
                               rtol=1e-6)


def test_training_needs_an_end(tmp_path):
    config = pipeline_data.load(tmp_path, {"train_config.num_steps": 0})
    with pytest.raises(ConfigError, match="train_config.num_steps: is 0 and so is "
                                          "data_config.num_epochs"):
        train_eval.train_and_evaluate(config)


def test_a_model_dir_with_checkpoints_needs_continue_train(tmp_path):
    config = pipeline_data.load(tmp_path)
    tf.compat.v1.get_variable("v", [1])
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().save(sess, f"{config.model_dir}/model.ckpt", global_step=3)
    with pytest.raises(cli.UsageError, match="holds checkpoints .*model.ckpt-3.*--continue_"
                                             "train"):
        train_eval.train_and_evaluate(config)


def test_bad_checkpoint_path_names_the_option(tmp_path):
    with pytest.raises(cli.UsageError, match="--checkpoint_path: .*neither a checkpoint"):
        cli.checkpoint(str(tmp_path / "nothing"), str(tmp_path))
    with pytest.raises(cli.UsageError, match="model_dir .*holds no TF checkpoint"):
        cli.checkpoint(None, str(tmp_path))


def test_losses_may_read_different_predictions():
    from mx_rec.losses import Loss, build_losses
    logits = tf.constant([0.5, -1.0])
    labels = tf.constant([1.0, 0.0])
    built = build_losses([Loss("CLASSIFICATION"), Loss("CROSS_ENTROPY_LOSS")], labels,
                         lambda kind: tf.sigmoid(logits) if kind == "CROSS_ENTROPY_LOSS"
                         else logits)
    values = run(built.terms)
    assert values["classification"] == pytest.approx(values["cross_entropy_loss"], rel=1e-5)




def test_serving_inputs_are_the_fields_the_model_reads(tmp_path):
    from mx_rec.pipeline.fields import serving_features
    features = serving_features(pipeline_data.load(tmp_path))
    assert {name: spec.dtype for name, spec in features.items()} == {
        "x1": tf.float32, "x2": tf.float32, "user": tf.string, "item": tf.string,
        "tags": tf.string}
    config = pipeline_data.load(tmp_path, {"export_config.multi_value_fields.input_name":
                                           ["tags"]})
    with pytest.raises(ConfigError, match="export_config.multi_value_fields: is not supported"):
        serving_features(config)


def test_run_config_and_warm_start_settings(tmp_path):
    from mx_rec.pipeline.estimator import run_config, warm_start_settings
    config = pipeline_data.load(tmp_path, {"train_config.save_checkpoints_secs": 30,
                                           "train_config.save_checkpoints_steps": None,
                                           "train_config.keep_checkpoint_max": 2})
    run = run_config(config)
    assert (run.save_checkpoints_secs, run.save_checkpoints_steps, run.keep_checkpoint_max,
            run.log_step_count_steps) == (30, None, 2, None)
    train = config.train_config
    train.fine_tune_checkpoint = "ckpt"
    assert warm_start_settings(train).vars_to_warm_start == ".*"
    var_map = tmp_path / "map.txt"
    var_map.write_text("a/kernel\told/kernel\nuser\tuser\n")
    train.fine_tune_ckpt_var_map = str(var_map)
    settings = warm_start_settings(train)
    assert settings.var_name_to_prev_var_name == {"a/kernel": "old/kernel", "user": "user"}
    assert [bool(re.match(p, "a/kernel:0")) for p in settings.vars_to_warm_start] \
        == [True, False]
    assert not any(re.match(p, "a/kernel/Adam:0")
                   for p in settings.vars_to_warm_start)
