"""Argument checks that raise exceptions naming the argument and its range."""

import math
import numbers

import tensorflow as tf


def check_int(name, value, low, high=None):
    """Returns value as int if it is an integer in [low, high]; raises otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        upper = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be in [{low}, {upper}], got {value}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_real(name, value, ok, requirement):
    """value as float if it is a finite real number (Python or numpy, not a
    bool) for which ok(value) holds; else ValueError "<name> must be
    <requirement>, got <value>"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(float(value)) or not ok(float(value)):
        raise ValueError(f"{name} must be {requirement}, got {value!r}")
    return float(value)


def check_positive(name, value, allow_tensor=False):
    """A finite real number > 0 (Python or numpy), as float; or, with
    allow_tensor, any tensor (checked when it runs)."""
    if allow_tensor and (tf.is_tensor(value) or isinstance(value, tf.Variable)):
        return value
    return check_real(name, value, lambda v: v > 0, "a finite number > 0")
