"""load_pipeline_config: a config file, edited, expanded and validated."""

import re

from mx_rec.config.edit import edit_config
from mx_rec.config.errors import ConfigError, Problem
from mx_rec.config.expand import expand_config
from mx_rec.config.text import read_pipeline_config
from mx_rec.config.validate import validate_pipeline_config


def load_pipeline_config(path, edits=None):
    """The PipelineConfig in the text-format file `path`, ready to use:
    `edits` ({dotted path: value}, see edit_config; list indices count the
    entries as the file writes them) applied, name ranges expanded
    (expand_config), and validated. Any problem is a ConfigError naming the
    file and each field's dotted path, with list indices as the file counts
    them (a problem of every feature of a range is listed once)."""
    config, origins = read_pipeline_config(path), {}
    try:
        edit_config(config, edits or {})
        origins = expand_config(config)
        validate_pipeline_config(config)
    except ConfigError as error:
        raise ConfigError(_as_written(error.problems, origins), path) from None
    return config


_ENTRY = re.compile(r"[\w.]+\[\d+\]")


def _as_written(problems, origins):
    """`problems` with the paths of expanded entries turned into the paths of
    the entries they came from, each distinct problem once."""
    written = []
    for problem in problems:
        entry = _ENTRY.match(problem.path)
        path = problem.path
        if entry and entry.group(0) in origins:
            path = origins[entry.group(0)] + path[entry.end():]
        if Problem(path, problem.message) not in written:
            written.append(Problem(path, problem.message))
    return written
