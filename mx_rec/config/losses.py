"""Loss blocks -> mx_rec.losses.Loss entries (for build_losses)."""

from mx_rec import losses as mx_losses
from mx_rec.config.convert import build, error_at
from mx_rec.config.errors import ConfigError, Problems
from mx_rec.config.protos.loss_pb2 import LossType


def losses(owner, path):
    """[Loss] of a model_config or task tower at `path`: its `losses`, or
    else its single loss_type with weight 1."""
    if not owner.losses:
        try:
            return [mx_losses.Loss(LossType.Name(owner.loss_type))]
        except ValueError as error:
            raise ConfigError.at(f"{path}.loss_type", f"{error}; set them in a `losses` entry "
                                 "instead") from None
    if owner.HasField("loss_type"):
        raise ConfigError.at(f"{path}.loss_type", "set loss_type or losses, not both (losses "
                             "lists every loss with its weight)")
    problems = Problems()
    entries = [problems.check(_loss, entry, f"{path}.losses[{i}]")
               for i, entry in enumerate(owner.losses)]
    problems.raise_if_any()
    return entries


def _loss(entry, path):
    """The Loss of one `losses` entry."""
    if not entry.HasField("loss_type"):
        raise ConfigError.at(f"{path}.loss_type", f"is required: one of "
                             f"{', '.join(LossType.keys())}")
    which = entry.WhichOneof("loss_param")
    param = {}
    if which is not None:
        block = getattr(entry, which)
        # The parameter messages carry the names of mx_rec.losses' classes.
        param[which] = build(getattr(mx_losses, block.DESCRIPTOR.name), block, f"{path}.{which}")
    try:
        return mx_losses.Loss(LossType.Name(entry.loss_type), entry.weight, **param)
    except (TypeError, ValueError) as error:
        raise error_at(path, entry.DESCRIPTOR, error) from None
