"""Output: rich text for people, one JSON object per line (with ``message_type``) for machines."""

from __future__ import annotations

import dataclasses
import json
import stat
import sys
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from s3vault import Node, NodeType, ObjectId, SnapshotEntry, readable
from s3vault.cli.context import CliContext


def to_jsonable(value: Any) -> Any:
    """Records, ids, enums, bytes and times as JSON values."""
    if isinstance(value, ObjectId):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):  # never a Python repr in JSON: seconds, as elsewhere
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):  # a name's bytes that are no UTF-8 reached stdout raw
        return value if value.isascii() else readable(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def emit(ctx: CliContext, message_type: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    obj = {"message_type": message_type, **{k: to_jsonable(v) for k, v in fields.items()}}
    sys.stdout.write(json_line(obj, sys.stdout))
    sys.stdout.flush()


def json_line(obj: Any, stream: TextIO, **options: Any) -> str:
    """``obj`` as one JSON text and a line break, for ``stream``: characters as they are on a
    UTF-8 stream, escaped by JSON (``\\u00e9``) on any other, whose escapes for what it
    cannot spell (``\\xe9``) JSON does not know."""
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    return json.dumps(obj, ensure_ascii=encoding != "utf8", **options) + "\n"


def emit_message(ctx: CliContext, message_type: str, **fields: Any) -> None:
    """A JSON message that is not the command's result (status, waiting, verbose_status): on
    stdout with the others, on stderr when stdout is one restic-shaped array or data."""
    if not ctx.stdout_array:
        emit(ctx, message_type, **fields)
        return
    obj = {"message_type": message_type, **{k: to_jsonable(v) for k, v in fields.items()}}
    sys.stderr.write(json_line(obj, sys.stderr))


def emit_array(items: list[Any]) -> None:
    """One JSON array on stdout: the shape restic prints for the commands whose counterpart
    prints one (``snapshots``, ``key list``), so ``… --json | jq '.[]'`` scripts keep working."""
    sys.stdout.write(json_line(to_jsonable(items), sys.stdout))
    sys.stdout.flush()


def emit_error(message: str, exit_code: int) -> None:
    """An error as one JSON line on stderr."""
    obj = {"message_type": "error", "message": to_jsonable(message), "exit_code": exit_code}
    sys.stderr.write(json_line(obj, sys.stderr))


def human_bytes(n: float) -> str:
    """Sizes with three significant digits or more: ``512 B``, ``1.50 KiB``, ``15.2 MiB``,
    ``152 GiB`` (restic prints ``1.500 KiB``: more digits than anyone reads)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            digits = 0 if unit == "B" or abs(n) >= 100 else 1 if abs(n) >= 10 else 2
            return f"{n:.{digits}f} {unit}"
        n /= 1024
    return f"{n:.0f} B"  # not reached: PiB takes any size


_DURATION_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 file``, ``2 files``, ``0 files`` (``words``: an irregular plural)."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def human_elapsed(seconds: float) -> str:
    """How long a command took: ``0.41 s`` under a minute, else in words (``1 hour 2
    minutes``)."""
    return f"{seconds:.2f} s" if seconds < 60 else human_duration(seconds)


def human_duration(seconds: float, *, parts: int = 2) -> str:
    """A duration in words, its ``parts`` largest units: ``1 day``, ``6 months``,
    ``2 hours 5 minutes``, ``45 seconds``; under a second in its fraction (``0.5 seconds``:
    ``--grace 0.5s`` showed as "0 seconds"), never a Python ``timedelta`` such as
    ``0:00:05``. Months are 30 days, years 365 (as the retention flags read them)."""
    if 0 < seconds < 0.9995:  # to the millisecond (0.999 said "1 seconds")
        fraction = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return "0 seconds" if fraction == "0" else f"{fraction} seconds"
    left = max(0, round(seconds))
    if left == 0:
        return "0 seconds"
    words: list[str] = []
    for name, size in _DURATION_UNITS:
        count, left = divmod(left, size)
        if count:
            words.append(plural(count, name))
        elif words:
            break  # "1 day 5 seconds" says less than "1 day"
        if len(words) == parts:
            break
    return " ".join(words)


def print_table(ctx: CliContext, table: Table) -> None:
    """A table for people: on a terminal fitted to its width; elsewhere (a pipe, a file, cron
    mail) at its natural width, so no id or path is ever wrapped or cut mid-word, whatever
    COLUMNS says."""
    if ctx.out.is_terminal:
        ctx.out.print(table)
        return
    wide = Console(file=ctx.out.file, width=TABLE_WIDTH_OFF_TERMINAL, highlight=False, emoji=False)
    wide.print(table, crop=False)


TABLE_WIDTH_OFF_TERMINAL = 10_000  # columns: wider than any table's natural width


def cells(*values: str) -> list[Text]:
    """Table cells shown as they are, never read as rich markup: a path ``/srv/[backup]`` or
    a tag ``[/x]`` is text, not a style or a markup error. Pass stored strings through
    ``printable`` first (a cell may hold several, one per line)."""
    return [Text(v) for v in values]


def printable(text: str) -> str:
    """A stored string (a file name, path, tag, host or user name: what the backed-up host or
    a put-only writer chose) as it can safely go to a terminal or a line-oriented pipe: every
    control character, line breaks and escape sequences included, is shown as a Python-style
    escape (``\\x1b``, ``\\n``), so no name moves the cursor, clears the screen or passes for
    a second line; everything else is kept. JSON output needs none of this (it escapes)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    """``\\xNN`` below 80, ``\\uNNNN`` above, ``\\UNNNNNNNN`` beyond the first plane (as
    Python spells them; an unassigned U+40000 was shown ``\\u40000``, read back as U+4000 and
    a zero): ``\\x85`` is how ``ls`` shows the byte 85 of a name that is no UTF-8
    (format/codec.py ``readable``), so the character U+0085 of one that is must be shown
    otherwise (``\\u0085``), or the two read back alike."""
    code = ord(ch)
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def say(ctx: CliContext, text: str) -> None:
    """A line for people (nothing with --json or --quiet): see ``line``."""
    if not ctx.json and not ctx.quiet:
        line(ctx, text)


def show(ctx: CliContext, text: str) -> None:
    """A line of what the command was asked to show (ls's paths, find's matches, stats, key
    list): nothing with --json, but printed with --quiet, which silences the rest (as restic's
    -q: `ls -q latest > manifest` wrote an empty manifest, exit 0)."""
    if not ctx.json:
        line(ctx, text)


def line(ctx: CliContext, text: str) -> None:
    """A line on standard output, written as it is: no markup, no emoji codes (a file named
    ``:smile:`` is listed as that), and none of rich's rendering, which cost ``ls`` of 31,000
    files 1.7 of its 2.5 seconds."""
    ctx.out.file.write(text + "\n")


def warn(ctx: CliContext, path: str, message: str) -> None:
    """A non-fatal problem: JSON line (on stderr when stdout is one restic-shaped array), or a
    line on stderr."""
    if ctx.json and ctx.stdout_array:
        obj = {
            "message_type": "warning",
            "item": to_jsonable(path),
            "message": to_jsonable(message),
        }
        sys.stderr.write(json_line(obj, sys.stderr))
    elif ctx.json:
        emit(ctx, "warning", item=path, message=message)
    else:
        ctx.err.print(f"warning: {printable(path)}: {printable(message)}", markup=False)


class Unreadable:
    """Collects the parts of a snapshot a look-inside command could not read (``on_error`` of
    ls, find, diff): each is a warning at once; the command then exits 13 with the fix."""

    def __init__(self, ctx: CliContext) -> None:
        self._ctx = ctx
        self.count = 0

    def __call__(self, where: str, reason: str) -> None:
        self.count += 1
        warn(self._ctx, where, reason)

    def exit_code(self) -> int:
        """0, or 13 after a line that says what to run."""
        if not self.count:
            return 0
        if not self._ctx.json:
            self._ctx.err.print(
                f"{plural(self.count, 'part')} could not be read: "
                "`s3vault verify` names the damage and its fix "
                "(`s3vault repair snapshots` rewrites snapshots without what is lost)",
                markup=False,
            )
        return 13


def show_recovery_key(ctx: CliContext, text: str) -> None:
    """The recovery key, once, with what to do with it (shown even with --quiet)."""
    ctx.out.print(
        "Recovery key: it opens this repository when every password is lost. It is shown "
        "only now; keep it offline (paper, a safe), never beside the data:\n"
        f"    {text}\n"
        "Use it with --recovery-key-file FILE.",
        highlight=False,
        soft_wrap=True,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def node_time(mtime_ns: int) -> datetime | None:
    """A node's time to the microsecond below it, as restic shows it (exact: through a float
    of seconds it came out a microsecond off now and then), or None where a date cannot say
    it (a forged or damaged node's 2^80 ns: `ls -l` and `ls --json` ended in an internal
    error on it)."""
    try:
        return _EPOCH + timedelta(microseconds=mtime_ns // 1000)
    except OverflowError:
        return None


def node_iso(ns: int) -> str | None:
    """A node's time as restic's JSON spells it: RFC 3339 to the nanosecond, trailing zeros
    dropped (Go's RFC3339Nano), in UTC; None where a date cannot say it. It was cut to the
    microsecond, so a script comparing restic's times with ours saw them differ (an attack
    pass, 2026-12-07)."""
    seconds, fraction = divmod(ns, 10**9)
    try:
        when = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None
    text = when.replace(tzinfo=None).isoformat(timespec="seconds")
    return text + (f".{fraction:09d}".rstrip("0") if fraction else "") + "Z"


def json_name(raw: bytes) -> str:
    """A name or path in a node's JSON as restic writes it: the name itself, a byte that is
    no UTF-8 as U+FFFD (Go's encoding/json does so). Listings' ``\\\\`` and ``\\xNN`` are for
    lines a person reads: ``jq -r .path`` got a doubled backslash, a path that is not on disk
    (an attack pass, 2026-12-07)."""
    return raw.decode("utf-8", "replace")


def long_entry(path: str, node: Node) -> str:
    """An entry as restic's ``ls -l`` shows it: Go's mode string (``L`` for a link, as in
    ``ls --json``), uid, gid, size, local time, path (and a link's target). A script's
    ``awk '{print $4}'`` is the size in both: user/group in one column and ``l`` for a link
    told them apart (an attack pass, 2026-12-07)."""
    target = node.link_target.decode(errors="backslashreplace") if node.link_target else ""
    link = f" -> {printable(target)}" if target else ""
    mtime = node_time(node.mtime_ns)
    when = f"{mtime.astimezone():%Y-%m-%d %H:%M:%S}" if mtime else "?" * 19
    ids = f"{node.uid:5d} {node.gid:5d} {node.size:6d}"
    return f"{go_permissions(node)} {ids} {when} {printable(path)}{link}"


def snapshot_json(e: SnapshotEntry) -> dict[str, object]:
    """restic's snapshot object (``snapshots --json``, ``ls --json``'s first line):
    ``original`` is the id of the snapshot this one replaces or copies, left out when there is
    none (a ``jq '.original // .id'`` script took our "" for one, and our "<repository
    id>:<snapshot id>" for an id); the repository it is in is ``original_repository``."""
    obj = {"id": e.id.hex(), "short_id": e.id.short, **to_jsonable(e.snapshot)}
    repository, _, original = str(obj.pop("original", "")).rpartition(":")
    if original:
        obj["original"] = original
        obj["original_repository"] = repository
    return obj


# Go's os.FileMode bits for a node's type and special bits (restic's ``ls --json`` ``mode``)
_GO_TYPE = {
    NodeType.DIR: 1 << 31,
    NodeType.SYMLINK: 1 << 27,
    NodeType.BLOCKDEV: 1 << 26,
    NodeType.FIFO: 1 << 25,
    NodeType.SOCKET: 1 << 24,
    NodeType.CHARDEV: (1 << 26) | (1 << 21),
}
_GO_SPECIAL = ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20))


def restic_type(node: Node) -> str:
    """A node's ``type`` as restic's JSON names it: ours, but a block device is ``dev``."""
    return "dev" if node.type is NodeType.BLOCKDEV else node.type.value


def go_file_mode(node: Node) -> int:
    """A node's mode as restic's ``ls --json`` ``mode`` holds it: Go's ``os.FileMode`` (the
    permission bits, with the type and the setuid, setgid and sticky bits as Go numbers them:
    a directory 0755 is 2147484141)."""
    mode = (node.mode & 0o777) | _GO_TYPE.get(node.type, 0)
    for unix, go in _GO_SPECIAL:
        if node.mode & unix:
            mode |= go
    return mode


def go_permissions(node: Node) -> str:
    """A node's mode as restic's ``ls --json`` ``permissions`` shows it (Go's
    ``FileMode.String``): the letters of its type and special bits in Go's order (d, L, D, p,
    S, u, g, c, t; ``-`` for none), then ``rwx`` three times."""
    kind = node.type
    letters = "".join(
        letter
        for letter, present in (
            ("d", kind is NodeType.DIR),
            ("L", kind is NodeType.SYMLINK),
            ("D", kind in (NodeType.BLOCKDEV, NodeType.CHARDEV)),
            ("p", kind is NodeType.FIFO),
            ("S", kind is NodeType.SOCKET),
            ("u", bool(node.mode & stat.S_ISUID)),
            ("g", bool(node.mode & stat.S_ISGID)),
            ("c", kind is NodeType.CHARDEV),
            ("t", bool(node.mode & stat.S_ISVTX)),
        )
        if present
    )
    bits = "".join(
        char if node.mode & (1 << (8 - i)) else "-" for i, char in enumerate("rwxrwxrwx")
    )
    return (letters or "-") + bits
