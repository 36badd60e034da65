"""Learning-rate schedules of EasyRec's optimizer config (message LearningRate).

Each schedule is a frozen config whose fields and defaults are EasyRec's; called
with the global step (an integer scalar tensor; default: the graph's global
step, created if missing) it returns the learning rate as a float32 scalar
tensor, which TF's optimizers and mx_rec's hash optimizers both take:

  lr = ExponentialDecayLearningRate(initial_learning_rate=1e-4, decay_steps=100000,
                                    decay_factor=0.5, min_learning_rate=1e-7)()
  tf.compat.v1.train.AdamOptimizer(lr)
  mx_rec.optimizers.lazy_adam.create_hash_optimizer(learning_rate=lr)

The rates are computed in float64 and rounded once to float32.
"""

import dataclasses
import itertools
import math

import tensorflow as tf

from mx_rec.util.validation import check_bool, check_int, check_real


def _positive(name, value):
    return check_real(name, value, lambda v: v > 0, "a finite number > 0")


def _non_negative(name, value):
    return check_real(name, value, lambda v: v >= 0, "a finite number >= 0")


def _step(global_step):
    """The global step as a float64 scalar tensor."""
    if global_step is None:
        global_step = tf.compat.v1.train.get_or_create_global_step()
    step = tf.convert_to_tensor(global_step)
    if not step.dtype.is_integer or step.shape.rank != 0:
        raise TypeError(f"global_step must be an integer scalar, got {step.dtype.name} "
                        f"of shape {step.shape}")
    return tf.cast(step, tf.float64)


def _rate(value):
    return tf.cast(value, tf.float32, name="learning_rate")


@dataclasses.dataclass(frozen=True)
class ConstantLearningRate:
    """learning_rate at every step (> 0, default 0.002)."""

    learning_rate: float = 0.002

    def __post_init__(self):
        _positive("learning_rate", self.learning_rate)

    def __call__(self, global_step=None):
        return tf.constant(self.learning_rate, tf.float32, name="learning_rate")


@dataclasses.dataclass(frozen=True)
class ExponentialDecayLearningRate:
    """Exponential decay after an optional burn-in, floored at min_learning_rate.

    At step s, with b = burnin_steps:
      s < b: burnin_learning_rate + (initial_learning_rate - burnin_learning_rate) s / b,
        or initial_learning_rate when burnin_learning_rate is 0;
      s >= b: initial_learning_rate * decay_factor ** ((s - b) / decay_steps),
        the exponent rounded down when staircase;
    and never below min_learning_rate.

    initial_learning_rate: > 0, default 0.002.
    decay_steps: steps per factor of decay_factor, >= 1, default 4000000.
    decay_factor: > 0, default 0.95.
    staircase: decay in whole steps of decay_steps (default True).
    burnin_learning_rate: >= 0, default 0 (no ramp). Needs burnin_steps >= 1.
    burnin_steps: >= 0, default 0.
    min_learning_rate: >= 0, default 0.
    """

    initial_learning_rate: float = 0.002
    decay_steps: int = 4000000
    decay_factor: float = 0.95
    staircase: bool = True
    burnin_learning_rate: float = 0.0
    burnin_steps: int = 0
    min_learning_rate: float = 0.0

    def __post_init__(self):
        _positive("initial_learning_rate", self.initial_learning_rate)
        check_int("decay_steps", self.decay_steps, 1)
        _positive("decay_factor", self.decay_factor)
        check_bool("staircase", self.staircase)
        _non_negative("burnin_learning_rate", self.burnin_learning_rate)
        check_int("burnin_steps", self.burnin_steps, 0)
        _non_negative("min_learning_rate", self.min_learning_rate)
        if self.burnin_learning_rate > 0 and self.burnin_steps == 0:
            raise ValueError("burnin_learning_rate > 0 ramps up over burnin_steps, which must "
                             "then be >= 1, got 0")

    def __call__(self, global_step=None):
        step = _step(global_step)
        if self.burnin_learning_rate == 0:
            burnin = tf.constant(self.initial_learning_rate, tf.float64)
        else:
            slope = (self.initial_learning_rate - self.burnin_learning_rate) / self.burnin_steps
            burnin = slope * step + self.burnin_learning_rate
        exponent = (step - self.burnin_steps) / self.decay_steps
        if self.staircase:
            exponent = tf.floor(exponent)
        decayed = self.initial_learning_rate * tf.pow(tf.constant(self.decay_factor, tf.float64),
                                                      exponent)
        rate = tf.where(step < self.burnin_steps, burnin, decayed)
        return _rate(tf.maximum(rate, self.min_learning_rate))


@dataclasses.dataclass(frozen=True)
class LearningRateSchedule:
    """One entry of manual_step_learning_rate's schedule: from global step
    `step` (>= 1; required) on, the rate is learning_rate (>= 0, default 0.002)."""

    step: int
    learning_rate: float = 0.002

    def __post_init__(self):
        check_int("step", self.step, 1)
        _non_negative("learning_rate", self.learning_rate)


@dataclasses.dataclass(frozen=True)
class ManualStepLearningRate:
    """A piecewise-constant rate: initial_learning_rate before schedule[0].step,
    then each entry's learning_rate from its step on.

    initial_learning_rate: > 0, default 0.002.
    schedule: non-empty sequence of LearningRateSchedule, steps strictly
      increasing.
    warmup: for steps in [0, schedule[0].step), interpolate linearly from
      initial_learning_rate to schedule[0].learning_rate (default False).
    """

    initial_learning_rate: float = 0.002
    schedule: tuple[LearningRateSchedule, ...] = ()
    warmup: bool = False

    def __post_init__(self):
        _positive("initial_learning_rate", self.initial_learning_rate)
        check_bool("warmup", self.warmup)
        schedule = tuple(self.schedule) if isinstance(self.schedule, (list, tuple)) else None
        if not schedule or not all(isinstance(e, LearningRateSchedule) for e in schedule):
            raise ValueError("schedule must be a non-empty list of LearningRateSchedule(step, "
                             f"learning_rate), got {self.schedule!r}")
        steps = [entry.step for entry in schedule]
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise ValueError(f"schedule steps must be strictly increasing, got {steps}")
        object.__setattr__(self, "schedule", schedule)

    def __call__(self, global_step=None):
        step = _step(global_step)
        boundaries = tf.constant([entry.step for entry in self.schedule], tf.float64)
        rates = tf.constant([self.initial_learning_rate]
                            + [entry.learning_rate for entry in self.schedule], tf.float64)
        rate = tf.gather(rates, tf.reduce_sum(tf.cast(step >= boundaries, tf.int32)))
        if self.warmup:
            first = self.schedule[0]
            slope = (first.learning_rate - self.initial_learning_rate) / first.step
            rate = tf.where(step < first.step, self.initial_learning_rate + slope * step, rate)
        return _rate(rate)


@dataclasses.dataclass(frozen=True)
class CosineDecayLearningRate:
    """Linear warm-up, an optional hold, then cosine decay to 0 at total_steps
    (Loshchilov & Hutter's SGDR without restarts).

    At step s, with w = warmup_steps, h = hold_base_rate_steps, T = total_steps:
      s < w: warmup_learning_rate + (learning_rate_base - warmup_learning_rate) s / w;
      w <= s <= w + h: learning_rate_base;
      w + h < s <= T: learning_rate_base (1 + cos(pi (s - w - h) / (T - w - h))) / 2;
      s > T: 0.

    learning_rate_base: > 0, default 0.002.
    total_steps: > warmup_steps + hold_base_rate_steps, default 4000000.
    warmup_learning_rate: in [0, learning_rate_base], default 0.0002.
    warmup_steps: >= 0, default 10000.
    hold_base_rate_steps: >= 0, default 0.
    """

    learning_rate_base: float = 0.002
    total_steps: int = 4000000
    warmup_learning_rate: float = 0.0002
    warmup_steps: int = 10000
    hold_base_rate_steps: int = 0

    def __post_init__(self):
        _positive("learning_rate_base", self.learning_rate_base)
        check_real("warmup_learning_rate", self.warmup_learning_rate,
                   lambda v: 0 <= v <= self.learning_rate_base,
                   f"in [0, learning_rate_base={self.learning_rate_base}]")
        check_int("warmup_steps", self.warmup_steps, 0)
        check_int("hold_base_rate_steps", self.hold_base_rate_steps, 0)
        check_int("total_steps", self.total_steps,
                  self.warmup_steps + self.hold_base_rate_steps + 1)

    def __call__(self, global_step=None):
        step = _step(global_step)
        flat = self.warmup_steps + self.hold_base_rate_steps
        cosine = 0.5 * self.learning_rate_base * (
            1.0 + tf.cos(math.pi * (step - flat) / (self.total_steps - flat)))
        rate = tf.where(step > flat, cosine, self.learning_rate_base)
        if self.warmup_steps > 0:
            slope = (self.learning_rate_base - self.warmup_learning_rate) / self.warmup_steps
            rate = tf.where(step < self.warmup_steps, self.warmup_learning_rate + slope * step,
                            rate)
        return _rate(tf.where(step > self.total_steps, tf.zeros_like(rate), rate))


@dataclasses.dataclass(frozen=True)
class PolyDecayLearningRate:
    """Polynomial decay (tf.compat.v1.train.polynomial_decay without cycling):
      (learning_rate_base - end_learning_rate) (1 - min(s, T) / T) ** power
      + end_learning_rate, T = total_steps.

    learning_rate_base: > 0. Required.
    total_steps: >= 1. Required.
    power: >= 0 (1 is linear). Required.
    end_learning_rate: >= 0, default 0.
    """

    learning_rate_base: float
    total_steps: int
    power: float
    end_learning_rate: float = 0.0

    def __post_init__(self):
        _positive("learning_rate_base", self.learning_rate_base)
        check_int("total_steps", self.total_steps, 1)
        _non_negative("power", self.power)
        _non_negative("end_learning_rate", self.end_learning_rate)

    def __call__(self, global_step=None):
        done = tf.minimum(_step(global_step), float(self.total_steps)) / self.total_steps
        span = self.learning_rate_base - self.end_learning_rate
        return _rate(span * tf.pow(1.0 - done, tf.constant(self.power, tf.float64))
                     + self.end_learning_rate)


SCHEDULES = (ConstantLearningRate, ExponentialDecayLearningRate, ManualStepLearningRate,
             CosineDecayLearningRate, PolyDecayLearningRate)


@dataclasses.dataclass(frozen=True)
class LearningRate:
    """EasyRec's message LearningRate: exactly one of its schedules is set
    (fields in the order of SCHEDULES)."""

    constant_learning_rate: ConstantLearningRate | None = None
    exponential_decay_learning_rate: ExponentialDecayLearningRate | None = None
    manual_step_learning_rate: ManualStepLearningRate | None = None
    cosine_decay_learning_rate: CosineDecayLearningRate | None = None
    poly_decay_learning_rate: PolyDecayLearningRate | None = None

    def __post_init__(self):
        given = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]
        if len(given) != 1:
            raise ValueError("a LearningRate sets exactly one of "
                             f"{', '.join(f.name for f in dataclasses.fields(self))}; got "
                             f"{', '.join(given) or 'none'}")
        for field, schedule_class in zip(dataclasses.fields(self), SCHEDULES):
            value = getattr(self, field.name)
            if value is not None and not isinstance(value, schedule_class):
                raise TypeError(f"{field.name} must be a {schedule_class.__name__}, got {value!r}")

    @property
    def schedule(self):
        """The schedule that is set."""
        return next(getattr(self, f.name) for f in dataclasses.fields(self)
                    if getattr(self, f.name) is not None)


def build_learning_rate(learning_rate, global_step=None):
    """The float32 scalar learning-rate tensor of a LearningRate or one of the
    SCHEDULES at `global_step` (default: the graph's global step)."""
    schedule = learning_rate.schedule if isinstance(learning_rate, LearningRate) else learning_rate
    if not isinstance(schedule, SCHEDULES):
        raise TypeError("learning_rate must be a LearningRate or one of "
                        f"{', '.join(s.__name__ for s in SCHEDULES)}, got {learning_rate!r}")
    with tf.compat.v1.name_scope("learning_rate"):
        return schedule(global_step)
