"""Learning-rate blocks -> mx_rec.optimizers.learning_rate.LearningRate."""

import dataclasses

from mx_rec.config.convert import build
from mx_rec.config.errors import ConfigError
from mx_rec.optimizers.learning_rate import SCHEDULES, LearningRate, LearningRateSchedule

# LearningRate's fields are the oneof's members, in the order of SCHEDULES.
_SCHEDULE_CLASSES = {field.name: schedule for field, schedule
                     in zip(dataclasses.fields(LearningRate), SCHEDULES)}


def learning_rate(message, path):
    """The LearningRate of a LearningRate message at `path`."""
    which = message.WhichOneof("learning_rate")
    if which is None:
        raise ConfigError.at(path, f"set one schedule: {', '.join(_SCHEDULE_CLASSES)}")
    block, where = getattr(message, which), f"{path}.{which}"
    arguments = {}
    if which == "manual_step_learning_rate":
        arguments["schedule"] = tuple(
            build(LearningRateSchedule, entry, f"{where}.schedule[{i}]")
            for i, entry in enumerate(block.schedule))
    return LearningRate(**{which: build(_SCHEDULE_CLASSES[which], block, where, **arguments)})
