"""Helpers shared by the benches that run each measurement in a worker subprocess
(dlrm_bench.py, checkpoint_bench.py, export_bench.py).

A worker prints its result as one line "RESULT <json>" on stdout (emit_result);
the parent runs it and parses that line (run_worker, spawn_worker). Phase times
a block in wall and CPU seconds; rss / rss_peak / reset_rss_peak read the
process's memory; distinct_keys makes the big benches' int64 keys.
"""

import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

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


def lib_sums(repo):
    """"libasc.so <sha1[:12]>, libasc_tf_ops.so <sha1[:12]>": which build of
    `repo`'s libraries a run used."""
    out = []
    for name in ("libasc.so", "libasc_tf_ops.so"):
        p = os.path.join(repo, "mx_rec", "libasc", name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out.append("%s %s" % (name, hashlib.sha1(f.read()).hexdigest()[:12]))
    return ", ".join(out)


def fs_of(path):
    """(device, file system type, free bytes) of the file system holding `path`."""
    p = subprocess.run(["df", "--output=source,fstype,avail", "-B1", path], capture_output=True,
                       text=True, check=False)
    lines = p.stdout.strip().splitlines()
    if len(lines) < 2:
        return "?", "?", 0
    src, fstype, avail = lines[-1].split()
    return src, fstype, int(avail)


def files_under(path):
    """Every file under directory `path` (or [path] for a file)."""
    if os.path.isfile(path):
        return [path]
    out = []
    for root, _, files in os.walk(path):
        out.extend(os.path.join(root, f) for f in files)
    return out


def _cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime, r.ru_stime


class Phase:
    """Wall and CPU (user, system) seconds of a `with` block; of this process, or
    of its waited-for children with who=resource.RUSAGE_CHILDREN."""

    def __init__(self, who=resource.RUSAGE_SELF):
        self.who = who

    def __enter__(self):
        self._c = _cpu(self.who)
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._t
        c = _cpu(self.who)
        self.user = c[0] - self._c[0]
        self.sys = c[1] - self._c[1]
        self.cpu = self.user + self.sys

    def as_dict(self):
        # t0, t1: CLOCK_MONOTONIC, to cut a `perf record -k CLOCK_MONOTONIC` profile
        # to the phase (perf report --time t0,t1).
        return {"s": self.wall, "cpu": self.cpu, "user": self.user, "sys": self.sys,
                "t0": self._t, "t1": self._t + self.wall}


def _proc_kb(path, field):
    """Bytes of the "<field>: <n> kB" line of a /proc file (0 if absent)."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss():
    """Resident bytes of this process now."""
    return _proc_kb("/proc/self/status", "VmRSS")


def rss_peak():
    """Peak resident bytes of this process (since it started or reset_rss_peak())."""
    return _proc_kb("/proc/self/status", "VmHWM")


def reset_rss_peak():
    """Makes rss_peak() start again from the current RSS (Linux clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def mem_available():
    """MemAvailable of /proc/meminfo, bytes."""
    return _proc_kb("/proc/meminfo", "MemAvailable")


def keys_at(ranks):
    """Rank (int array) -> non-negative int64 key scattered over int64: splitmix64
    of rank + 1 (a bijection) with the sign bit cleared, so distinct ranks give
    distinct keys but for a ~n^2/2^64 chance."""
    z = (np.asarray(ranks, np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(0x7FFFFFFFFFFFFFFF)).astype(np.int64)


def distinct_keys(start, n):
    """keys_at(start .. start + n - 1)."""
    return keys_at(np.arange(start, start + n, dtype=np.uint64))
