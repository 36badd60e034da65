"""ProgressHook: a progress line every log_step_count_steps training steps."""

import datetime
import time

import tensorflow as tf


class ProgressHook(tf.compat.v1.train.SessionRunHook):
    """Logs "step S, loss L, N samples/s[, ETA H:MM:SS]" every `every_steps`
    global steps (and at num_steps): the loss of that step, the samples per
    second since the previous line (batch_size samples a step), and with
    num_steps the time left at that rate. Steps are counted from the global
    step the session starts at (a restored one too)."""

    def __init__(self, loss, every_steps, batch_size, num_steps=None):
        self._loss = loss
        self._every = every_steps
        self._batch_size = batch_size
        self._num_steps = num_steps
        self._step = 0
        self._last = None  # (global step, time) of the previous line

    def after_create_session(self, session, coord):
        self._step = int(session.run(tf.compat.v1.train.get_global_step()))
        self._last = (self._step, time.time())

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        self._step += 1
        if self._step % self._every and self._step != self._num_steps:
            return
        now = time.time()
        steps, seconds = self._step - self._last[0], max(now - self._last[1], 1e-9)
        line = (f"step {self._step}, loss {run_values.results:.6g}, "
                f"{steps * self._batch_size / seconds:.1f} samples/s")
        if self._num_steps:
            left = max(self._num_steps - self._step, 0) * seconds / steps
            line += f", ETA {datetime.timedelta(seconds=round(left))}"
        tf.compat.v1.logging.info(line)
        self._last = (self._step, now)
