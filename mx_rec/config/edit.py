"""edit_config: set fields of a pipeline config by dotted path, as EasyRec's
--edit_config_json does.

A path is field names joined by "."; a list field takes a selector in
brackets before the next ".":
  data_config.input_fields[0].input_name   entry 0 ([-1]: the last)
  model_config.features[:].table.dim       every entry
  model_config.features[1:3].table.dim     entries 1 and 2 (a Python slice)
  model_config.features[input_name=C1].table.dim
                                           every entry whose field (a dotted
                                           path inside the entry) compares so
                                           with the value: = != < <= > >=
Values are JSON values: numbers, strings (numbers in strings are read as
numbers for number fields), true/false, an object for a message (replacing
it: the fields it does not name are cleared), a list for a whole list field,
null to clear a field or list.
"""

import operator
import re

from google.protobuf.descriptor import FieldDescriptor

from mx_rec.config import schema
from mx_rec.config.errors import ConfigError

# A selector may hold one level of brackets: features[input_name=C[1-26]].
_SEGMENT = re.compile(r"([A-Za-z_]\w*)(?:\[((?:[^\[\]]|\[[^\]]*\])*)\])?")
_INDEX = re.compile(r"-?\d+")
_SLICE = re.compile(r"(-?\d*):(-?\d*)")
_CONDITION = re.compile(r"([A-Za-z_][\w.]*)\s*(!=|<=|>=|=|<|>)\s*(.*)")
_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def edit_config(config, edits):
    """Applies {path: value} `edits` (in order) to `config` in place and
    returns it; a bad path or value is a ConfigError naming the path."""
    if not isinstance(edits, dict):
        raise ConfigError.at("", f"edits must be a JSON object of path: value, got {edits!r}")
    for path, value in edits.items():
        segments = _split(path)
        for message, field, selector, where in _targets(config, segments, path):
            _assign(message, field, selector, value, where)
    return config


def _split(path):
    """[(field name, selector text or None)] of a path."""
    segments, position = [], 0
    while True:
        match = _SEGMENT.match(path, position) if isinstance(path, str) else None
        if match is None:
            raise ConfigError.at(str(path), "not a field path: names joined by '.', with "
                                 "[i], [:], [a:b] or [field=value] after a list field")
        segments.append((match.group(1), match.group(2)))
        position = match.end()
        if position == len(path):
            return segments
        if path[position] != ".":
            raise ConfigError.at(path, f"unexpected {path[position:]!r} after {path[:position]}")
        position += 1


def _targets(root, segments, path):
    """(message, field, selector, dotted path) of each field `path` reaches."""
    messages = [(root, "")]
    for depth, (name, selector) in enumerate(segments):
        last = depth == len(segments) - 1
        reached = []
        for message, where in messages:
            field = message.DESCRIPTOR.fields_by_name.get(name)
            here = f"{where}.{name}" if where else name
            if field is None:
                raise ConfigError.at(here, schema.unknown_field(name, message.DESCRIPTOR))
            repeated = field.label == FieldDescriptor.LABEL_REPEATED
            if selector is not None and not repeated:
                raise ConfigError.at(here, "is not a list: it takes no [...] selector")
            if last:
                reached.append((message, field, selector, here))
            elif field.message_type is None:
                raise ConfigError.at(here, f"is {schema.describe(field)}: it has no fields")
            elif not repeated:
                reached.append((getattr(message, name), here))
            elif selector is None:
                raise ConfigError.at(here, "is a list: select entries with [i], [:], [a:b] or "
                                     "[field=value]")
            else:
                entries = getattr(message, name)
                reached.extend((entries[i], f"{here}[{i}]")
                               for i in _select(entries, field, selector, here))
        messages = reached
    return messages


def _select(entries, field, selector, where):
    """The indices of `entries` (a list field) that `selector` picks."""
    size = len(entries)
    if _INDEX.fullmatch(selector):
        index = int(selector)
        if not -size <= index < size:
            raise ConfigError.at(f"{where}[{selector}]", f"no such entry: the list has {size}")
        return [index % size]
    match = _SLICE.fullmatch(selector)
    if match:
        start, stop = (int(bound) if bound else None for bound in match.groups())
        return list(range(size))[start:stop]
    match = _CONDITION.fullmatch(selector)
    if match is None or field.message_type is None:
        raise ConfigError.at(f"{where}[{selector}]", "a selector is [i], [:], [a:b], or "
                             "[field=value] (also != < <= > >=) on a list of messages")
    name, op, text = match.groups()
    picked = [i for i, entry in enumerate(entries)
              if _COMPARE[op](*_compared(entry, name, text.strip("'\""), where))]
    if not picked:
        raise ConfigError.at(f"{where}[{selector}]", "no entry matches")
    return picked


def _compared(entry, name, text, where):
    """(the entry's value of dotted field `name`, `text` read as that field's type)."""
    value, parts = entry, name.split(".")
    for depth, part in enumerate(parts):
        field = value.DESCRIPTOR.fields_by_name.get(part)
        if field is None:
            raise ConfigError.at(f"{where}[{name}]", schema.unknown_field(part, value.DESCRIPTOR))
        single = field.label != FieldDescriptor.LABEL_REPEATED
        if not single or (field.message_type is not None) == (depth == len(parts) - 1):
            raise ConfigError.at(f"{where}[{name}]", "a selector compares one number, string or "
                                 "enum field of the entry")
        value = getattr(value, part)
    return value, _scalar(field, text, f"{where}[{name}]")


def _assign(message, field, selector, value, where):
    """Sets `field` of `message` (the entries `selector` picks, if given) to `value`."""
    name = field.name
    if field.label != FieldDescriptor.LABEL_REPEATED:
        if value is None:
            message.ClearField(name)
        elif field.message_type is not None:
            _fill(getattr(message, name), value, where)
        else:
            setattr(message, name, _scalar(field, value, where))
        return
    if selector is None:
        if value is not None and not isinstance(value, list):
            raise ConfigError.at(where, f"is a list: give a JSON list, or select entries with "
                                 f"[...]; got {value!r}")
        message.ClearField(name)
        entries = getattr(message, name)
        for i, item in enumerate(value or []):
            if field.message_type is not None:
                _fill(entries.add(), item, f"{where}[{i}]")
            else:
                entries.append(_scalar(field, item, f"{where}[{i}]"))
        return
    entries = getattr(message, name)
    for i in _select(entries, field, selector, where):
        if field.message_type is not None:
            _fill(entries[i], value, f"{where}[{i}]")
        else:
            entries[i] = _scalar(field, value, f"{where}[{i}]")


def _fill(message, value, where):
    """Replaces `message` by the JSON object `value` (field name: value)."""
    if not isinstance(value, dict):
        raise ConfigError.at(where, f"is a {message.DESCRIPTOR.name} block: give a JSON object "
                             f"of its fields, got {value!r}")
    message.Clear()
    message.SetInParent()  # an empty object still selects a oneof member
    for name, item in value.items():
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            raise ConfigError.at(f"{where}.{name}", schema.unknown_field(name, message.DESCRIPTOR))
        _assign(message, field, None, item, f"{where}.{name}")


def _scalar(field, value, where):
    """`value` as a value of the scalar `field`; ConfigError if it is not one."""
    try:
        return _convert(field, value)
    except (TypeError, ValueError):
        raise ConfigError.at(where, f"takes {schema.describe(field)}, got "
                             f"{type(value).__name__} {value!r}") from None


def _convert(field, value):
    if isinstance(value, (dict, list)) or value is None:
        raise TypeError(value)
    if field.enum_type is not None:
        if value not in schema.enum_names(field):
            raise ValueError(value)
        return field.enum_type.values_by_name[value].number
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        if isinstance(value, bool):
            raise TypeError(value)
        return value if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        raise TypeError(value)
    if schema.integer_range(field):
        number = int(value) if isinstance(value, (int, str)) else None
        low, high = schema.integer_range(field)
        if number is None or not low <= number <= high:
            raise ValueError(value)
        return number
    return float(value)
