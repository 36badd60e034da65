"""train_config.optimizer_config -> what train_eval builds its optimizers from.

Each entry becomes an OptimizerSetting: its learning rate (a LearningRate)
and its other fields as the keyword arguments that both its TF v1 optimizer
(dense variables) and its mx_rec hash rule (tables) take, e.g.

  setting.hash_rule == "lazy_adam"
  getattr(mx_rec.optimizers, setting.hash_rule).create_hash_optimizer(lr, **setting.arguments)
"""

from typing import NamedTuple

from mx_rec import optimizers
from mx_rec.config.convert import error_at
from mx_rec.config.errors import ConfigError, Problems
from mx_rec.config.learning_rate import learning_rate
from mx_rec.optimizers.learning_rate import LearningRate


class _Rule(NamedTuple):
    hash_rule: str  # the mx_rec.optimizers module
    renames: dict  # config field -> keyword argument


_RULES = {
    "adam_optimizer": _Rule("lazy_adam", {}),
    "lazy_adam_optimizer": _Rule("lazy_adam", {}),
    "adam_w_optimizer": _Rule("adam_w", {}),
    "adamw_optimizer": _Rule("adam_w", {}),
    "adagrad_optimizer": _Rule("adagrad", {}),
    "momentum_optimizer": _Rule("momentum", {"momentum_optimizer_value": "momentum"}),
    "rms_prop_optimizer": _Rule("rms_prop", {"momentum_optimizer_value": "momentum"}),
    "ftrl_optimizer": _Rule("ftrl", {"l1_reg": "l1_regularization_strength",
                                     "l2_reg": "l2_regularization_strength"}),
    "gradient_descent_optimizer": _Rule("gradient_descent", {}),
}


class OptimizerSetting(NamedTuple):
    """One optimizer_config entry.

    kind: the optimizer field set, e.g. "adam_optimizer" (EasyRec's
      "adamw_optimizer" reads as "adam_w_optimizer").
    hash_rule: the mx_rec.optimizers module that trains tables like it
      (Adam trains tables with lazy Adam: only touched rows move).
    learning_rate: a LearningRate (build_learning_rate gives the tensor).
    arguments: every other field, with the config's defaults, named as
      create_hash_optimizer and the TF v1 optimizer name them (beta1,
      momentum, l1_regularization_strength, ...).
    """

    kind: str
    hash_rule: str
    learning_rate: LearningRate
    arguments: dict


def optimizer_setting(message, path):
    """The OptimizerSetting of an Optimizer message at `path`; its arguments
    are checked by building the hash optimizer."""
    kind = message.WhichOneof("optimizer")
    if kind is None:
        raise ConfigError.at(path, f"set one optimizer: {', '.join(_RULES)}")
    rule, block = _RULES[kind], getattr(message, kind)
    where = f"{path}.{kind}"
    rate = learning_rate(block.learning_rate, f"{where}.learning_rate")
    arguments = {rule.renames.get(field.name, field.name): getattr(block, field.name)
                 for field in block.DESCRIPTOR.fields if field.name != "learning_rate"}
    try:
        getattr(optimizers, rule.hash_rule).create_hash_optimizer(1.0, **arguments)
    except (TypeError, ValueError) as error:
        fields = {argument: field for field, argument in rule.renames.items()}
        raise error_at(where, block.DESCRIPTOR, error, fields) from None
    return OptimizerSetting(kind.replace("adamw", "adam_w"), rule.hash_rule, rate, arguments)


def optimizer_settings(train_config, path="train_config"):
    """(dense, sparse) OptimizerSetting: one optimizer_config entry serves
    both; with two, [0] trains the dense variables and [1] the tables."""
    entries = train_config.optimizer_config
    if not 1 <= len(entries) <= 2:
        raise ConfigError.at(f"{path}.optimizer_config", "needs one entry (dense variables and "
                             "tables) or two ([0] dense variables, [1] tables), got "
                             f"{len(entries)}")
    problems = Problems()
    settings = [problems.check(optimizer_setting, entry, f"{path}.optimizer_config[{i}]")
                for i, entry in enumerate(entries)]
    problems.raise_if_any()
    return settings[0], settings[-1]
