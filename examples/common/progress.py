"""A periodic training progress line: step, loss, samples/s and ETA.

    progress = Progress(total_steps=2000, batch_size=256, every=100)
    for step in range(1, 2001):
        progress.step(step, loss)          # prints every 100 steps and at the end
        if step % 500 == 0:
            with progress.paused():        # evaluation time counts neither in
                evaluate()                 # samples/s nor in the ETA

    step   100/2000  loss 0.3125  samples/s  5120.3  ETA 0:00:37
"""
import contextlib
import sys
import time


def _clock(seconds):
    seconds = int(round(seconds))
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


class Progress(object):
    """Prints the mean loss of the steps since the last line, the samples/s of
    those steps, and the time left at the training rate so far."""

    def __init__(self, total_steps, batch_size, every, out=sys.stdout):
        self.total_steps, self.batch_size, self.every, self.out = \
            total_steps, batch_size, max(1, every), out
        self.history = []          # (step, mean loss of the window) per line
        self.train_seconds = 0.0   # time in steps, pauses left out
        self._losses = []
        self._window_start = self._last = time.time()
        self._window_seconds = 0.0

    def step(self, step, loss):
        now = time.time()
        self._window_seconds += now - self._last
        self._last = now
        self._losses.append(float(loss))
        if step % self.every and step != self.total_steps:
            return
        self.train_seconds += self._window_seconds
        mean = sum(self._losses) / len(self._losses)
        rate = len(self._losses) * self.batch_size / max(self._window_seconds, 1e-9)
        eta = (self.total_steps - step) * self.train_seconds / step
        print("step %6d/%d  loss %.4f  samples/s %8.1f  ETA %s" % (
            step, self.total_steps, mean, rate, _clock(eta)), file=self.out)
        self.out.flush()
        self.history.append((step, mean))
        self._losses, self._window_seconds = [], 0.0

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside is not training time."""
        now = time.time()
        self._window_seconds += now - self._last
        try:
            yield
        finally:
            self._last = time.time()
