"""What a model gives the heads: one output per task, plus named tensors."""

import dataclasses


@dataclasses.dataclass
class ModelOutputs:
    """logits: {task name: [batch] or [batch, num_class]} (single-task
    models: one entry, named ""). extra: tensors the model exports beside
    the task predictions (DSSM: user_emb, item_emb)."""

    logits: dict
    extra: dict = dataclasses.field(default_factory=dict)
