"""Releasing requests' collected rows: own work folders, their rows in bulk batches, and their
places on the batches' manifests (a batch nobody is left in goes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferry.services import gather

A, B, C, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def _batch(var: Path, name: str, ids: list[str]) -> Path:
    folder = var / "work" / "t" / name
    gather.write_batch(folder, ids)
    for system in ("legacy", "api"):
        (folder / system).mkdir()
        for rid in ids:
            (folder / system / f"{rid}.people.spool").write_text("rows")
        (folder / system / "progress.jsonl").write_text("{}\n")
    return folder


def _spools(folder: Path) -> set[str]:
    return {p.name.partition(".")[0] for p in folder.glob("*/*.spool")}


def test_release_one_request(ferry_env: Path) -> None:
    one = _batch(ferry_env, "bulk-1", [A, B])
    own = gather.work_folder("t", A)
    own.mkdir(parents=True)
    assert gather.release("t", A) == {"work_folders": 1, "bulk_spools": 2}
    assert not own.exists() and _spools(one) == {B}
    assert gather.batches("t") == [(one, [B])]
    assert (one / "legacy" / "progress.jsonl").exists()  # the batch's own files stay
    assert gather.release("t", B) == {"work_folders": 0, "bulk_spools": 2}
    assert gather.batches("t") == [] and not one.exists()  # nobody left: the batch goes
    assert gather.release("t", C) == {"work_folders": 0, "bulk_spools": 0}  # nothing: no error


def test_release_many_reads_each_batch_once(
    ferry_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _batch(ferry_env, "bulk-1", [A, B, C])
    two = _batch(ferry_env, "bulk-2", [D])
    three = _batch(ferry_env, "bulk-3", [B])
    for rid in (A, D):
        gather.work_folder("t", rid).mkdir(parents=True)
    listed: list[int] = []
    batches = gather.batches
    monkeypatch.setattr(gather, "batches", lambda slug: listed.append(1) or batches(slug))
    written: list[Path] = []
    write = gather.write_batch
    monkeypatch.setattr(gather, "write_batch", lambda f, ids: written.append(f) or write(f, ids))

    gone = gather.release_many("t", [A, B, D])

    assert gone == {"work_folders": 2, "bulk_spools": 8}
    assert listed == [1] and written == [one]  # one listing; one manifest rewritten
    assert json.loads((one / "batch.json").read_text()) == {"requests": [C]}
    assert _spools(one) == {C} and not two.exists() and not three.exists()
    assert not gather.work_folder("t", A).exists() and not gather.work_folder("t", D).exists()


@pytest.mark.parametrize(
    "manifest",
    [
        '{"requests": ["' + A,  # torn
        '{"requests": "abc"}',  # a string is not a list of ids
        '{"requests": [1, 2]}',
        '{"ids": []}',
        "[]",
        "\x00\xff",
    ],
)
def test_a_damaged_manifest_is_left_alone_and_logged(
    ferry_env: Path, manifest: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = _batch(ferry_env, "bulk-good", [A, B])
    bad = _batch(ferry_env, "bulk-bad", [C])
    (bad / "batch.json").write_text(manifest, encoding="utf-8", errors="surrogateescape")
    assert gather.batches("t") == [(good, [A, B])]
    assert "bulk-bad/batch.json is unreadable" in caplog.text
    gather.release_many("t", [C])
    assert _spools(bad) == {C}  # not guessed at: its rows stay for a person to look at


def test_the_manifest_is_written_whole(ferry_env: Path) -> None:
    folder = _batch(ferry_env, "bulk-x", [A])
    gather.write_batch(folder, [A, B])
    assert json.loads((folder / "batch.json").read_text()) == {"requests": [A, B]}
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no stage left
