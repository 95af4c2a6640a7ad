"""Every format record round-trips through its codec, and malformed input is refused."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from datetime import UTC

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from s3vault.backend.dialect import CHECKSUM_MODES, CREATE_ONLY, StoreDialect
from s3vault.errors import FormatVersionError, IntegrityError, NotARepositoryError
from s3vault.format import codec
from s3vault.format.configfile import ConfigFile, ConfigMarker, KeyEpoch
from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexFile
from s3vault.format.keyfile import KdfSpec, KeyFile, KeyPayload, Sealed
from s3vault.format.layout import ObjectKind, object_name, parse_name
from s3vault.format.ledgerfile import LedgerFile, Proof
from s3vault.format.packfile import PackEntry, decode_header, encode_header
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Tree
from s3vault.ids import ObjectId
from tests import strategies as s


@given(s.trees)
def test_a_node_pickles_as_its_values_and_back(tree: Tree) -> None:
    """What a backup worker sends its parent for the files of a directory with subdirectories."""
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        again = pickle.loads(pickle.dumps(list(tree.nodes), protocol))
        assert again == list(tree.nodes)
        assert [hash(n) for n in again] == [hash(n) for n in tree.nodes]


@given(s.trees)
def test_tree_round_trips(tree: Tree) -> None:
    assert Tree.decode(tree.encode()) == tree


@given(s.trees)
def test_tree_encoding_is_canonical(tree: Tree) -> None:
    shuffled = Tree(nodes=tuple(reversed(tree.nodes)))
    assert shuffled.encode() == tree.encode()


GOOD_NODE = {"name": "f", "type": "file", "size": 3, "content": ["ab" * 32]}


@pytest.mark.parametrize(
    "change",
    [
        {"size": True},  # a bool is not an integer
        {"mtime_ns": "1"},
        {"content": "ab" * 32},
        {"content": ["zz" * 32]},
        {"content": [7]},
        {"content": ["ab" * 31]},  # 31 bytes
        {"content_hash": None},
        {"subtree": 5},
        {"type": "pipe-dream"},
        {"xattrs": [["a"]]},
    ],
)
def test_a_malformed_tree_node_is_refused(change: dict[str, object]) -> None:
    good = codec.dumps({"v": 1, "nodes": [GOOD_NODE]})
    assert Tree.decode(good).nodes[0].size == 3
    bad = codec.dumps({"v": 1, "nodes": [{**GOOD_NODE, **change}]})
    with pytest.raises(IntegrityError):
        Tree.decode(bad)


@given(s.snapshots)
def test_snapshot_round_trips(snap: SnapshotFile) -> None:
    assert SnapshotFile.decode(snap.encode()) == snap


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_SNAPSHOT_FIELDS = st.sampled_from(
    [
        "time",
        "tree",
        "paths",
        "hostname",
        "username",
        "tags",
        "parent",
        "excludes",
        "program_version",
        "incomplete",
        "summary",
        "original",
    ]
)
_TIMES = st.sampled_from(
    [
        "2026-12-01T00:00:00",
        "0001-01-01T00:30:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2026-12-01T00:00:00+00:00",
        "2026-13-01T00:00:00+00:00",
    ]
)


@given(s.snapshots, _SNAPSHOT_FIELDS, _JSON | _TIMES, st.sampled_from(["files_new", "data_added"]))
def test_a_snapshot_with_any_field_replaced_decodes_whole_or_is_refused(
    snap: SnapshotFile, key: str, value: object, count: str
) -> None:
    """Whatever one field holds (a put-only host can seal any JSON as a snapshot), decode
    refuses it as damage or gives a snapshot every command can use: an aware time that
    converts to UTC, counts that are integers, text where text belongs (one that decoded and
    then failed in a comparison stopped every command, 2026-12-06)."""
    obj = json.loads(snap.encode())
    if key == "summary" and isinstance(value, int | float | str | list):
        obj["summary"][count] = value
    else:
        obj[key] = value
    try:
        got = SnapshotFile.decode(json.dumps(obj).encode())
    except (IntegrityError, FormatVersionError):
        return
    got.time.astimezone(UTC)
    assert got.time < snap.time or got.time >= snap.time  # comparable with a sound one
    assert all(type(getattr(got.summary, k)) is int for k in ("files_new", "data_added"))
    assert all(isinstance(t, str) for t in (*got.tags, *got.paths, *got.excludes))
    assert isinstance(got.incomplete, bool) and isinstance(got.original, str)
    assert SnapshotFile.decode(got.encode()) == got


@given(s.index_files)
def test_index_round_trips(ifile: IndexFile) -> None:
    assert IndexFile.decode(ifile.encode()) == ifile


@given(s.index_files, st.sampled_from([b"", bytes(range(64))]))
def test_a_pack_pickles_as_its_index_encoding_and_back(ifile: IndexFile, sender: bytes) -> None:
    """What a backup worker sends its parent for each pack it stored."""
    for stored in ifile.packs:
        pack = dataclasses.replace(stored, sender=sender)
        for protocol in (2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
            again = pickle.loads(pickle.dumps(pack, protocol))
            assert again == pack
            assert all(type(e.id) is ObjectId for e in again.entries)


@given(s.index_files, st.data())
def test_index_truncation_is_refused(ifile: IndexFile, data: st.DataObject) -> None:
    raw = ifile.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(IntegrityError):
        IndexFile.decode(raw[:cut])


@given(st.lists(s.pack_entries, max_size=20))
def test_pack_header_round_trips(entries: list[PackEntry]) -> None:
    assert decode_header(encode_header(entries)) == entries


stores = st.one_of(
    st.just({}),
    st.builds(
        lambda c, o, m, n: StoreDialect(checksum=c, create_only=o, max_parts=m, notes=n).to_dict(),
        st.sampled_from(CHECKSUM_MODES),
        st.sampled_from(CREATE_ONLY),
        st.integers(1, 10000),
        st.lists(st.text(max_size=20), max_size=3).map(tuple),
    ),
)


epochs = st.lists(
    st.builds(
        KeyEpoch,
        epoch=st.integers(1, 65535),
        check=st.binary(min_size=32, max_size=32),
        started=st.floats(0, 2e9),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda e: e.epoch,
).map(tuple)


@given(s.ids, st.integers(1, 2**20), st.integers(0, 19), stores, epochs)
def test_config_round_trips(
    repo_id: ObjectId,
    pack_size: int,
    level: int,
    store: dict[str, object],
    key_epochs: tuple[KeyEpoch, ...],
) -> None:
    cfg = ConfigFile(
        repo_id=repo_id,
        pack_size=pack_size,
        compression_level=level,
        current_epoch=key_epochs[-1].epoch,
        epochs=key_epochs,
        created="2026-01-01T00:00:00+00:00",
        store=store,
    )
    assert ConfigFile.decode(cfg.encode()) == cfg
    if store:
        assert StoreDialect.from_dict(ConfigFile.decode(cfg.encode()).store).to_dict() == store
    marker = ConfigMarker(version=1, repo_id=repo_id, sealed=b"sealed bytes")
    assert ConfigMarker.decode(marker.encode()) == marker


def test_config_marker_refuses_foreign_json() -> None:
    with pytest.raises(NotARepositoryError):
        ConfigMarker.decode(b'{"hello": 1}')
    with pytest.raises(NotARepositoryError):
        ConfigMarker.decode(b"\x00\x01 not json")


def test_newer_format_version_is_refused_with_a_clear_message() -> None:
    raw = codec.dumps(
        {"s3vault": "s3vault repository", "v": 99, "repo_id": "00" * 32, "sealed": ""}
    )
    with pytest.raises(FormatVersionError, match="upgrade s3vault"):
        ConfigMarker.decode(raw)


@given(
    s.ids,
    s.ids,
    st.binary(min_size=16, max_size=16),
    st.binary(max_size=80),
    st.sampled_from(["password", "recovery", "kms"]),
    st.text(max_size=20),
)
def test_keyfile_round_trips(
    kid: ObjectId, rid: ObjectId, salt: bytes, ct: bytes, kind: str, label: str
) -> None:
    secret: dict[str, object] = (
        {"kms_key_id": "arn:aws:kms:eu-west-1:1:key/x", "kms_ct": ct}
        if kind == "kms"
        else {
            "kdf": KdfSpec(alg="argon2id", memory_kib=19456, iterations=2, lanes=1, salt=salt),
            "wrap": Sealed(nonce=b"n" * 24, ct=ct),
        }
    )
    kf = KeyFile(
        id=kid,
        repo_id=rid,
        kind=kind,
        label=label,
        created="c",
        hostname="h",
        username="u",
        public=salt * 2,
        payload=Sealed(epk=b"e" * 32, nonce=b"n" * 24, ct=ct + b"t"),
        mac=b"m" * 32,
        **secret,  # type: ignore[arg-type]
    )
    assert KeyFile.decode(kf.encode()) == kf


@given(st.dictionaries(st.integers(1, 1000), st.binary(min_size=32, max_size=32), min_size=1))
def test_key_payload_round_trips(keys: dict[int, bytes]) -> None:
    payload = KeyPayload(identity=b"i" * 32, master_keys=keys)
    assert KeyPayload.decode(payload.encode()) == payload
    assert "master" not in repr(payload) or "b'" not in repr(payload)


@given(st.sampled_from(SealedKind), st.integers(0, 65535), st.binary(min_size=24, max_size=24))
def test_envelope_header_round_trips(kind: SealedKind, epoch: int, nonce: bytes) -> None:
    header = EnvelopeHeader(kind=kind, epoch=epoch, nonce=nonce)
    assert EnvelopeHeader.decode(header.encode() + b"t" * 16) == header


@given(st.sampled_from(ObjectKind), s.ids)
def test_object_names_parse_back(kind: ObjectKind, oid: ObjectId) -> None:
    name = object_name(kind, oid)
    parsed = parse_name(name)
    assert parsed is not None
    assert parsed[0] is kind
    if kind is not ObjectKind.CONFIG:
        assert parsed[1] == oid.hex()


@given(kind=st.sampled_from([k for k in ObjectKind if k is not ObjectKind.CONFIG]), oid=s.ids)
def test_a_name_one_folder_deeper_than_its_kind_is_not_one_of_ours(
    kind: ObjectKind, oid: ObjectId
) -> None:
    """Another repository's objects under this one's folders (one made at
    ``repo/snapshots``): its pack ``snapshots/data/77/77…`` was listed as a snapshot of this
    one, whose advice then deleted it (an attack pass, 2026-12-07)."""
    deeper = f"{kind.value}/data/{oid.hex()[:2]}/{oid.hex()}"
    assert parse_name(deeper) is None
    if kind not in (ObjectKind.DATA, ObjectKind.TREE, ObjectKind.AUDIT, ObjectKind.STATE):
        assert parse_name(f"{kind.value}/keys/{oid.hex()}") is None


@st.composite
def ledger_files(draw: st.DrawFn) -> LedgerFile:
    hosts = tuple(draw(st.lists(s.texts, min_size=1, max_size=4)))
    proofs = draw(
        st.lists(
            st.builds(
                Proof,
                pack=s.ids,
                size=st.integers(0, 2**40),
                time=st.floats(0, 2e9, allow_nan=False),
                host=st.integers(0, len(hosts) - 1),
            ),
            max_size=6,
        )
    )
    return LedgerFile(
        time=draw(st.datetimes(timezones=st.just(UTC))),
        hostname=draw(s.texts),
        operation=draw(st.sampled_from(["verify", "compaction"])),
        hosts=hosts,
        proofs=tuple(proofs),
        supersedes=tuple(draw(st.lists(s.ids, max_size=3))),
    )


@given(ledger_files())
def test_ledger_file_round_trips(ledger: LedgerFile) -> None:
    assert LedgerFile.decode(ledger.encode()) == ledger


@pytest.mark.parametrize(
    "proof",
    [
        ["ab" * 32, 1, 1.0, 1],  # names no listed host
        ["ab" * 32, -1, 1.0, 0],
        ["ab" * 32, True, 1.0, 0],
        ["ab" * 31, 1, 1.0, 0],
        ["ab" * 32, 1, "now", 0],
        ["ab" * 32, 1, 1.0],
        "ab",
    ],
)
def test_a_malformed_ledger_proof_is_refused(proof: object) -> None:
    base = {"v": 1, "time": "2026-12-05T00:00:00+00:00", "hostname": "h", "operation": "verify"}
    good = codec.dumps(
        {**base, "hosts": ["h"], "proofs": [["ab" * 32, 1, 1.0, 0]], "supersedes": []}
    )
    assert LedgerFile.decode(good).proofs[0].size == 1
    bad = codec.dumps({**base, "hosts": ["h"], "proofs": [proof], "supersedes": []})
    with pytest.raises(IntegrityError):
        LedgerFile.decode(bad)
    newer = codec.dumps({**base, "v": 2, "hosts": [], "proofs": [], "supersedes": []})
    with pytest.raises(FormatVersionError):
        LedgerFile.decode(newer)


@given(st.binary(max_size=64))
def test_readable_text_encodes_and_spells_odd_bytes_as_ls_does(raw: bytes) -> None:
    """A command-line argument or a file name (bytes decoded with surrogate escapes) becomes
    text that encodes, each byte that is no UTF-8 as \\xNN; text that encodes is unchanged."""
    text = os.fsdecode(raw)
    shown = codec.readable(text)
    shown.encode()  # never raises
    assert shown == raw.decode("utf-8", "backslashreplace")
    assert codec.readable(shown) == shown


@given(st.binary(max_size=64), st.binary(max_size=64))
@example(raw="\U00040000".encode(), other=b"\\U00040000")  # beyond the first plane
@example(raw="\U00040000".encode(), other="\u4000".encode() + b"0")
def test_a_name_as_a_listing_shows_it_reads_back_and_no_other_shows_alike(
    raw: bytes, other: bytes
) -> None:
    """What ``ls`` prints of a name on a terminal (Node.display_name: bytes that are no UTF-8
    as \\xNN, the name's own backslashes doubled; then every control character escaped:
    cli/render.py ``printable``) reads back as the name's bytes, and two names never print
    alike (``caf\\xe9`` the byte, ``caf\\\\xe9`` the four characters; a line break and
    ``\\n``; U+0085 and the byte 85)."""
    from s3vault.cli.render import printable
    from s3vault.format.tree import Node, NodeType

    def shown(name: bytes) -> str:
        return printable(Node(name=name, type=NodeType.FILE).display_name)

    assert codec.unshown_name(shown(raw).encode()) == raw
    assert (shown(raw) == shown(other)) == (raw == other)


@given(st.binary(max_size=64).filter(lambda raw: b"\\" not in raw))
def test_unshown_reads_back_the_bytes_a_listing_shows(raw: bytes) -> None:
    """What ``ls`` shows of a name, pasted back (ls, dump, SNAPSHOT:PATH), is the name's own
    bytes (names without a backslash: with one, the shown form may be the name itself)."""
    shown = codec.readable(os.fsdecode(raw))
    assert os.fsencode(codec.unshown(shown)) == raw
    assert codec.unshown_name(shown.encode()) == raw
