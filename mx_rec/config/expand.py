"""Name ranges: "C[1-26]" stands for C1, C2, ..., C26 (EasyRec's
auto_expand_input_fields), in data_config.input_fields (when
auto_expand_input_fields is on) and in model_config.features' input_name."""

import re

from mx_rec.config.errors import ConfigError

_RANGE = re.compile(r"(.*)\[(\d+)-(\d+)\]")


def expand_name(name, path):
    """The names `name` stands for: itself, or one per number of its range."""
    match = _RANGE.fullmatch(name)
    if match is None:
        return [name]
    prefix, first, last = match.group(1), int(match.group(2)), int(match.group(3))
    if first > last:
        raise ConfigError.at(path, f"the range of {name!r} is empty: write [low-high] with "
                             "low <= high")
    return [f"{prefix}{number}" for number in range(first, last + 1)]


def expand_config(config):
    """Replaces every ranged input field and feature of `config` by the
    entries it stands for (each a copy with one name). Returns
    {path of an entry now: path of the entry it came from}, e.g.
    {"model_config.features[13]": "model_config.features[1]", ...}."""
    origins = {}
    data = config.data_config
    if data.auto_expand_input_fields:
        origins.update(_expand(data.input_fields, "data_config.input_fields", "input_name"))
    origins.update(_expand(config.model_config.features, "model_config.features", "input_name",
                           clear="feature_name"))
    return origins


def _expand(entries, path, name_field, clear=None):
    """Expands the list of messages `entries` on their `name_field` (an
    entry with a range must not set `clear`: its copies are named after the
    range); returns {new entry path: original entry path}."""
    expanded, origins = [], {}
    for i, entry in enumerate(entries):
        names = expand_name(getattr(entry, name_field), f"{path}[{i}].{name_field}")
        if len(names) > 1 and clear and entry.HasField(clear):
            raise ConfigError.at(f"{path}[{i}].{clear}", f"must be unset when {name_field} is a "
                                 "range: each feature of the range is named after its field")
        for name in names:
            copy = type(entry)()
            copy.CopyFrom(entry)
            setattr(copy, name_field, name)
            origins[f"{path}[{len(expanded)}]"] = f"{path}[{i}]"
            expanded.append(copy)
    del entries[:]
    entries.extend(expanded)
    return origins
