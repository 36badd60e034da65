"""Reading and writing pipeline configs in protobuf text format."""

import os
import re

from google.protobuf import text_format

from mx_rec.config import location, schema
from mx_rec.config.errors import ConfigError, Problem
from mx_rec.config.protos.pipeline_pb2 import PipelineConfig

_POSITION = re.compile(r"^\d+:\d+ : ")


def parse_pipeline_config(text, source="<string>"):
    """The PipelineConfig in `text`; a syntax error, unknown field, wrong
    value type or repeated field is a ConfigError naming the field's dotted
    path, line and column. Nothing is checked beyond the syntax: see
    mx_rec.config.validate_pipeline_config."""
    config = PipelineConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ConfigError([_problem(error, text)], source) from None
    return config


def read_pipeline_config(path):
    """parse_pipeline_config of the file at `path`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise ConfigError([Problem("", f"cannot read it: {error.strerror}")], path) from None
    return parse_pipeline_config(text, path)


def pipeline_config_text(config):
    """`config` in text format (parse_pipeline_config reads it back equal)."""
    return text_format.MessageToString(config)


def save_pipeline_config(config, path):
    """Writes `config` in text format to `path`, creating its directory."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(pipeline_config_text(config))


def _problem(error, text):
    """The Problem of a text_format.ParseError: protobuf's reason, a hint
    from the schema, and where."""
    line, column = error.GetLine(), error.GetColumn()
    reason = _POSITION.sub("", str(error))
    lines = text.splitlines()
    quoted = f"'{lines[line - 1]}': " if 0 < line <= len(lines) else ""
    if quoted and reason.startswith(quoted):
        reason = reason[len(quoted):]
    spot = location.field_at(text, line, column, PipelineConfig.DESCRIPTOR)
    if spot.parent is not None and spot.field is None:
        reason = schema.unknown_field(spot.name, spot.parent)
    elif spot.field is not None and spot.field.message_type is None:
        reason = f"{reason.rstrip('.')}; {spot.name} takes {schema.describe(spot.field)}"
    return Problem(spot.path, f"{reason} (line {line}, column {column})")
