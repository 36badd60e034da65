"""Learning-rate schedules against NumPy implementations of EasyRec's formulas
at many global steps (burn-in, warm-up, hold and decay edges included), their
errors, and their use by TF's and mx_rec's optimizers."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import gradient_descent
from mx_rec.optimizers.learning_rate import (
    ConstantLearningRate,
    CosineDecayLearningRate,
    ExponentialDecayLearningRate,
    LearningRate,
    LearningRateSchedule,
    ManualStepLearningRate,
    PolyDecayLearningRate,
    build_learning_rate,
)

STEPS = list(range(130)) + [499, 500, 501, 10 ** 6]


def np_exponential(s, initial_learning_rate=0.002, decay_steps=4000000, decay_factor=0.95,
                   staircase=True, burnin_learning_rate=0.0, burnin_steps=0,
                   min_learning_rate=0.0):
    if s < burnin_steps:
        rate = initial_learning_rate if burnin_learning_rate == 0 else (
            burnin_learning_rate + (initial_learning_rate - burnin_learning_rate) * s
            / burnin_steps)
    else:
        exponent = (s - burnin_steps) / decay_steps
        rate = initial_learning_rate * decay_factor ** (
            math.floor(exponent) if staircase else exponent)
    return max(rate, min_learning_rate)


def np_manual(s, initial_learning_rate, schedule, warmup=False):
    (first_step, first_rate) = schedule[0]
    if warmup and s < first_step:
        return initial_learning_rate + (first_rate - initial_learning_rate) * s / first_step
    rate = initial_learning_rate
    for step, learning_rate in schedule:
        if s >= step:
            rate = learning_rate
    return rate


def np_cosine(s, learning_rate_base=0.002, total_steps=4000000, warmup_learning_rate=0.0002,
              warmup_steps=10000, hold_base_rate_steps=0):
    if s > total_steps:
        return 0.0
    if s < warmup_steps:
        return warmup_learning_rate + (learning_rate_base - warmup_learning_rate) * s / warmup_steps
    flat = warmup_steps + hold_base_rate_steps
    if s <= flat:
        return learning_rate_base
    return 0.5 * learning_rate_base * (1 + math.cos(math.pi * (s - flat) / (total_steps - flat)))


def np_poly(s, learning_rate_base, total_steps, power, end_learning_rate=0.0):
    done = min(s, total_steps) / total_steps
    return (learning_rate_base - end_learning_rate) * (1 - done) ** power + end_learning_rate


def schedule_values(config, steps=STEPS):
    step = tf.compat.v1.placeholder(tf.int64, [])
    rate = build_learning_rate(config, step)
    assert rate.dtype == tf.float32 and rate.shape.rank == 0
    with tf.compat.v1.Session() as sess:
        return np.array([sess.run(rate, {step: s}) for s in steps])


def check_schedule(config, reference, steps=STEPS):
    expected = np.array([reference(s) for s in steps], np.float32)
    np.testing.assert_allclose(schedule_values(config, steps), expected, rtol=1e-6, atol=1e-12)


def test_constant():
    check_schedule(ConstantLearningRate(0.03), lambda s: 0.03)
    check_schedule(LearningRate(constant_learning_rate=ConstantLearningRate()), lambda s: 0.002)


@pytest.mark.parametrize("fields", [
    {"initial_learning_rate": 0.01, "decay_steps": 7, "decay_factor": 0.8},
    {"initial_learning_rate": 0.01, "decay_steps": 7, "decay_factor": 0.8, "staircase": False},
    # linear burn-in from 0.001 over 20 steps, then decay counted from step 20
    {"initial_learning_rate": 0.01, "decay_steps": 9, "decay_factor": 0.5,
     "burnin_learning_rate": 0.001, "burnin_steps": 20},
    # burnin_learning_rate 0: initial_learning_rate held during the burn-in
    {"initial_learning_rate": 0.01, "decay_steps": 9, "decay_factor": 0.5, "burnin_steps": 20,
     "staircase": False},
    # the floor is reached
    {"initial_learning_rate": 0.01, "decay_steps": 5, "decay_factor": 0.5,
     "min_learning_rate": 0.0007, "burnin_learning_rate": 0.0001, "burnin_steps": 3},
])
def test_exponential_decay(fields):
    check_schedule(ExponentialDecayLearningRate(**fields), lambda s: np_exponential(s, **fields))


def test_exponential_decay_edges_and_defaults():
    config = ExponentialDecayLearningRate(initial_learning_rate=0.01, decay_steps=10,
                                          decay_factor=0.5, burnin_learning_rate=0.002,
                                          burnin_steps=4, min_learning_rate=0.0024)
    values = schedule_values(config, [0, 3, 4, 13, 14, 23, 24, 33, 34])
    # The floor holds in the burn-in too (step 0 would be 0.002).
    np.testing.assert_allclose(values, [0.0024, 0.008, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025,
                                        0.0024], rtol=1e-6)
    check_schedule(ExponentialDecayLearningRate(), np_exponential)  # EasyRec's defaults
    assert ExponentialDecayLearningRate() == ExponentialDecayLearningRate(
        0.002, 4000000, 0.95, True, 0.0, 0, 0.0)


@pytest.mark.parametrize("warmup", [False, True])
def test_manual_step(warmup):
    schedule = [(10, 0.05), (25, 0.01), (26, 0.004), (100, 0.0)]
    config = ManualStepLearningRate(0.02, [LearningRateSchedule(s, r) for s, r in schedule],
                                    warmup)
    check_schedule(config, lambda s: np_manual(s, 0.02, schedule, warmup))


def test_cosine_decay_defaults():
    check_schedule(CosineDecayLearningRate(), np_cosine,
                   steps=[0, 1, 5000, 9999, 10000, 10001, 2 * 10 ** 6, 3999999, 4000000, 4000001])


@pytest.mark.parametrize("fields", [
    {"learning_rate_base": 0.01, "total_steps": 120, "warmup_learning_rate": 0.001,
     "warmup_steps": 10, "hold_base_rate_steps": 15},
    {"learning_rate_base": 0.01, "total_steps": 120, "warmup_steps": 0},
    {"learning_rate_base": 0.01, "total_steps": 50, "warmup_learning_rate": 0.0,
     "warmup_steps": 17},
])
def test_cosine_decay(fields):
    check_schedule(CosineDecayLearningRate(**fields), lambda s: np_cosine(s, **fields))


@pytest.mark.parametrize("power,end", [(1.0, 0.0), (2.0, 0.001), (0.5, 0.0005)])
def test_poly_decay(power, end):
    config = PolyDecayLearningRate(0.01, 90, power, end)
    check_schedule(config, lambda s: np_poly(s, 0.01, 90, power, end))


def test_default_global_step_is_the_graphs():
    rate = ExponentialDecayLearningRate(0.01, 2, 0.5)()
    step = tf.compat.v1.train.get_global_step()
    assert step is not None
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(step.assign(5))
        assert sess.run(rate) == pytest.approx(0.0025)


def test_drives_tf_and_hash_optimizers(mx):
    """One lr tensor, read anew each step by a dense and a sparse SGD."""
    step = tf.compat.v1.train.get_or_create_global_step()
    rate = build_learning_rate(ManualStepLearningRate(
        0.5, [LearningRateSchedule(1, 0.25), LearningRateSchedule(2, 0.125)]))
    dense = tf.Variable([1.0])
    table = create_table(tf.int64, 1, "t", tf.compat.v1.ones_initializer(), 10)
    loss = tf.reduce_sum(dense) + tf.reduce_sum(sparse_lookup(table, tf.constant([3], tf.int64)))
    dense_op = tf.compat.v1.train.GradientDescentOptimizer(rate).minimize(loss, var_list=[dense])
    with tf.control_dependencies([dense_op]):
        train = gradient_descent.create_hash_optimizer(rate).minimize(loss, global_step=step)
    lookup = sparse_lookup(table, tf.constant([3], tf.int64), is_train=False)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        dense_value, row = sess.run([dense, lookup])
    # Steps 0, 1, 2 use 0.5, 0.25, 0.125 on a gradient of 1.
    np.testing.assert_allclose(dense_value, [1 - 0.875])
    np.testing.assert_allclose(row, [[1 - 0.875]])


@pytest.mark.parametrize("make,match", [
    (lambda: ConstantLearningRate(0.0), "learning_rate must be a finite number > 0, got 0.0"),
    (lambda: ExponentialDecayLearningRate(decay_steps=0), r"decay_steps must be in \[1, inf\]"),
    (lambda: ExponentialDecayLearningRate(decay_factor=-0.5), "decay_factor must be a finite"),
    (lambda: ExponentialDecayLearningRate(min_learning_rate=float("inf")),
     "min_learning_rate must be a finite number >= 0"),
    (lambda: ExponentialDecayLearningRate(burnin_learning_rate=0.001),
     "burnin_learning_rate > 0 ramps up over burnin_steps"),
    (lambda: ManualStepLearningRate(), "schedule must be a non-empty list"),
    (lambda: ManualStepLearningRate(schedule=[LearningRateSchedule(5), LearningRateSchedule(5)]),
     r"schedule steps must be strictly increasing, got \[5, 5\]"),
    (lambda: LearningRateSchedule(0), r"step must be in \[1, inf\]"),
    (lambda: CosineDecayLearningRate(warmup_learning_rate=0.01),
     r"warmup_learning_rate must be in \[0, learning_rate_base=0.002\]"),
    (lambda: CosineDecayLearningRate(total_steps=100, warmup_steps=60, hold_base_rate_steps=40),
     r"total_steps must be in \[101, inf\]"),
    (lambda: PolyDecayLearningRate(0.1, 10, -1.0), "power must be a finite number >= 0"),
    (lambda: LearningRate(), "exactly one of constant_learning_rate"),
    (lambda: LearningRate(constant_learning_rate=ConstantLearningRate(),
                          poly_decay_learning_rate=PolyDecayLearningRate(0.1, 10, 1.0)),
     "got constant_learning_rate, poly_decay_learning_rate"),
])
def test_bad_fields_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_arguments():
    with pytest.raises(TypeError, match="cosine_decay_learning_rate must be a "
                                        "CosineDecayLearningRate"):
        LearningRate(cosine_decay_learning_rate=ConstantLearningRate())
    with pytest.raises(TypeError, match="learning_rate must be a LearningRate or one of"):
        build_learning_rate(0.1)
    with pytest.raises(TypeError, match="global_step must be an integer scalar"):
        build_learning_rate(CosineDecayLearningRate(), tf.constant(1.0))
    with pytest.raises(TypeError, match="global_step must be an integer scalar"):
        ExponentialDecayLearningRate()(tf.constant([1, 2]))
