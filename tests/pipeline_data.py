"""Small synthetic inputs and configs for the pipeline tests (test_pipeline*.py).

Columns: label (INT32), x1 and x2 (FLOAT), user (STRING ids "u<n>",
FINGERPRINT keys), item (STRING hex ids, HEX keys), tags (STRING "3|7|..",
a TagFeature), weight (FLOAT, the sample weight when a test sets it). The
label depends on user and item, so a model learns it.
"""

import os

import numpy as np
import tensorflow as tf

from mx_rec.config import load_pipeline_config

COLUMNS = ("label", "x1", "x2", "user", "item", "tags", "weight")

CONFIG = """
train_input_path: "{train}"
eval_input_path: "{eval}"
model_dir: "{model_dir}"
train_config {{
  optimizer_config {{
    adam_optimizer {{ learning_rate {{ constant_learning_rate {{ learning_rate: 0.01 }} }} }}
  }}
  num_steps: 20
  save_checkpoints_steps: 10
  log_step_count_steps: 5
  save_summary_steps: 5
}}
eval_config {{
  eval_interval_secs: 0
  metrics_set {{ auc {{}} }}
  metrics_set {{ logloss {{}} }}
}}
data_config {{
  input_type: CSVInput
  batch_size: 32
  shuffle: false
  input_fields {{ input_name: "label" input_type: INT32 }}
  input_fields {{ input_name: "x1" input_type: FLOAT }}
  input_fields {{ input_name: "x2" input_type: FLOAT default_val: "1.5" }}
  input_fields {{ input_name: "user" input_type: STRING }}
  input_fields {{ input_name: "item" input_type: STRING }}
  input_fields {{ input_name: "tags" input_type: STRING }}
  input_fields {{ input_name: "weight" input_type: FLOAT default_val: "1" }}
  label_fields: "label"
}}
model_config {{
  features {{ input_name: "x1" feature_type: RawFeature }}
  features {{ input_name: "x2" feature_type: RawFeature normalizer: LOG1P }}
  features {{ input_name: "user" table {{ dim: 8 device_vocabulary_size: 64 }} }}
  features {{ input_name: "item" string_to_key: HEX table {{ dim: 8 device_vocabulary_size: 64 }} }}
  features {{ input_name: "tags" feature_type: TagFeature table {{ dim: 8 device_vocabulary_size: 32 }} }}
  embedding {{ use_dynamic_expansion: true }}
  dlrm {{ bot_dnn {{ hidden_units: [16] }} top_dnn {{ hidden_units: [16] }} }}
}}
export_config {{ exporter_type: "final" }}
"""


def rows(n, seed):
    """n rows of COLUMNS' values (strings), label learnable from user and item."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        user, item = rng.randint(0, 40), rng.randint(0, 24)
        tags = "|".join(str(t) for t in rng.choice(16, rng.randint(0, 4), replace=False))
        label = int((user + item) % 3 == 0)
        out.append([str(label), f"{rng.rand():.4f}", f"{10 * rng.rand():.3f}", f"u{user}",
                    f"{item + 160:x}", tags, f"{0.5 + rng.rand():.3f}"])
    return out


def write_csv(path, n, seed, separator=","):
    with open(path, "w") as f:
        f.writelines(separator.join(row) + "\n" for row in rows(n, seed))
    return str(path)


def write_tfrecord(path, n, seed):
    """The same rows as tf.train.Examples (label and two task labels as int64)."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in rows(n, seed):
            label, x1, x2, user, item, tags, weight = row
            feature = {
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                "other": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[int(user[1:]) % 2])),
                "x1": tf.train.Feature(float_list=tf.train.FloatList(value=[float(x1)])),
                "x2": tf.train.Feature(float_list=tf.train.FloatList(value=[float(x2)])),
                "user": tf.train.Feature(bytes_list=tf.train.BytesList(value=[user.encode()])),
                "item": tf.train.Feature(bytes_list=tf.train.BytesList(value=[item.encode()])),
                "tags": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tags.encode()])),
                "weight": tf.train.Feature(float_list=tf.train.FloatList(value=[float(weight)])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    return str(path)


def config_file(tmp_path, train_rows=320, eval_rows=96, name="model"):
    """A config file over new train/eval CSVs in tmp_path; returns its path."""
    train = write_csv(tmp_path / "train.csv", train_rows, 1)
    evals = write_csv(tmp_path / "eval.csv", eval_rows, 2)
    path = tmp_path / "pipeline.config"
    path.write_text(CONFIG.format(train=train, eval=evals, model_dir=tmp_path / name))
    return str(path)


def load(tmp_path, edits=None, **kwargs):
    """The validated config of config_file(tmp_path, **kwargs) with `edits`."""
    if not os.path.exists(tmp_path / "pipeline.config") or kwargs:
        config_file(tmp_path, **kwargs)
    return load_pipeline_config(str(tmp_path / "pipeline.config"), edits)
