"""One tower of a two-tower model: a SavedModel that turns rows of inputs into vectors."""

import os

import numpy as np
import tensorflow as tf


class Tower:
    """SavedModel `model_dir` loaded in a graph and session of its own; its
    vectors are signature output `output` (the only one when None)."""

    def __init__(self, arg_name, model_dir, output=None, tag_set=tf.saved_model.SERVING,
                 signature_def_key=tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY):
        if not os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
            raise ValueError(f"{arg_name} '{model_dir}' holds no SavedModel (no saved_model.pb)")
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph)
        with self._graph.as_default():
            meta_graph = tf.compat.v1.saved_model.load(self._session, tag_set.split(","),
                                                       model_dir)
        if signature_def_key not in meta_graph.signature_def:
            raise ValueError(f"{arg_name} '{model_dir}' has no signature '{signature_def_key}' "
                             f"(it has {sorted(meta_graph.signature_def)})")
        signature = meta_graph.signature_def[signature_def_key]
        outputs = sorted(signature.outputs)
        if output is None and len(outputs) != 1 or output is not None and output not in outputs:
            raise ValueError(f"{arg_name} '{model_dir}': name the output holding the vectors, "
                             f"one of {outputs}" + (f" (not '{output}')" if output else ""))
        self.output = output or outputs[0]
        info = signature.outputs[self.output]
        if info.tensor_shape.unknown_rank or len(info.tensor_shape.dim) != 2:
            raise ValueError(f"{arg_name} '{model_dir}': output '{self.output}' must be "
                             "[batch, dim] vectors")
        self.inputs = dict(signature.inputs)
        self._fetch = info.name
        # A fixed batch size of the export's placeholders (-1: any).
        self.batch_size = max([-1] + [i.tensor_shape.dim[0].size for i in self.inputs.values()
                                      if not i.tensor_shape.unknown_rank and i.tensor_shape.dim])

    def embed(self, inputs, batch_size=1024):
        """float32 [rows, dim] vectors of inputs {input name: array [rows, ...]}, run
        batch_size rows at a time (the model's own batch size if it has one; the
        last batch padded to it)."""
        rows = len(next(iter(inputs.values())))
        step = self.batch_size if self.batch_size > 0 else batch_size
        out = []
        for start in range(0, rows, step):
            index = np.minimum(np.arange(start, start + step), rows - 1)
            if self.batch_size <= 0:
                index = index[:rows - start]
            feed = {self.inputs[n].name: a[index] for n, a in inputs.items()}
            out.append(self._session.run(self._fetch, feed)[:rows - start])
        return np.concatenate(out).astype(np.float32)

    def close(self):
        self._session.close()
