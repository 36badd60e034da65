"""model_config's model block, labels and losses: their checks."""

import math

from mx_rec.config import features as feature_options
from mx_rec.config.errors import ConfigError, Problems
from mx_rec.config.losses import losses
from mx_rec.config.protos.feature_pb2 import Feature

MODELS = ("dlrm", "deepfm", "mmoe", "dssm")


def check(config):
    """ConfigError listing what is wrong in model_config's model, labels and losses."""
    model = config.model_config
    kind = model.WhichOneof("model")
    if kind is None:
        raise ConfigError.at("model_config", f"set one model block: {', '.join(MODELS)}")
    problems = Problems()
    if kind == "mmoe":
        given = [field for field in ("loss_type", "num_class") if model.HasField(field)]
        for field in given + (["losses"] if model.losses else []):
            problems.add(f"model_config.{field}", "is set per task tower in MMoE "
                         "(model_config.mmoe.task_towers)")
        problems.check(_check_mmoe, config)
    else:
        labels = config.data_config.label_fields
        if len(labels) > 1:
            problems.add("data_config.label_fields", f"has {len(labels)} labels; {kind} is "
                         "single-task and takes one (MMoE takes one per task tower)")
        if model.num_class < 1:
            problems.add("model_config.num_class", "must be >= 1")
        problems.check(losses, model, "model_config")
        problems.check({"dlrm": _check_dlrm, "deepfm": _check_deepfm,
                        "dssm": _check_dssm}[kind], config)
    problems.raise_if_any()


def _check_dnn(dnn, path, required=True):
    problems = Problems()
    if required and not dnn.hidden_units:
        problems.add(f"{path}.hidden_units", "is required: the layer widths")
    for i, units in enumerate(dnn.hidden_units):
        if units < 1:
            problems.add(f"{path}.hidden_units[{i}]", "must be >= 1")
    problems.raise_if_any()


def _check_equal_dims(config, model):
    """Every feature looked up in a table has the same dim (needs at least one)."""
    tables = feature_options.tables(config)
    dims = [(i, feature_options.feature_name(f), tables[feature_options.table_name(f)][0].dim)
            for i, f in enumerate(config.model_config.features)
            if f.feature_type in feature_options.LOOKED_UP
            and feature_options.table_name(f) in tables]
    if not dims:
        raise ConfigError.at("model_config.features", f"{model} needs at least one IdFeature")
    problems, (_, first, first_dim) = Problems(), dims[0]
    for i, name, dim in dims[1:]:
        if dim != first_dim:
            problems.add(f"model_config.features[{i}]", f"has dim {dim} but feature {first!r} "
                         f"has {first_dim}: {model} needs one dim for every id feature")
    problems.raise_if_any()


def _check_dlrm(config):
    problems = Problems()
    if not any(f.feature_type == Feature.RawFeature for f in config.model_config.features):
        problems.add("model_config.features", "DLRM needs at least one RawFeature (bot_dnn's "
                     "input)")
    problems.check(_check_equal_dims, config, "DLRM")
    dlrm = config.model_config.dlrm
    problems.check(_check_dnn, dlrm.bot_dnn, "model_config.dlrm.bot_dnn", False)
    problems.check(_check_dnn, dlrm.top_dnn, "model_config.dlrm.top_dnn", False)
    problems.raise_if_any()


def _check_deepfm(config):
    problems = Problems()
    problems.check(_check_equal_dims, config, "DeepFM")
    problems.check(_check_dnn, config.model_config.deepfm.dnn, "model_config.deepfm.dnn")
    problems.raise_if_any()


def _check_mmoe(config):
    mmoe, problems = config.model_config.mmoe, Problems()
    if mmoe.num_expert < 1:
        problems.add("model_config.mmoe.num_expert", "must be >= 1")
    problems.check(_check_dnn, mmoe.expert_dnn, "model_config.mmoe.expert_dnn")
    if not mmoe.task_towers:
        problems.add("model_config.mmoe.task_towers", "is required: one per task")
    labels, names = list(config.data_config.label_fields), set()
    for i, tower in enumerate(mmoe.task_towers):
        path = f"model_config.mmoe.task_towers[{i}]"
        problems.check_name(tower.tower_name, names, f"{path}.tower_name")
        label = tower.label_name or (labels[i] if i < len(labels) else "")
        if label not in labels:
            problems.add(f"{path}.label_name", f"{label!r} is not in data_config.label_fields "
                         f"({', '.join(labels) or 'none'})" if label else
                         "is required: there is no data_config.label_fields entry for this tower")
        if tower.num_class < 1:
            problems.add(f"{path}.num_class", "must be >= 1")
        if not (math.isfinite(tower.weight) and tower.weight >= 0):
            problems.add(f"{path}.weight", "must be a finite number >= 0")
        problems.check(_check_dnn, tower.dnn, f"{path}.dnn", False)
        problems.check(losses, tower, path)
    problems.raise_if_any()


def _check_dssm(config):
    dssm, problems = config.model_config.dssm, Problems()
    names = {feature_options.feature_name(f) for f in config.model_config.features}
    owner = {}
    for side in ("user_tower", "item_tower"):
        path = f"model_config.dssm.{side}"
        tower = getattr(dssm, side)
        if not dssm.HasField(side) or not tower.feature_names:
            problems.add(f"{path}.feature_names", "is required: the tower's features")
        for i, name in enumerate(tower.feature_names):
            if name not in names:
                problems.add(f"{path}.feature_names[{i}]", f"{name!r} is not a "
                             "model_config.features feature_name")
            elif name in owner:
                problems.add(f"{path}.feature_names[{i}]", f"{name!r} is already in {owner[name]}")
            owner.setdefault(name, side)
        problems.check(_check_dnn, tower.dnn, f"{path}.dnn")
    unused = sorted(names - set(owner))
    if unused:
        problems.add("model_config.features", f"{', '.join(unused)} belong to no DSSM tower "
                     "(model_config.dssm.user_tower / item_tower feature_names)")
    widths = [tower.dnn.hidden_units[-1] for tower in (dssm.user_tower, dssm.item_tower)
              if tower.dnn.hidden_units]
    if len(widths) == 2 and widths[0] != widths[1]:
        problems.add("model_config.dssm.item_tower.dnn.hidden_units", f"ends with {widths[1]} "
                     f"but user_tower's ends with {widths[0]}: both towers output vectors of "
                     "one size")
    problems.raise_if_any()
