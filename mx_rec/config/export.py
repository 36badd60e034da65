"""export_config -> mx_rec.export's ExportOptions and ExporterConfig, and its checks."""

from mx_rec.config import data, metrics
from mx_rec.config.convert import error_at
from mx_rec.config.errors import ConfigError, Problems
from mx_rec.export.exporter_config import ExporterConfig
from mx_rec.export.options import ExportOptions


def export_options(config, export_done_file="", clear_export=False):
    """The ExportOptions of `config` (the separator of a single string
    placeholder is data_config.separator). export_done_file and
    clear_export are the export command's options."""
    export = config.export_config
    try:
        return ExportOptions(
            batch_size=export.batch_size, multi_placeholder=export.multi_placeholder,
            placeholder_named_by_input=export.placeholder_named_by_input,
            separator=config.data_config.separator, asset_files=tuple(export.asset_files),
            fp16=export.fp16, export_done_file=export_done_file, clear_export=clear_export)
    except (TypeError, ValueError) as error:
        if str(error).startswith("separator"):
            raise ConfigError.at("data_config.separator", str(error)) from None
        raise error_at("export_config", export.DESCRIPTOR, error) from None


def exporter_config(config, eval_name=None):
    """The ExporterConfig of `config` (early_stop_params: its string, or
    None when unset); eval_name as ExporterConfig takes it."""
    export = config.export_config
    try:
        return ExporterConfig(
            exporter_type=export.exporter_type, best_exporter_metric=export.best_exporter_metric,
            metric_bigger=export.metric_bigger, exports_to_keep=export.exports_to_keep,
            enable_early_stop=export.enable_early_stop, max_check_steps=export.max_check_steps,
            early_stop_func=export.early_stop_func,
            early_stop_params=export.early_stop_params
            if export.HasField("early_stop_params") else None,
            eval_name=eval_name)
    except (TypeError, ValueError) as error:
        raise error_at("export_config", export.DESCRIPTOR, error) from None


def check(config):
    """ConfigError listing what is wrong in export_config."""
    problems = Problems()
    export = config.export_config
    problems.check(exporter_config, config)
    problems.check(export_options, config)
    watched = export.exporter_type == "best" or (export.enable_early_stop
                                                  and not export.early_stop_func)
    names = metrics.metric_names(config)
    if watched and export.best_exporter_metric not in names:
        problems.add("export_config.best_exporter_metric",
                     f"{export.best_exporter_metric!r} is not a metric this config evaluates "
                     f"(add it to eval_config.metrics_set); they are: {', '.join(names)}")
    for i, name in enumerate(export.multi_value_fields.input_name):
        problems.check(data.check_input_name, config, name,
                       f"export_config.multi_value_fields.input_name[{i}]")
    problems.raise_if_any()
