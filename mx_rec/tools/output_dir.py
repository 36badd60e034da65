"""Output directories that appear whole or not at all."""

import contextlib
import os
import shutil
import tempfile


def check_new(arg_name, path):
    """The absolute path, if it names nothing yet or an empty directory; a
    ValueError naming the argument otherwise."""
    path = os.path.abspath(path)
    if os.path.isdir(path) and os.listdir(path) or \
            os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{arg_name} '{path}' already exists: name a new directory or "
                         "remove it first")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ValueError(f"{arg_name} '{path}': its parent directory does not exist")
    return path


@contextlib.contextmanager
def staged(arg_name, path):
    """Yields a new empty directory beside `path` to write into; renamed to
    `path` when the block ends without an error, removed otherwise."""
    path = check_new(arg_name, path)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-",
                               dir=os.path.dirname(path))
    try:
        yield staging
        check_new(arg_name, path)
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
