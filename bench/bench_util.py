"""Helpers shared by the benches that run each measurement in a worker subprocess
(dlrm_bench.py, checkpoint_bench.py).

A worker prints its result as one line "RESULT <json>" on stdout (emit_result);
the parent runs it and parses that line (run_worker, spawn_worker).
"""

import json
import subprocess
import sys
import time

_PREFIX = "RESULT "


def emit_result(res):
    """Prints a worker's result (a JSON-serialisable dict) for the parent."""
    sys.stdout.flush()
    print(_PREFIX + json.dumps(res))


def run_worker(cmd, env=None):
    """Runs worker command `cmd`; returns (its result dict or None, the CompletedProcess)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       check=False)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith(_PREFIX):
            res = json.loads(line[len(_PREFIX):])
    return res, p


def stderr_tail(p, lines):
    """The last `lines` lines of a CompletedProcess's stderr."""
    return "\n".join(p.stderr.strip().splitlines()[-lines:])


def spawn_worker(cmd, label, env=None, tail=15):
    """Runs worker `cmd`; returns (result, wall seconds). On no result or a result
    with "error", prints "[label] FAILED" with the last `tail` lines of its stderr
    and returns (None, wall seconds)."""
    t = time.time()
    res, p = run_worker(cmd, env)
    if res is None or "error" in res:
        err = res["error"] if res else "exit code %d" % p.returncode
        print("  [%s] FAILED: %s\n%s" % (label, err, stderr_tail(p, tail)))
        return None, time.time() - t
    return res, time.time() - t


def git_rev(repo):
    """Short HEAD of the git checkout `repo`, "+ uncommitted changes" if tracked files
    changed; "unknown" outside git."""
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg prints them."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
