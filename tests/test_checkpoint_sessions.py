"""Sparse checkpoints through the sessions that save and restore by themselves.

MonitoredTrainingSession, MonitoredSession / SingularMonitoredSession with a
CheckpointSaverHook, and the recovery of MonitoredTrainingSession after an
AbortedError all save and restore with a tf.compat.v1.train.Saver they
build or are given; a table takes part in those like any variable. The model
is table_scenarios.Model, whose rows are exactly INIT - LR * (lookups of
their key), so every restored state is compared with that arithmetic.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import table_scenarios as ts

BATCHES = [np.random.RandomState(i).randint(0, 60, 24) for i in range(12)]
KEYS = np.arange(60)
QUIET = dict(save_summaries_steps=None, save_summaries_secs=None, log_step_count_steps=None)


class Trainer:
    """table_scenarios.Model plus a global step counting its training steps."""

    def __init__(self, mode, tmp_path):
        self.model = ts.Model(mode, tmp_path)
        self.global_step = tf.compat.v1.train.get_or_create_global_step()
        self.train = tf.group(self.model.train, self.global_step.assign_add(1))

    def step(self, sess, batch):
        sess.run(self.train, {self.model.ids: batch})

    def read(self, sess):
        """(rows of KEYS, global step, table size) read in the raw session of `sess`
        (a monitored session: through run_step_fn, which runs no hook)."""
        def read(raw):
            return (self.model.read(raw, KEYS), int(raw.run(self.global_step)),
                    self.model.table.size(raw))
        if isinstance(sess, tf.compat.v1.Session):
            return read(sess)
        return sess.run_step_fn(lambda step_context: read(step_context.session))


def expected(*batch_lists):
    return ts.expected_rows(ts.count([b for batches in batch_lists for b in batches]), KEYS)


def n_keys(*batch_lists):
    return len({int(k) for batches in batch_lists for b in batches for k in b})


def saver_of_graph():
    """The Saver the monitored session's Scaffold made (the graph is finalized)."""
    savers = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SAVERS)
    assert len(savers) == 1
    return savers[0]


def assert_checkpoint_holds(trainer, saver, prefix, batches):
    """A plain Session restoring `prefix` sees exactly the rows of `batches`."""
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, prefix)
        rows, step, size = trainer.read(sess)
    np.testing.assert_array_equal(rows, expected(batches))
    assert (step, size) == (len(batches), n_keys(batches))


def table_dirs(directory):
    """Steps of the "model.ckpt-<step>.mx_rec" directories in `directory`."""
    return sorted(int(n[len("model.ckpt-"):-len(".mx_rec")]) for n in os.listdir(directory)
                  if n.startswith("model.ckpt-") and n.endswith(".mx_rec"))


def unnamed_entries(directory):
    """Table directories under "<prefix>.mx_rec" that TF checkpoint <prefix> does not name."""
    extra = []
    for step in table_dirs(directory):
        prefix = os.path.join(directory, f"model.ckpt-{step}")
        reader = tf.train.load_checkpoint(prefix)
        named = {reader.get_tensor(n).decode() for n in reader.get_variable_to_shape_map()
                 if n.startswith("mx_rec/") and n.endswith("/checkpoint")}
        extra += [f"model.ckpt-{step}.mx_rec/{e}" for e in os.listdir(prefix + ".mx_rec")
                  if e not in named]
    return extra


@pytest.mark.parametrize("mode", ts.MODES)
def test_a_second_monitored_training_session_restores_the_tables_and_continues(
        mx, tmp_path, mode):
    trainer = Trainer(mode, tmp_path)
    directory = str(tmp_path / "ckpt")
    first, more = BATCHES[:10], BATCHES[10:]
    with tf.compat.v1.train.MonitoredTrainingSession(
            checkpoint_dir=directory, save_checkpoint_steps=4, **QUIET) as sess:
        for batch in first:
            trainer.step(sess, batch)
    # Saved when the session started, every 4 steps, and when it closed.
    assert table_dirs(directory) == [0, 4, 8, 10] and unnamed_entries(directory) == []
    saver = saver_of_graph()
    for step in (0, 4, 8, 10):
        assert_checkpoint_holds(trainer, saver, os.path.join(directory, f"model.ckpt-{step}"),
                                first[:step])

    with tf.compat.v1.train.MonitoredTrainingSession(
            checkpoint_dir=directory, save_checkpoint_steps=4, **QUIET) as sess:
        rows, step, size = trainer.read(sess)
        np.testing.assert_array_equal(rows, expected(first))
        assert (step, size) == (10, n_keys(first))
        for batch in more:
            trainer.step(sess, batch)
        rows, step, size = trainer.read(sess)
    np.testing.assert_array_equal(rows, expected(first, more))
    assert (step, size) == (12, n_keys(first, more))
    assert tf.train.latest_checkpoint(directory).endswith("model.ckpt-12")
    assert_checkpoint_holds(trainer, saver, tf.train.latest_checkpoint(directory), first + more)


class AbortOnce(tf.compat.v1.train.SessionRunHook):
    """Raises AbortedError (what a lost worker or parameter server raises) once,
    in before_run (the step does not run) or after_run (it ran) of call `call`."""

    def __init__(self, call, phase):
        self.call = call
        self.phase = phase
        self.calls = 0
        self.raised = False

    def _maybe_raise(self, phase):
        if phase == self.phase and self.calls == self.call and not self.raised:
            self.raised = True
            raise tf.errors.AbortedError(None, None, "lost the session (test)")

    def before_run(self, run_context):
        self.calls += 1
        self._maybe_raise("before_run")

    def after_run(self, run_context, run_values):
        self._maybe_raise("after_run")


@pytest.mark.parametrize("phase", ["before_run", "after_run"])
@pytest.mark.parametrize("mode", ts.MODES)
def test_a_recovered_monitored_training_session_restores_the_last_checkpoint(
        mx, tmp_path, mode, phase):
    """The session aborts in the 7th step (global step 6 -> 7); it recovers from
    the checkpoint of step 4 and runs the 7th step again: steps 5 and 6 (and
    the 7th's first run, after_run) are lost, as for every variable."""
    trainer = Trainer(mode, tmp_path)
    directory = str(tmp_path / "ckpt")
    abort = AbortOnce(7, phase)
    with tf.compat.v1.train.MonitoredTrainingSession(
            checkpoint_dir=directory, save_checkpoint_steps=4, hooks=[abort], **QUIET) as sess:
        for batch in BATCHES:
            trainer.step(sess, batch)
        assert abort.raised
        rows, step, size = trainer.read(sess)
    kept = BATCHES[:4] + BATCHES[6:]
    np.testing.assert_array_equal(rows, expected(kept))
    assert (step, size) == (len(kept), n_keys(kept))
    assert_checkpoint_holds(trainer, saver_of_graph(), tf.train.latest_checkpoint(directory), kept)


@pytest.mark.parametrize("kind", ["monitored_session", "singular_monitored_session"])
@pytest.mark.parametrize("mode", ts.MODES)
def test_a_checkpoint_saver_hook_saves_the_tables(mx, tmp_path, mode, kind):
    """A CheckpointSaverHook in a MonitoredSession (with the Scaffold's saver) or a
    SingularMonitoredSession (given a Saver(max_to_keep=2)) saves the tables;
    SingularMonitoredSession(checkpoint_dir=...) restores them."""
    trainer = Trainer(mode, tmp_path)
    directory = str(tmp_path / "ckpt")
    batches = BATCHES[:7]
    if kind == "monitored_session":
        saver = None
        hook = tf.compat.v1.train.CheckpointSaverHook(directory, save_steps=3)
        sess = tf.compat.v1.train.MonitoredSession(
            session_creator=tf.compat.v1.train.ChiefSessionCreator(), hooks=[hook])
    else:
        saver = tf.compat.v1.train.Saver(max_to_keep=2)
        hook = tf.compat.v1.train.CheckpointSaverHook(directory, save_steps=3, saver=saver)
        sess = tf.compat.v1.train.SingularMonitoredSession(hooks=[hook])
    with sess:
        for batch in batches:
            trainer.step(sess, batch)
    saver = saver or saver_of_graph()
    if kind == "monitored_session":
        assert table_dirs(directory) == [0, 3, 6, 7]
        assert_checkpoint_holds(trainer, saver, os.path.join(directory, "model.ckpt-3"),
                                batches[:3])
    else:
        assert table_dirs(directory) == [6, 7]
    assert unnamed_entries(directory) == []
    assert_checkpoint_holds(trainer, saver, os.path.join(directory, "model.ckpt-6"), batches[:6])

    with tf.compat.v1.train.SingularMonitoredSession(checkpoint_dir=directory) as sess:
        rows, step, size = trainer.read(sess)
        np.testing.assert_array_equal(rows, expected(batches))
        assert (step, size) == (7, n_keys(batches))
        trainer.step(sess, BATCHES[7])
        rows, step, _ = trainer.read(sess)
    np.testing.assert_array_equal(rows, expected(BATCHES[:8]))
    assert step == 8


def test_resaving_a_checkpoint_leaves_no_unnamed_table_directory(mx, tmp_path):
    trainer = Trainer("HBM", tmp_path)
    directory = str(tmp_path / "ckpt")
    for batches in (BATCHES[:3], BATCHES[3:5]):
        with tf.compat.v1.train.MonitoredTrainingSession(
                checkpoint_dir=directory, save_checkpoint_steps=100, **QUIET) as sess:
            for batch in batches:
                trainer.step(sess, batch)
    assert table_dirs(directory) == [0, 3, 5]
    assert unnamed_entries(directory) == []


def test_restore_model_version_picks_the_version_sessions_restore(tmp_path):
    """init(restore_model_version=V): MonitoredTrainingSession restores step V,
    not the newest; a V the directory lacks is a clear error."""
    from mx_rec.util.initialize import init, terminate_config_initializer
    directory = str(tmp_path / "ckpt")
    init()
    trainer = Trainer("DDR", tmp_path)
    with tf.compat.v1.train.MonitoredTrainingSession(
            checkpoint_dir=directory, save_checkpoint_steps=2, **QUIET) as sess:
        for batch in BATCHES[:6]:
            trainer.step(sess, batch)
    assert tf.train.latest_checkpoint(directory).endswith("-6")
    terminate_config_initializer()
    for version, message in ((4, None), (3, r"no checkpoint of global step 3.*\[0, 2, 4, 6\]")):
        with tf.Graph().as_default():
            init(restore_model_version=version)
            trainer = Trainer("DDR", tmp_path)
            if message:
                with pytest.raises(ValueError, match=message):
                    tf.compat.v1.train.MonitoredTrainingSession(checkpoint_dir=directory, **QUIET)
            else:
                with tf.compat.v1.train.MonitoredTrainingSession(
                        checkpoint_dir=directory, save_checkpoint_steps=None, **QUIET) as sess:
                    rows, step, _ = trainer.read(sess)
                np.testing.assert_array_equal(rows, expected(BATCHES[:4]))
                assert step == 4
            terminate_config_initializer()
