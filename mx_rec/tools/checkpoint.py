"""Lists, inspects and verifies the checkpoints of a model directory.

  python -m mx_rec.tools.checkpoint list DIR      one line per version
  python -m mx_rec.tools.checkpoint inspect DIR   its tables: rows, schema, files
  python -m mx_rec.tools.checkpoint verify DIR    sizes and CRC-32 of every file

DIR is a checkpoint directory (model_dir) or one TF checkpoint prefix
(e.g. model_dir/model.ckpt-100). verify exits 0 when every table directory
the versions name (delta chains included) is whole, 1 otherwise; usage
errors exit 2.
"""

import argparse
import collections
import os
import re
import sys
import time

from mx_rec.checkpoint import manifest as mf

# One table of a version: its manifest, or the error reading it.
Table = collections.namedtuple("Table", "name entry directory manifest error")


class UsageError(Exception):
    pass


def resolve_versions(path):
    """The versions DIR names: all of a directory's, or the one prefix."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        versions = mf.find_versions(path)
        if not versions:
            raise UsageError(f"'{path}' holds no TF checkpoint (no *.index file, nothing in a "
                             "'checkpoint' file)")
        return versions
    prefix = re.sub(r"\.(index|meta|data-\d+-of-\d+)$", "", path)
    if os.path.exists(prefix + ".index"):
        listed = prefix in mf.state_prefixes(os.path.dirname(prefix))
        return [mf.Version(prefix, mf.step_of(prefix), True, listed)]
    if not os.path.exists(path):
        raise UsageError(f"'{path}' does not exist")
    raise UsageError(f"'{path}' is neither a checkpoint directory nor a TF checkpoint prefix "
                     f"(no '{prefix}.index')")


def load_tables(version):
    """(tables, error) of a version; error when its TF checkpoint is unreadable."""
    if not version.has_index:
        return [], (f"'{version.prefix}.index' is missing (the 'checkpoint' file lists this "
                    "version)")
    try:
        entries = mf.table_entries(version.prefix)
    except ValueError as e:
        return [], str(e)
    tables = []
    for name, entry in entries.items():
        directory = None
        try:
            directory = mf.table_dir(version.prefix, entry)
            tables.append(Table(name, entry, directory, mf.read_manifest(directory), None))
        except ValueError as e:
            tables.append(Table(name, entry, directory, None, f"table '{name}': {e}"))
    return tables, None


def human_size(size):
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}"
    return None  # not reached


def plural(n, one, many=None):
    return f"{n} {one if n == 1 else many or one + 's'}"


def disk_size(version, tables):
    """Bytes of the version's TF files and its own table directories."""
    directory, base = os.path.split(version.prefix)
    paths = [os.path.join(directory, n) for n in os.listdir(directory)
             if n.startswith(base + ".") and re.fullmatch(r"\.(index|meta|data-.*)",
                                                          n[len(base):])]
    for table in tables:
        if table.directory and os.path.isdir(table.directory):
            paths += [e.path for e in os.scandir(table.directory) if e.is_file()]
    return sum(os.path.getsize(p) for p in paths)


def version_time(version, tables):
    stamps = [t.manifest["created_unix"] for t in tables
              if t.manifest and isinstance(t.manifest.get("created_unix"), (int, float))]
    if stamps:
        stamp = max(stamps)
    elif version.has_index:
        stamp = os.path.getmtime(version.prefix + ".index")
    else:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def version_step(version, tables):
    if version.step is not None:
        return str(version.step)
    steps = {t.manifest.get("global_step") for t in tables if t.manifest}
    return str(steps.pop()) if len(steps) == 1 else "-"


def cmd_list(versions, out):
    rows = [("PREFIX", "STEP", "TIME", "KIND", "TABLES", "ROWS", "SIZE")]
    for version in versions:
        tables, error = load_tables(version)
        if error:
            rows.append((version.prefix, version_step(version, []), version_time(version, []),
                         "?", "?", "?", "?"))
            continue
        readable = [t.manifest for t in tables if t.manifest]
        kinds = sorted({m["kind"] for m in readable}) + (["?"] if len(readable) < len(tables)
                                                         else [])
        total = str(sum(m["rows"] for m in readable)) if len(readable) == len(tables) else "?"
        rows.append((version.prefix, version_step(version, tables),
                     version_time(version, tables), ",".join(kinds) or "-", str(len(tables)),
                     total, human_size(disk_size(version, tables))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) if i in (0, 2, 3) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=out)
    return 0


def cmd_inspect(versions, out):
    for version in versions:
        tables, error = load_tables(version)
        print(f"{version.prefix}: step {version_step(version, tables)}, "
              f"{version_time(version, tables)}, {plural(len(tables), 'table')}", file=out)
        if error:
            print(f"  {error}", file=out)
        for table in tables:
            m = table.manifest
            if m is None:
                print(f"  table '{table.name}': {table.entry}\n    {table.error}", file=out)
                continue
            print(f"  table '{table.name}': {table.entry} ({m['kind']})", file=out)
            print(f"    rows {m['rows']}, admission records {m['admission_records']}"
                  + (f", tombstones {m['tombstones']}" if "tombstones" in m else "")
                  + f", global step {m.get('global_step', '?')}", file=out)
            schema = m["schema"]
            blocks = ", ".join(f"{b['name']}[{b['width']}]" for b in schema["blocks"])
            print(f"    schema: key {schema['key_dtype']}, dim {schema['dim']}, "
                  f"blocks {blocks}", file=out)
            if m.get("chain"):
                print(f"    chain: {', '.join(m['chain'])}", file=out)
            print("    files:", file=out)
            width = max([len(f["name"]) for f in m["files"]] + [0])
            for f in m["files"]:
                print(f"      {f['name'].ljust(width)}  {f['bytes']:>12} bytes  "
                      f"crc32 {f['crc32']:08x}", file=out)
    return 0


def verify_version(version, checked):
    """Problems of one version; `checked` caches {table dir: problems}."""
    tables, error = load_tables(version)
    if error:
        return [error]
    problems = []
    for table in tables:
        if table.directory is None:
            problems.append(table.error)
            continue
        if table.directory not in checked:
            checked[table.directory] = mf.verify_table_dir(table.directory)
        if not checked[table.directory] and table.manifest["table"] != table.name:
            problems.append(f"'{table.directory}/manifest.json' is of table "
                            f"'{table.manifest['table']}', the TF checkpoint's '{table.name}'")
        problems += [f"table '{table.name}': {p}" for p in checked[table.directory]]
        if table.manifest is None:
            continue
        for i, link in enumerate(mf.chain_dirs(table.directory, table.manifest)):
            if link not in checked:
                checked[link] = mf.verify_table_dir(link)
                want = "full" if i == 0 else "delta"
                if not checked[link] and mf.read_manifest(link)["kind"] != want:
                    checked[link] = [f"'{link}/manifest.json' is not a {want} checkpoint"]
            problems += [f"table '{table.name}': delta '{table.directory}' builds on '{link}': "
                         f"{p}" for p in checked[link]]
    return problems


def cmd_verify(versions, out):
    checked = {}
    failed = 0
    for version in versions:
        problems = verify_version(version, checked)
        if not problems:
            print(f"{version.prefix}: OK", file=out)
        for problem in problems:
            print(f"{version.prefix}: {problem}", file=out)
        failed += bool(problems)
    print(f"{len(versions) - failed} of {plural(len(versions), 'version')} OK" if failed else
          f"OK: {plural(len(versions), 'version')}, "
          f"{plural(len(checked), 'table directory', 'table directories')} verified", file=out)
    return 1 if failed else 0


COMMANDS = {"list": cmd_list, "inspect": cmd_inspect, "verify": cmd_verify}


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m mx_rec.tools.checkpoint",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("dir", metavar="DIR",
                        help="checkpoint directory (model_dir) or one TF checkpoint prefix")
    args = parser.parse_args(argv)
    try:
        versions = resolve_versions(args.dir)
    except UsageError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](versions, out)


if __name__ == "__main__":
    sys.exit(main())
