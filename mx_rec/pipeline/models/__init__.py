"""The model kinds of model_config's oneof `model`: build(config, inputs,
num_class_of) -> ModelOutputs, where inputs are FeatureInputs and
num_class_of is {task name: num_class} (single-task models: {"": n})."""

from mx_rec.pipeline.models import deepfm, dlrm, dssm, mmoe

BUILDERS = {"dlrm": dlrm.build, "deepfm": deepfm.build, "mmoe": mmoe.build, "dssm": dssm.build}


def build_model(config, inputs, num_class_of):
    """The ModelOutputs of model_config's model on `inputs` (FeatureInputs)."""
    return BUILDERS[config.model_config.WhichOneof("model")](config, inputs, num_class_of)
