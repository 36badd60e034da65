"""From config messages to mx_rec's typed configs (dataclasses and keyword
arguments whose names are the messages' field names), with errors at paths."""

import dataclasses
import re

from mx_rec.config.errors import ConfigError, Problem

_LEADING_NAME = re.compile(r"[A-Za-z_]\w*")


def error_at(path, descriptor, error, renames=None):
    """ConfigError for `error` (a ValueError/TypeError from checking keyword
    arguments built from a `descriptor` message at `path`): placed at the
    field its message starts with, when that is one of the message's fields
    (`renames` maps keyword names back to field names)."""
    text = str(error)
    match = _LEADING_NAME.match(text)
    name = (renames or {}).get(match.group(0), match.group(0)) if match else ""
    if name in descriptor.fields_by_name:
        path = f"{path}.{name}"
    return ConfigError([Problem(path, text)])


def build(cls, message, path, **arguments):
    """cls(**fields set in `message`, **arguments): the dataclass's defaults
    fill the rest. A field without a default that is not set, or a value cls
    refuses, is a ConfigError at that field."""
    arguments = {**{field.name: value for field, value in message.ListFields()}, **arguments}
    missing = [field.name for field in dataclasses.fields(cls)
               if field.default is dataclasses.MISSING
               and field.default_factory is dataclasses.MISSING and field.name not in arguments]
    if missing:
        raise ConfigError([Problem(f"{path}.{name}", "is required (it has no default)")
                           for name in missing])
    try:
        return cls(**arguments)
    except (TypeError, ValueError) as error:
        raise error_at(path, message.DESCRIPTOR, error) from None
