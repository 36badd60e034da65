"""Read an HCCL-style rank table file for its rank count only.

The examples run one process; the file (see examples/dlrm/rank_table_1p.json)
is read only to learn how many ranks it describes. A missing path means "no
rank table" (one rank), as when running without one.

    python rank_table.py FILE   # prints the rank count; exit 2 and why if unreadable
"""
import json
import os
import sys


def rank_count(path):
    """Devices listed by the rank table at path (1 without one); ValueError
    naming the file when it is not a rank table."""
    if not path or not os.path.exists(path):
        return 1
    try:
        with open(path, "r") as f:
            table = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError("rank table %s is not valid JSON: %s" % (path, e)) from None
    servers = table.get("server_list") if isinstance(table, dict) else None
    if not isinstance(servers, list):
        raise ValueError("rank table %s has no \"server_list\" list" % path)
    ranks = 0
    for server in servers:
        devices = server.get("device") if isinstance(server, dict) else None
        if not isinstance(devices, list):
            raise ValueError("rank table %s: a server_list entry has no \"device\" list" % path)
        ranks += len(devices)
    if ranks == 0:
        raise ValueError("rank table %s lists no devices" % path)
    return ranks


if __name__ == "__main__":
    try:
        print(rank_count(sys.argv[1]))
    except (ValueError, OSError) as e:
        sys.exit("error: %s" % e)
