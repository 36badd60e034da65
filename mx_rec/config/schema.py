"""What the schema says about a field, in words for error messages."""

import difflib

from google.protobuf.descriptor import FieldDescriptor

_INTEGER_RANGES = {
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}


def integer_range(field):
    """(lowest, highest) value of an integer field; None for other fields."""
    return _INTEGER_RANGES.get(field.type)


def enum_names(field):
    return [value.name for value in field.enum_type.values]


def describe(field):
    """What a value of `field` must be, e.g. "an integer in [0, 4294967295]"."""
    if field.message_type is not None:
        what = f"a {field.message_type.name} block (a JSON object of its fields)"
    elif field.enum_type is not None:
        what = f"one of {', '.join(enum_names(field))}"
    elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        what = "true or false"
    elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        what = "a string"
    elif integer_range(field):
        low, high = integer_range(field)
        what = f"an integer in [{low}, {high}]"
    else:
        what = "a number"
    return f"a list of {what}" if field.label == FieldDescriptor.LABEL_REPEATED else what


def unknown_field(name, descriptor):
    """The message for a field `name` that `descriptor` does not have."""
    names = [field.name for field in descriptor.fields]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"no field {name!r} in {descriptor.name}; {hint}its fields: {', '.join(names)}"
