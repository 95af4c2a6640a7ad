"""Endorsed and claimed dedup views (design.md §6a): every put-only host reads the endorsed
ones, which only a full key makes, each for the one index file it was signed for; a claimed
view reaches its writer (and full keys) only."""

from __future__ import annotations

import os
from functools import partial

import pytest

from s3vault.backend.memory import MemoryBackend
from s3vault.crypto import putseal
from s3vault.crypto.hashing import view_digest
from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.dedupview import DedupView, ViewPack, view_of_index
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.ids import ObjectId
from s3vault.repository import views

REPO = os.urandom(32)
FULL = MasterKey(os.urandom(32), REPO, 1, os.urandom(32))
BID = ObjectId(os.urandom(32))
INDEX = ObjectId(os.urandom(32))  # the index file the view describes
VIEW = DedupView(
    packs=(ViewPack(id=BID, size=4096, blobs=((BlobType.DATA, view_digest(REPO, BID)),)),)
)
HOST, OTHER = b"h" * 32, b"o" * 32


def _psk(key_id: bytes) -> bytes:
    return putseal.psk(FULL.writer_secret(key_id), REPO)


def _endorsed(
    sealed: bytes, signing: bytes = FULL.signing_public, index: ObjectId = INDEX
) -> DedupView:
    return views.open_endorsed(
        sealed, repo_id=REPO, view_keys={1: FULL.view_key}, signing_public=signing, index_id=index
    )


def test_every_put_only_host_reads_an_endorsed_view() -> None:
    assert _endorsed(views.seal_endorsed(VIEW, FULL, INDEX)) == VIEW


def test_an_endorsed_view_is_valid_only_under_its_index_files_name() -> None:
    """σ covers the index id: a view copied to `views/<another index id>` is refused."""
    with pytest.raises(IntegrityError, match="for that index file"):
        _endorsed(views.seal_endorsed(VIEW, FULL, INDEX), index=ObjectId(os.urandom(32)))


def test_a_view_of_version_1_is_named_as_such_and_never_used() -> None:
    """The old layout (raw blob ids, signed without the index id): refused for its version
    (the host says so and stores those blobs again), not taken for a forgery."""
    body = VIEW.encode()
    old = body[:4] + b"\x01" + body[5:]
    sig = FULL.signing_key.sign(b"s3vault-view-v1/endorsed" + REPO + old)
    sealed = views._seal(FULL.view_key, 1, REPO, views.ENDORSED, old + sig)
    with pytest.raises(FormatVersionError, match=r"version 1.*prune"):
        _endorsed(sealed)


def test_a_put_only_host_cannot_endorse() -> None:
    """It has V_e, so it can seal a view; it has no σ, so the view is not endorsed."""
    forger = MasterKey(FULL.secret, REPO, 1, os.urandom(32))  # same V_e, another σ
    with pytest.raises(IntegrityError, match="not signed by this repository"):
        _endorsed(views.seal_endorsed(VIEW, forger, INDEX))
    claimed = views.seal_claimed(
        VIEW, view_key=FULL.view_key, epoch=1, psk=_psk(HOST), repo_id=REPO
    )
    with pytest.raises(IntegrityError):
        _endorsed(claimed)


def test_a_claim_reaches_only_its_writer_and_full_keys() -> None:
    claimed = views.seal_claimed(
        VIEW, view_key=FULL.view_key, epoch=1, psk=_psk(HOST), repo_id=REPO
    )
    keys = {1: FULL.view_key}
    assert views.open_claimed(claimed, view_keys=keys, psk=_psk(HOST), repo_id=REPO) == VIEW
    with pytest.raises(IntegrityError):
        views.open_claimed(claimed, view_keys=keys, psk=_psk(OTHER), repo_id=REPO)
    with pytest.raises(IntegrityError):
        views.open_claimed(
            views.seal_endorsed(VIEW, FULL, INDEX),
            view_keys=keys,
            psk=_psk(HOST),
            repo_id=REPO,
        )


def test_views_of_a_retired_epoch_or_another_repository_are_refused() -> None:
    sealed = views.seal_endorsed(VIEW, FULL, INDEX)
    with pytest.raises(IntegrityError, match="epoch 1"):
        views.open_endorsed(
            sealed,
            repo_id=REPO,
            view_keys={2: FULL.view_key},
            signing_public=FULL.signing_public,
            index_id=INDEX,
        )
    with pytest.raises(IntegrityError):
        views.open_endorsed(
            sealed,
            repo_id=os.urandom(32),
            view_keys={1: FULL.view_key},
            signing_public=FULL.signing_public,
            index_id=INDEX,
        )


def test_an_index_files_endorsed_view_leaves_out_put_only_packs() -> None:
    def pack(sender: bytes) -> IndexedPack:
        entry = PackEntry(
            type=BlobType.DATA, id=ObjectId(os.urandom(32)), offset=0, length=9, raw_length=1
        )
        return IndexedPack(id=ObjectId(os.urandom(32)), size=100, entries=(entry,), sender=sender)

    full, put_only = pack(b""), pack(os.urandom(64))
    view = view_of_index(IndexFile(packs=(full, put_only)).encode(), partial(view_digest, REPO))
    assert [p.id for p in view.packs] == [full.id]
    assert view.packs[0].blobs == ((BlobType.DATA, view_digest(REPO, full.entries[0].id)),)


def test_a_full_key_replaces_a_view_planted_under_its_index_files_name() -> None:
    """A put-only host that races the full key to `views/<index id>` (or a view of version 1
    there) does not keep the index file's blobs out of every host's dedup: the full key finds
    the name taken by a view that is not its own and replaces it; a valid one is kept."""
    backend = MemoryBackend()
    index = IndexFile(
        packs=(
            IndexedPack(
                id=ObjectId(os.urandom(32)),
                size=100,
                entries=(PackEntry(type=BlobType.DATA, id=BID, offset=0, length=9, raw_length=1),),
            ),
        )
    ).encode()
    forger = MasterKey(FULL.secret, REPO, 1, os.urandom(32))  # V_e, not σ
    name = f"views/{INDEX.hex()}"
    backend.put(name, views.seal_endorsed(VIEW, forger, INDEX))
    assert views.store_endorsed(backend, FULL, INDEX, index) == name
    stored = backend.get(name)
    assert _endorsed(stored).packs[0].blobs == ((BlobType.DATA, view_digest(REPO, BID)),)
    views.store_endorsed(backend, FULL, INDEX, index)  # a retry: the valid view stays
    assert backend.get(name) == stored
