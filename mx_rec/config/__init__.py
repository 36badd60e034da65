"""The pipeline configuration: EasyRec's text-format config files (train,
eval, export, data and loss blocks, with EasyRec's field names) plus
mx_rec's own model_config, read into protobuf messages (schema:
mx_rec/config/protos/*.proto, compiled at build time).

  config = load_pipeline_config("examples/configs/dlrm_criteo.config",
                                {"train_config.num_steps": 100})
  config.train_config.num_steps                      # 100

Reading and editing: load_pipeline_config (parse + edit + expand + validate),
parse_pipeline_config, edit_config, expand_config, validate_pipeline_config,
save_pipeline_config; command-line options: add_pipeline_arguments and
pipeline_config_from_args. Every problem is a ConfigError (a ValueError)
naming the field's dotted path.

Into mx_rec's typed configs: optimizer_settings (learning rates and
optimizer arguments), losses, export_options / exporter_config,
table_arguments (create_table) / feature_specs (FeatureSpec), metric_names.
"""

from mx_rec.config.cli import add_pipeline_arguments, pipeline_config_from_args
from mx_rec.config.edit import edit_config
from mx_rec.config.errors import ConfigError, Problem
from mx_rec.config.expand import expand_config
from mx_rec.config.export import export_options, exporter_config
from mx_rec.config.features import feature_specs, table_arguments
from mx_rec.config.losses import losses
from mx_rec.config.metrics import metric_names
from mx_rec.config.optimizer import OptimizerSetting, optimizer_settings
from mx_rec.config.pipeline import load_pipeline_config
from mx_rec.config.protos.pipeline_pb2 import PipelineConfig
from mx_rec.config.text import (parse_pipeline_config, pipeline_config_text,
                                read_pipeline_config, save_pipeline_config)
from mx_rec.config.validate import validate_pipeline_config

__all__ = ["ConfigError", "OptimizerSetting", "PipelineConfig", "Problem",
           "add_pipeline_arguments", "edit_config", "expand_config", "export_options",
           "exporter_config", "feature_specs", "load_pipeline_config", "losses", "metric_names",
           "optimizer_settings", "parse_pipeline_config", "pipeline_config_from_args",
           "pipeline_config_text", "read_pipeline_config", "save_pipeline_config",
           "table_arguments", "validate_pipeline_config"]
