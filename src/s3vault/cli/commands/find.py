"""s3vault find."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import click

from s3vault import (
    FindIdsOptions,
    FindIdsResult,
    FindOptions,
    FindResult,
    IdMatch,
    LsEntry,
    Node,
    SnapshotFilter,
    TagList,
    UsageError,
    find_ids,
    wanted,
)
from s3vault import find as find_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import Timestamp, cli_context, global_options, tag_filter
from s3vault.cli.render import (
    Unreadable,
    emit,
    go_file_mode,
    go_permissions,
    human_bytes,
    json_name,
    long_entry,
    node_iso,
    plural,
    printable,
    restic_type,
    show,
    warn,
)
from s3vault.cli.session import open_repo


def _mtime(node: Node) -> str | None:
    return node_iso(node.mtime_ns)


@click.command()
@global_options
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN...")
@click.option(
    "-s",
    "--snapshot",
    "refs",
    multiple=True,
    metavar="ID",
    help="Only this snapshot (an id prefix, latest or latest~N; repeatable)",
)
@click.option("-H", "--host", "hosts", multiple=True, help="Only snapshots of this host")
@tag_filter
@click.option("--path", "paths", multiple=True, help="Only snapshots of this path")
@click.option("-i", "--ignore-case", is_flag=True, help="Match regardless of case")
@click.option(
    "-O", "--oldest", type=Timestamp(), help="Only entries modified at or after this time"
)
@click.option("-N", "--newest", type=Timestamp(), help="Only entries modified at or before it")
@click.option("-l", "--long", "long_", is_flag=True, help="Show mode, owner, size and time")
@click.option("--blob", is_flag=True, help="PATTERN is a data blob id (or prefix)")
@click.option("--tree", is_flag=True, help="PATTERN is a tree id (or prefix)")
@click.option("--pack", is_flag=True, help="PATTERN is a pack id (or prefix): its blobs")
@click.option("--show-pack-id", is_flag=True, help="With --blob or --tree: the packs holding it")
def find(
    patterns: tuple[str, ...],
    refs: tuple[str, ...],
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
    ignore_case: bool,
    oldest: datetime | None,
    newest: datetime | None,
    long_: bool,
    blob: bool,
    tree: bool,
    pack: bool,
    show_pack_id: bool,
) -> int:
    """Find files by PATTERN in snapshots: a glob on the name (*.conf), or on the whole path
    if it has a / (/etc/*/nginx.conf). --oldest and --newest (a date, or a date and time in
    local time, as restic's) keep the entries modified in that period. With --blob, --tree
    or --pack the PATTERNs are ids (or id prefixes), and find names the files and
    directories that use those blobs, trees or packs' blobs (after a damaged or missing pack:
    what it takes with it)."""
    ctx = cli_context()
    picked = SnapshotFilter(hosts=hosts, tags=tags, paths=paths)
    kinds = [k for k, given in (("blob", blob), ("tree", tree), ("pack", pack)) if given]
    if len(kinds) > 1:
        raise UsageError("find: --blob, --tree and --pack exclude each other")
    if kinds:
        kind = kinds[0]
        if ignore_case or oldest or newest:
            msg = "find: --ignore-case, --oldest and --newest apply to patterns, not to ids"
            raise UsageError(msg)
        ids = FindIdsOptions(kind=kind, ids=patterns, snapshots=refs, filter=picked)
        return _by_id(ctx, ids, show_pack_id or kind == "pack", long_)
    if show_pack_id:
        raise UsageError("find: --show-pack-id goes with --blob, --tree or --pack")
    repo = open_repo(ctx, load_index=True)
    options = FindOptions(
        patterns=patterns,
        snapshots=refs,
        filter=picked,
        ignore_case=ignore_case,
        oldest=oldest,
        newest=newest,
    )
    unreadable = Unreadable(ctx)

    def line(m: LsEntry) -> str:
        if long_:
            return long_entry(m.path, m.node)
        return f"{printable(m.path)}  ({m.node.type.value}, {human_bytes(m.node.size)})"

    _report(ctx, find_op(repo, options, on_error=unreadable), _fields, line)
    return unreadable.exit_code()


def _fields(m: LsEntry) -> dict[str, object]:
    """A match: path, type, size and mtime, and restic's node fields (``find --json``'s
    ``permissions``, ``mode`` as Go's FileMode, ``atime``, ``ctime``, owner, ``links``,
    ``linktarget``) under restic's names."""
    n = m.node
    fields: dict[str, object] = {
        "path": json_name(m.raw),  # restic's: the path itself (render.json_name)
        "type": restic_type(n),  # restic's names: a block device is "dev"
        "size": n.size,
        "mtime": _mtime(n),
        "permissions": go_permissions(n),
        "mode": go_file_mode(n),
        "atime": node_iso(n.atime_ns) if n.atime_ns else _mtime(n),  # restic's: the mtime
        "ctime": node_iso(n.ctime_ns),
        "uid": n.uid,
        "gid": n.gid,
        "user": n.user,
        "group": n.group,
        "links": n.links,
    }
    if n.link_target is not None:
        fields["linktarget"] = json_name(n.link_target)
    return fields


def _report(
    ctx: CliContext,
    results: Iterable[FindResult | FindIdsResult],
    as_json: Callable[[Any], dict[str, object]],
    as_line: Callable[[Any], str],
) -> None:
    """Each snapshot's matches (a heading, then a line each; or one JSON message), then the
    counts."""
    snapshots = matches = 0
    for result in results:
        snap = result.snapshot
        snapshots += 1
        matches += len(result.matches)
        if ctx.json:
            emit(
                ctx,
                "matches",
                snapshot_id=snap.id,
                time=snap.snapshot.time,
                hostname=snap.snapshot.hostname,
                matches=[as_json(m) for m in result.matches],
                hits=len(result.matches),  # restic's two names for the count and the id
                snapshot=snap.id,
            )
            continue
        when = snap.snapshot.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        show(ctx, f"snapshot {snap.id.short} of {printable(snap.snapshot.hostname)} at {when}:")
        for m in result.matches:
            show(ctx, f"  {as_line(m)}")
    if ctx.json:
        emit(ctx, "summary", snapshots=snapshots, matches=matches)
    else:
        show(ctx, f"{plural(matches, 'match', 'matches')} in {plural(snapshots, 'snapshot')}")


def _by_id(ctx: CliContext, options: FindIdsOptions, packs: bool, long_: bool) -> int:
    """find --blob, --tree or --pack."""
    repo = open_repo(ctx, load_index=True)
    want = wanted(repo, options)
    noun = {"blob": "data blob", "tree": "tree", "pack": "pack"}[options.kind]
    for prefix in want.unknown:
        warn(ctx, prefix, f"no {noun} in the index has an id starting so")
    unreadable = Unreadable(ctx)
    results = find_ids(repo, options, want, on_error=unreadable)
    _report(ctx, results, _id_fields, lambda m: _id_line(m, packs, long_))
    return unreadable.exit_code()


def _id_fields(m: IdMatch) -> dict[str, object]:
    node = m.node
    return {
        "path": m.path,
        "type": node.type.value if node is not None else "dir",
        "size": node.size if node is not None else 0,
        "mtime": _mtime(node) if node is not None else None,
        "object_type": m.btype.value,
        "object_id": m.id.hex(),
        "pack_ids": [p.hex() for p in m.packs],
    }


def _id_line(m: IdMatch, packs: bool, long_: bool) -> str:
    what = f"{'data blob' if m.btype.value == 'data' else 'tree'} {m.id.short}"
    where = ""
    if packs:
        where = f" in pack {', '.join(p.short for p in m.packs)}" if m.packs else " in no pack"
    if long_ and m.node is not None:
        return f"{long_entry(m.path, m.node)}  ({what}{where})"
    return f"{printable(m.path)}  ({what}{where})"
