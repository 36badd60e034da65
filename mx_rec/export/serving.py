"""The serving context: while an export builds its graph, tables are frozen.

Inside `exporting(source, ...)`, create_table() makes no TensorFlow object and
sparse_lookup() reads the table's rows as the source (a TF checkpoint or a
session, see sources.py) holds them, through standard ops (FrozenTable),
whatever the table's mode, is_train or key pipeline. Every export path enters it: export_saved_model() and Estimator's
export_saved_model (through the hook in mx_rec.util.tf_internals).
"""

import contextlib
import os
import re
import threading
from typing import Dict, Optional

import tensorflow as tf

from mx_rec.export.frozen_table import FrozenTable
from mx_rec.export.options import ExportOptions
from mx_rec.export.sources import CheckpointSource
from mx_rec.util import tf_internals

_active = threading.local()


class ExportContext:
    """One export being built: where its tables come from and go to."""

    def __init__(self, source, options, assets_dir):
        self.source = source
        self.options = options
        # The frozen tables' files are written straight into the export's
        # assets/ (the SavedModel builder keeps files already there).
        self.assets_dir = assets_dir
        os.makedirs(assets_dir, exist_ok=True)
        self.frozen: Dict[str, FrozenTable] = {}
        self.graph: Optional[tf.Graph] = None

    def frozen_table(self, table):
        graph = tf.compat.v1.get_default_graph()
        if self.graph is None:
            self.graph = graph
        elif graph is not self.graph:
            raise RuntimeError("an mx_rec export builds one graph; its model function looked a "
                               "table up in another")
        frozen = self.frozen.get(table.name)
        if frozen is None:
            keys, embedding = self.source.rows(table)
            frozen = FrozenTable(table, keys, embedding, self.assets_dir, self.options.fp16)
            self.frozen[table.name] = frozen
        return frozen


def active():
    """The ExportContext being built in this thread, or None."""
    return getattr(_active, "context", None)


@contextlib.contextmanager
def exporting(source, export_dir, options=None):
    """Builds an export of `source`'s values (tables frozen) into export_dir
    (the directory a SavedModel builder writes) in this thread."""
    if active() is not None:
        raise RuntimeError("an mx_rec export is already being built in this thread")
    context = ExportContext(source, options or ExportOptions(), os.path.join(export_dir, "assets"))
    _active.context = context
    try:
        yield context
    finally:
        _active.context = None


def lookup(table, ids):
    """sparse_lookup in the serving context: ids -> rows, standard ops only."""
    return active().frozen_table(table).lookup(ids)


@contextlib.contextmanager
def estimator_options(options):
    """Options for the Estimator exports started in this thread inside the block."""
    _active.estimator_options = options
    try:
        yield
    finally:
        _active.estimator_options = None


def exporting_for_estimator(checkpoint_path, export_dir):
    """exporting() for one Estimator export (see mx_rec.util.tf_internals)."""
    return exporting(CheckpointSource(checkpoint_path), export_dir,
                     getattr(_active, "estimator_options", None))


_TRAINING_OP = re.compile(r"(Resource)?(Sparse)?Apply[A-Z]")


def check_graph(graph):
    """Refuses to write a SavedModel of a graph holding mx_rec table ops, and
    an mx_rec export whose graph trains (each request would change it)."""
    kinds = sorted({op.type for op in graph.get_operations() if op.type.startswith("Asc")})
    if kinds:
        raise ValueError(
            f"this graph holds mx_rec table ops ({', '.join(kinds)}): a SavedModel of it would "
            "not load without mx_rec, nor serve the trained rows. Export with "
            "mx_rec.export.export_saved_model(...) or Estimator.export_saved_model(...), which "
            "build a serving graph with every table frozen into standard TensorFlow ops")
    if active() is not None:
        training = sorted(op.name for op in graph.get_operations()
                          if _TRAINING_OP.match(op.type))
        if training:
            raise ValueError(
                f"the serving graph updates variables ({training[0]} ...): the model function "
                "of an export must build the inference graph only (no optimizer); every "
                "request would otherwise train the served model")


tf_internals.install_export_hooks(exporting_for_estimator, check_graph)
