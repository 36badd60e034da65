"""Read an HCCL-style rank table file for its rank count only.

The example runs one process; the file (see rank_table_1p.json) is read only
to learn how many ranks it describes. A missing path means "no rank table"
(one rank), as when running without one.
"""
import json
import os


def rank_count(path):
    if not path or not os.path.exists(path):
        return 1
    with open(path, "r") as f:
        table = json.load(f)
    ranks = 0
    for server in table.get("server_list", []):
        ranks += len(server.get("device", []))
    if ranks == 0:
        raise ValueError("rank table %s lists no devices" % path)
    return ranks
