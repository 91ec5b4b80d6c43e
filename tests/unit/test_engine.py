"""The collection engine: same answers as the planner, bulk, cross-system, resume, gaps."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ferry.collect import spool
from ferry.collect.datamap import DataMap, DatasetMap
from ferry.collect.engine import Collection, Person, Source
from ferry.collect.planner import collect
from ferry.collect.spool import SpooledRows
from ferry.connectors.base import ConnectorError, Row
from ferry.connectors.testing import InMemoryConnector
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity, IdentityType, Scope
from tests.unit.test_planner import ROWS, SHOP

ALICE = Identity(IdentityType.EMAIL, "alice@example.com")
BOB = Identity(IdentityType.EMAIL, "bob@example.com")


def _rows(engine: Collection, key: str) -> dict[str, list[dict[str, object]]]:
    return {f"{d.system}.{d.dataset}": list(d.rows) for d in engine.datasets(engine.people[key])}


def _engine(tmp: Path, sources: list[Source], *people: Person) -> Collection:
    return Collection(sources, list(people), tmp / "work", backoff_seconds=0)


@pytest.mark.parametrize(
    "scope",
    [
        Scope(),
        Scope(categories=("user.contact",)),
        Scope(since=__import__("datetime").date(2020, 2, 1)),
    ],
)
def test_same_rows_as_the_planner(tmp_path: Path, scope: Scope) -> None:
    datamap = DataMap.model_validate(SHOP)
    old = collect(InMemoryConnector(ROWS), datamap, [ALICE], scope)
    engine = _engine(
        tmp_path,
        [Source("shop", datamap, lambda: InMemoryConnector(ROWS))],
        Person("r", [ALICE], scope),
    )
    assert engine.run()["shop"].status == "done"
    new = _rows(engine, "r")
    assert new == {f"shop.{d.dataset}": d.rows for d in old.datasets}
    # a person's few rows stay in memory: handed over as a list; a filter reads them lazily
    for d in engine.datasets(engine.people["r"]):
        ds = datamap.datasets[d.dataset]
        lazy = bool(scope.categories or ds.fields_only or (scope.since and ds.timestamp))
        assert type(d.rows) is (SpooledRows if lazy else list), d.dataset
    assert engine.unreachable(engine.people["r"]) == [f"shop.{n}" for n in old.unreachable]


def test_bulk_asks_each_table_once_for_everyone(tmp_path: Path) -> None:
    datamap = DataMap.model_validate(SHOP)
    conn = InMemoryConnector(ROWS)
    engine = _engine(
        tmp_path, [Source("shop", datamap, lambda: conn)], Person("a", [ALICE]), Person("b", [BOB])
    )
    engine.run()
    email_lookups = [c for c in conn.calls if c[:2] == ("customers", "email")]
    assert len(email_lookups) == 1 and set(email_lookups[0][2]) == {ALICE.value, BOB.value}
    assert [r["id"] for r in _rows(engine, "a")["shop.customers"]] == [1]
    assert [r["id"] for r in _rows(engine, "b")["shop.customers"]] == [2]
    alone = _engine(
        tmp_path / "alone",
        [Source("shop", datamap, lambda: InMemoryConnector(ROWS))],
        Person("a", [ALICE]),
    )
    alone.run()
    assert _rows(alone, "a") == _rows(engine, "a")  # nothing of Bob's leaks into Alice's


CRM = {
    "system": "crm",
    "datasets": {"customers": {"primary_key": "id", "identities": {"email": "email"}}},
}
BILLING = {
    "system": "billing",
    "datasets": {
        "accounts": {
            "primary_key": "no",
            "references": [{"field": "crm_id", "to": "crm.customers.id"}],
        },
        "invoices": {
            "primary_key": "id",
            "references": [{"field": "account", "to": "accounts.no"}],
        },
    },
}
CRM_ROWS = {"customers": [{"id": 41, "email": "alice@example.com"}, {"id": 42, "email": "x@y.zz"}]}
BILLING_ROWS = {
    "accounts": [{"no": "A1", "crm_id": 41}, {"no": "A2", "crm_id": 42}],
    "invoices": [
        {"id": 1, "account": "A1"},
        {"id": 2, "account": "A2"},
        {"id": 3, "account": "A1"},
    ],
}


def test_cross_system_reference_feeds_the_other_system(tmp_path: Path) -> None:
    sources = [
        Source("billing", DataMap.model_validate(BILLING), lambda: InMemoryConnector(BILLING_ROWS)),
        Source("crm", DataMap.model_validate(CRM), lambda: InMemoryConnector(CRM_ROWS)),
    ]
    engine = _engine(tmp_path, sources, Person("r", [ALICE]))
    outcomes = engine.run()
    assert {o.status for o in outcomes.values()} == {"done"}
    rows = _rows(engine, "r")
    assert [r["no"] for r in rows["billing.accounts"]] == ["A1"]
    assert [r["id"] for r in rows["billing.invoices"]] == [1, 3]
    assert engine.unreachable(engine.people["r"]) == []


class Flaky:
    """Fails the ``fail_at``-th fetch (1-based) and counts every fetch."""

    def __init__(self, data: dict[str, list[dict[str, Any]]], fail_at: int | None) -> None:
        self.inner = InMemoryConnector(data)
        self.fail_at = fail_at
        self.fetches: list[tuple[str, str]] = []

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        self.fetches.append((dataset.name, column))
        if self.fail_at is not None and len(self.fetches) == self.fail_at:
            raise ConnectorError("connection reset by peer")
        yield from self.inner.fetch(dataset, column, values)

    def check(self, datamap: DataMap | None = None) -> list[str]:
        return []

    def close(self) -> None:
        pass


def test_failed_system_is_a_gap_and_a_dependent_is_warned(tmp_path: Path) -> None:
    crm_map = DataMap.model_validate({**CRM, "collection": {"retries": 1}})
    sources = [
        Source("crm", crm_map, lambda: Flaky(CRM_ROWS, fail_at=1)),
        Source("billing", DataMap.model_validate(BILLING), lambda: InMemoryConnector(BILLING_ROWS)),
    ]
    engine = _engine(tmp_path, sources, Person("r", [ALICE]))
    outcomes = engine.run()
    assert outcomes["crm"].status == "failed" and outcomes["crm"].attempts == 2
    assert outcomes["crm"].error == "connection reset by peer"
    assert [g.system for g in engine.gaps()] == ["crm"]
    assert "did not run because 'crm' failed" in outcomes["billing"].warnings[0]
    assert "crm.customers" not in _rows(engine, "r")


def test_a_retry_resumes_without_fetching_finished_lookups_again(tmp_path: Path) -> None:
    datamap = DataMap.model_validate({**SHOP, "collection": {"retries": 0}})
    first = Flaky(ROWS, fail_at=3)
    engine = _engine(tmp_path, [Source("shop", datamap, lambda: first)], Person("r", [ALICE]))
    assert engine.run()["shop"].status == "failed"
    done_before = first.fetches[:2]
    second = Flaky(ROWS, fail_at=None)
    again = _engine(tmp_path, [Source("shop", datamap, lambda: second)], Person("r", [ALICE]))
    assert again.run()["shop"].status == "done"
    assert not set(done_before) & set(second.fetches)
    fresh = _engine(
        tmp_path / "fresh",
        [Source("shop", datamap, lambda: InMemoryConnector(ROWS))],
        Person("r", [ALICE]),
    )
    fresh.run()
    assert _rows(again, "r") == _rows(fresh, "r")  # nothing lost, nothing twice


def test_a_crash_mid_write_is_cut_back_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "_CHUNK_ROWS", 1)  # every row on disk: progress logged as it goes
    datamap = DataMap.model_validate(SHOP)
    engine = _engine(
        tmp_path, [Source("shop", datamap, lambda: InMemoryConnector(ROWS))], Person("r", [ALICE])
    )
    engine.run()
    expected = _rows(engine, "r")
    folder = tmp_path / "work" / "shop"
    log = folder / "progress.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # lost the end, torn line
    with (folder / "r.orders.spool").open("ab") as fh:
        fh.write(b"\x00\x00\x00\x00\x00\x00\x01\x00garbage")
    again = _engine(
        tmp_path, [Source("shop", datamap, lambda: InMemoryConnector(ROWS))], Person("r", [ALICE])
    )
    assert again.run()["shop"].status == "done"
    assert _rows(again, "r") == expected


class Hanging(Flaky):
    def __init__(self) -> None:
        super().__init__(ROWS, None)
        self.release = threading.Event()

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        self.release.wait(10)
        yield from ()


def test_a_hanging_system_times_out_into_a_gap(tmp_path: Path) -> None:
    datamap = DataMap.model_validate({**SHOP, "collection": {"timeout_seconds": 0.2, "retries": 0}})
    hanging = Hanging()
    ok = Source("crm", DataMap.model_validate(CRM), lambda: InMemoryConnector(CRM_ROWS))
    engine = _engine(tmp_path, [Source("shop", datamap, lambda: hanging), ok], Person("r", [ALICE]))
    outcomes = engine.run()
    hanging.release.set()
    assert outcomes["shop"].status == "failed"
    assert outcomes["shop"].error == "system 'shop' did not finish within 0.2 s"
    assert outcomes["crm"].status == "done"


def test_reference_cycles_and_unknown_systems_are_refused(tmp_path: Path) -> None:
    a = DataMap.model_validate(
        {"system": "a", "datasets": {"t": {"references": [{"field": "x", "to": "b.t.y"}]}}}
    )
    b = DataMap.model_validate(
        {"system": "b", "datasets": {"t": {"references": [{"field": "y", "to": "a.t.x"}]}}}
    )
    conn = InMemoryConnector({})
    with pytest.raises(InvalidInput, match="cycle: a -> b -> a"):
        Collection([Source("a", a, lambda: conn), Source("b", b, lambda: conn)], [], tmp_path)
    with pytest.raises(InvalidInput, match="no system 'b'"):
        Collection([Source("a", a, lambda: conn)], [], tmp_path)


def test_rows_matching_no_asked_value_are_reported(tmp_path: Path) -> None:
    class Sloppy(Flaky):
        def fetch(
            self, dataset: DatasetMap, column: str, values: Sequence[object]
        ) -> Iterator[Row]:
            yield from self.inner.data[dataset.name]  # ignores the filter

    datamap = DataMap.model_validate(CRM)
    engine = _engine(
        tmp_path,
        [Source("crm", datamap, lambda: Sloppy(CRM_ROWS, None))],
        Person("a", [ALICE]),
        Person("b", [BOB]),
    )
    outcome = engine.run()["crm"]
    assert "1 rows of dataset 'customers' matched none of the values" in outcome.warnings[0]
    assert [r["id"] for r in _rows(engine, "a")["crm.customers"]] == [41]


def test_system_scope_skips_and_hostile_identities_are_harmless(tmp_path: Path) -> None:
    datamap = DataMap.model_validate(SHOP)
    evil = Identity(IdentityType.EMAIL, "x' OR '1'='1")
    engine = _engine(
        tmp_path,
        [Source("shop", datamap, lambda: InMemoryConnector(ROWS))],
        Person("r", [evil]),
        Person("s", [ALICE], Scope(systems=("other",))),
    )
    assert engine.run()["shop"].status == "done"
    assert all(len(d.rows) == 0 for d in engine.datasets(engine.people["r"]))
    assert engine.datasets(engine.people["s"]) == []


def test_rows_that_went_to_disk_are_streamed_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "_CHUNK_ROWS", 1)  # every row on disk
    datamap = DataMap.model_validate(SHOP)
    old = collect(InMemoryConnector(ROWS), datamap, [ALICE], Scope())
    engine = _engine(
        tmp_path, [Source("shop", datamap, lambda: InMemoryConnector(ROWS))], Person("r", [ALICE])
    )
    assert engine.run()["shop"].status == "done"
    found = engine.datasets(engine.people["r"])
    assert {type(d.rows) for d in found if d.rows} == {SpooledRows}
    assert {f"shop.{d.dataset}": list(d.rows) for d in found} == {
        f"shop.{d.dataset}": d.rows for d in old.datasets
    }
