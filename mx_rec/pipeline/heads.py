"""Tasks: each task's label, losses and predictions.

A single-task model has one task named "" (model_config's loss_type or
losses and num_class, data_config's one label); MMoE has one per task tower.
A task whose first loss is L2_LOSS is a regression: its prediction is "y",
the model's output. Any other task is a classification: "logits" and
"probs" (sigmoid; softmax over num_class > 1, with "y" the most probable
class). A task's prediction keys get "_<tower_name>" in multi-task models.
"""

import dataclasses

import tensorflow as tf

from mx_rec import losses as mx_losses
from mx_rec.config.losses import losses as config_losses


@dataclasses.dataclass(frozen=True)
class Task:
    """One task. name: "" for single-task models, else the tower_name;
    label: its data_config label field; losses: [mx_rec.losses.Loss];
    weight: its factor in the training loss."""

    name: str
    label: str
    losses: tuple
    num_class: int = 1
    weight: float = 1.0

    @property
    def is_regression(self):
        return self.losses[0].loss_type == "L2_LOSS"

    def key(self, name):
        """`name` suffixed with the task's name in multi-task models."""
        return f"{name}_{self.name}" if self.name else name


def tasks(config):
    """The Tasks of `config`'s model."""
    model = config.model_config
    labels = list(config.data_config.label_fields)
    if model.WhichOneof("model") != "mmoe":
        return [Task("", labels[0], tuple(config_losses(model, "model_config")),
                     model.num_class)]
    return [Task(tower.tower_name, tower.label_name or labels[i],
                 tuple(config_losses(tower, f"model_config.mmoe.task_towers[{i}]")),
                 tower.num_class, tower.weight)
            for i, tower in enumerate(model.mmoe.task_towers)]


def predictions(task, logits):
    """{prediction key: tensor} of a task whose model output is `logits`."""
    if task.is_regression:
        return {task.key("y"): logits}
    if task.num_class == 1:
        return {task.key("logits"): logits, task.key("probs"): tf.sigmoid(logits)}
    return {task.key("logits"): logits, task.key("probs"): tf.nn.softmax(logits),
            task.key("y"): tf.argmax(logits, axis=1)}


def _loss_predictions(task, logits, extra):
    """fn(loss_type) -> what build_losses gives that loss (its predictions)."""
    def predictions_of(loss_type):
        if loss_type == "CROSS_ENTROPY_LOSS":
            return tf.sigmoid(logits)
        if loss_type == "SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING":
            if "user_emb" not in extra:
                raise ValueError(f"{loss_type} needs a two-tower model (model_config.dssm): "
                                 "it scores user_emb against other samples' item_emb")
            return extra["user_emb"], extra["item_emb"]
        if loss_type in ("CIRCLE_LOSS", "MULTI_SIMILARITY_LOSS"):
            raise ValueError(f"{loss_type} learns embeddings of a metric-learning model, which "
                             "mx_rec's model kinds (dlrm, deepfm, mmoe, dssm) are not")
        return logits
    return predictions_of


def label_tensor(task, labels):
    """The task's labels: float32, or int64 for multi-class tasks."""
    value = labels[task.label]
    return tf.cast(value, tf.int64 if task.num_class > 1 else tf.float32)


def training_loss(tasks_, outputs, labels, sample_weight=None):
    """(total loss, {summary name: weighted term}) of every task."""
    total, terms = [], {}
    for task in tasks_:
        built = mx_losses.build_losses(
            list(task.losses), label_tensor(task, labels),
            _loss_predictions(task, outputs.logits[task.name], outputs.extra),
            sample_weight=sample_weight, num_class=task.num_class)
        total.append(task.weight * built.total)
        terms.update((f"{task.key('loss')}/{name}", value) for name, value in built.terms.items())
    return tf.add_n(total, name="training_loss"), terms
