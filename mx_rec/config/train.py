"""train_config: its checks (the optimizers are checked by building them)."""

import math
import os

from mx_rec.config.errors import Problems
from mx_rec.config.optimizer import optimizer_settings
from mx_rec.config.protos.train_pb2 import DistributionStrategy

SUPPORTED_STRATEGIES = ("NoStrategy",)


def check(config):
    """ConfigError listing what is wrong in train_config."""
    problems, train = Problems(), config.train_config
    problems.check(optimizer_settings, train)
    if train.HasField("save_checkpoints_steps") and train.HasField("save_checkpoints_secs"):
        problems.add("train_config.save_checkpoints_secs", "is set together with "
                     "save_checkpoints_steps: set one of them")
    for field in ("save_checkpoints_steps", "save_checkpoints_secs", "log_step_count_steps",
                  "save_checkpoint_due_time"):
        if train.HasField(field) and getattr(train, field) < 1:
            problems.add(f"train_config.{field}", "must be >= 1")
    strategy = DistributionStrategy.Name(train.train_distribute)
    if train.sync_replicas and strategy != "NoStrategy":
        problems.add("train_config.sync_replicas", f"true needs train_distribute NoStrategy "
                     f"(EasyRec's parameter-server mode), got {strategy}")
    if strategy not in SUPPORTED_STRATEGIES:
        problems.add("train_config.train_distribute", f"{strategy} is not supported: mx_rec "
                     f"trains in one process ({', '.join(SUPPORTED_STRATEGIES)}); several ranks "
                     "(Horovod) come with the multi-rank issue")
    clip = train.gradient_clipping_by_norm
    if not (math.isfinite(clip) and clip >= 0):
        problems.add("train_config.gradient_clipping_by_norm", "must be a finite number >= 0 "
                     "(0: no clipping)")
    if train.fine_tune_ckpt_var_map:
        if not train.fine_tune_checkpoint:
            problems.add("train_config.fine_tune_ckpt_var_map", "needs fine_tune_checkpoint: "
                         "the checkpoint its names refer to")
        if not os.path.isfile(train.fine_tune_ckpt_var_map):
            problems.add("train_config.fine_tune_ckpt_var_map",
                         f"{train.fine_tune_ckpt_var_map!r} is not a file")
    problems.raise_if_any()
