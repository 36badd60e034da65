"""validate_pipeline_config: every check of a pipeline config, all problems at once."""

from mx_rec.config import data, export, features, metrics, models, train
from mx_rec.config.errors import Problems


def validate_pipeline_config(config, source=""):
    """Raises a ConfigError listing every problem of `config` (each at its
    field's dotted path, saying what is allowed): missing required fields,
    values out of range, names that refer to nothing and impossible
    combinations. Name ranges must be expanded first (expand_config)."""
    problems = Problems()
    if not config.model_dir:
        problems.add("model_dir", "is required: the directory of checkpoints, summaries and "
                     "exports")
    for section in (data, train, metrics, features, models, export):
        problems.check(section.check, config)
    problems.raise_if_any(source)
