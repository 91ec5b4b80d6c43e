"""Envelope encryption at rest, filters by provenance, and age for delivery."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
import pytest

from ferry.crypto.age import AgeError, encrypt_to, encrypt_with_passphrase
from ferry.crypto.envelope import (
    CHUNK,
    DecryptionFailed,
    decrypt_chunks,
    encrypt_bytes,
    encrypt_file,
)
from ferry.domain.models import DatasetRows
from ferry.export.filters import for_kind

KEY = bytes(range(32))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_round_trip_at_chunk_edges(tmp_path: Path, size: int) -> None:
    plain = os.urandom(size)
    (tmp_path / "p").write_bytes(plain)
    encrypt_file(tmp_path / "p", tmp_path / "e", "k1", KEY)
    assert b"".join(decrypt_chunks(tmp_path / "e", lambda kid: KEY)) == plain
    encrypt_bytes(plain, tmp_path / "m", "k1", KEY)  # from memory: the same layout
    assert b"".join(decrypt_chunks(tmp_path / "m", lambda kid: KEY)) == plain
    assert (tmp_path / "m").stat().st_size == (tmp_path / "e").stat().st_size


def _encrypted(tmp_path: Path, size: int = 3 * CHUNK) -> bytes:
    (tmp_path / "p").write_bytes(os.urandom(size))
    encrypt_file(tmp_path / "p", tmp_path / "e", "k1", KEY)
    return (tmp_path / "e").read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-1],  # truncated inside the last chunk
        lambda raw: raw[: len(raw) - (CHUNK + 16)],  # a whole final chunk dropped
        lambda raw: raw[:-50] + bytes([raw[-50] ^ 1]) + raw[-49:],  # a flipped bit
        lambda raw: raw.replace(b'"k1"', b'"k2"'),  # header changed
        lambda raw: b"NOTFERRY\n" + raw[9:],
    ],
)
def test_damage_is_detected(tmp_path: Path, damage: object) -> None:
    raw = _encrypted(tmp_path)
    (tmp_path / "bad").write_bytes(damage(raw))  # type: ignore[operator]
    with pytest.raises(DecryptionFailed):
        b"".join(decrypt_chunks(tmp_path / "bad", lambda kid: KEY))


def test_wrong_key_is_refused(tmp_path: Path) -> None:
    _encrypted(tmp_path)
    with pytest.raises(DecryptionFailed, match="key"):
        b"".join(decrypt_chunks(tmp_path / "e", lambda kid: bytes(32)))


def test_same_plaintext_encrypts_differently(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(b"x" * 100)
    encrypt_file(tmp_path / "p", tmp_path / "a", "k", KEY)
    encrypt_file(tmp_path / "p", tmp_path / "b", "k", KEY)
    assert (tmp_path / "a").read_bytes() != (tmp_path / "b").read_bytes()


def test_age_recipient_round_trip_and_bad_recipient(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    encrypt_to([b"abc", b"", b"def" * 50_000], tmp_path / "a.age", [str(identity.to_public())])
    assert pyrage.decrypt((tmp_path / "a.age").read_bytes(), [identity]) == b"abc" + b"def" * 50_000
    with pytest.raises(AgeError, match="age1"):
        encrypt_to([b"x"], tmp_path / "b.age", ["ssh-rsa nonsense"])


def test_age_passphrase_round_trip(tmp_path: Path) -> None:  # scrypt: about 2 s
    encrypt_with_passphrase([b"secret ", b"data"], tmp_path / "p.age", "correct horse battery")
    data = pyrage.passphrase.decrypt((tmp_path / "p.age").read_bytes(), "correct horse battery")
    assert data == b"secret data"
    with pytest.raises(AgeError, match="12 characters"):
        encrypt_with_passphrase([b"x"], tmp_path / "q.age", "short")


def scored() -> DatasetRows:
    return DatasetRows(
        "crm",
        "profile",
        {
            "email": "user.contact.email",
            "segment": "user.derived.identifiable.profiling",
            "clicks": "user.behavior.browsing_history",
        },
        [{"email": "a@b.org", "segment": "big spender", "clicks": 10, "x": 1}],
        provenance={"clicks": "observed"},
    )


def test_portability_drops_derived_data_access_keeps_it() -> None:
    [access] = list(for_kind("access", [scored()]))
    assert "segment" in access.rows[0]
    for kind in ("transfer", "device", "consent-share"):
        [kept] = list(for_kind(kind, [scored()]))
        assert "segment" not in kept.rows[0] and "segment" not in kept.categories
        assert kept.rows[0]["clicks"] == 10 and kept.rows[0]["x"] == 1


def test_a_dataset_of_only_derived_data_is_left_out_of_portability() -> None:
    only = DatasetRows(
        "crm", "scores", {"score": "user.inferred"}, [{"score": 1}], provenance={"score": "derived"}
    )
    assert list(for_kind("transfer", [only])) == []
    assert len(list(for_kind("access", [only]))) == 1
