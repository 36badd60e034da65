"""Which field a position in a text-format config belongs to, so that a parse
error can name the field's dotted path. Uses protobuf's own tokenizer; the
config itself is parsed by protobuf's text_format, never here."""

import re
from typing import NamedTuple, Optional

from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

_NAME = re.compile(r"[A-Za-z_]\w*")


class Spot(NamedTuple):
    """The field at a position: `path` is its dotted path, `name` its name,
    `parent` the message type holding it (None inside an unknown field) and
    `field` its descriptor (None when `parent` has no such field)."""

    path: str
    name: str
    parent: Optional[Descriptor]
    field: Optional[FieldDescriptor]


class _Block:
    """An open { ... } block: its message type, path and the field names seen."""

    def __init__(self, descriptor, path):
        self.descriptor = descriptor
        self.path = path
        self.name = ""  # the last field name seen in the block
        self.repeats = {}  # field name -> blocks opened for it so far

    def field(self):
        return self.descriptor.fields_by_name.get(self.name) if self.descriptor else None

    def child(self):
        """The block a "{" opens for the last field name."""
        field = self.field()
        segment = self.name
        if field is not None and field.label == FieldDescriptor.LABEL_REPEATED:
            index = self.repeats.get(self.name, 0)
            self.repeats[self.name] = index + 1
            segment = f"{self.name}[{index}]"
        return _Block(field.message_type if field is not None else None,
                      _join(self.path, segment))


def _join(path, name):
    return f"{path}.{name}" if path else name


def _tokens(text):
    """(token, (line, column)) of each token, 1-based like ParseError's, until
    the end or the first token protobuf's tokenizer cannot read."""
    tokenizer = text_format.Tokenizer(text.splitlines())
    while not tokenizer.AtEnd():
        here = tokenizer.ParseError("")
        yield tokenizer.token, (here.GetLine(), here.GetColumn())
        try:
            tokenizer.NextToken()
        except text_format.ParseError:
            return


def field_at(text, line, column, descriptor):
    """The Spot of the last field name at or before (line, column) of `text`,
    a text-format message of type `descriptor`."""
    blocks = [_Block(descriptor, "")]
    spot = Spot("", "", None, None)
    tokens = list(_tokens(text))
    for i, (token, position) in enumerate(tokens):
        if position > (line, column):
            break
        following = tokens[i + 1][0] if i + 1 < len(tokens) else ""
        block = blocks[-1]
        if _NAME.fullmatch(token) and following in (":", "{", "<"):
            block.name = token
            spot = Spot(_join(block.path, token), token, block.descriptor, block.field())
        elif token in ("{", "<"):
            blocks.append(block.child())
        elif token in ("}", ">") and len(blocks) > 1:
            blocks.pop()
    return spot
