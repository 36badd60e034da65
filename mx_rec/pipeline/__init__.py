"""The config-driven pipeline: a pipeline config (mx_rec.config) -> an
Estimator that trains, evaluates, exports and predicts with mx_rec tables.

  inputs.py      CSV / TFRecord files -> batches (features, labels)
  fields.py      data_config's fields as TF dtypes; the export's inputs
  keys.py        ids -> table keys (FINGERPRINT, HEX; tag features)
  embedding.py   the tables and lookups of model_config.features
  models/        dlrm, deepfm, mmoe, dssm
  heads.py       tasks: labels, losses, predictions
  metrics.py     eval_config.metrics_set (gauc.py: GAUC)
  training.py    optimizers, learning rates, clipping: the train op
  progress.py    the progress line
  model_fn.py    the Estimator model_fn
  estimator.py   init(), RunConfig, fine-tuning
  output_columns.py  predict's output columns
  commands/      train_eval, evaluate, export, predict (python -m mx_rec.<command>)
"""
