"""The connector contract: one suite every connector passes (memory, SQL, CSV, JSON Lines, HTTP)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.collect.datamap import DataMap, load_datamap
from ferry.collect.engine import Collection, Person, Source
from ferry.collect.walk import norm
from ferry.connectors.base import Connector
from ferry.connectors.files import FileConnector
from ferry.connectors.http import HttpConnector
from ferry.connectors.sql import SqlConnector
from ferry.connectors.testing import InMemoryConnector
from ferry.domain.models import Identity
from tests.connectors.apiserver import ORDERS, PEOPLE, serve

MAP = """
system: contract
datasets:
  people:
    primary_key: id
    identities: {email: email}
    fields: {id: user.unique_id, email: user.contact.email, name: user.name}
  orders:
    primary_key: id
    references: [{field: person_id, to: people.id}]
    fields: {id: user.behavior.purchase_history, person_id: user.unique_id, total: user.financial}
"""

HTTP_SOURCES = {
    "people": {
        "path": "/people",
        "params": {"email": "{value}"},
        "items": "data.items",
        "pagination": {"type": "page"},
    },
    "orders": {
        "path": "/orders",
        "params": {"person_id": "{value}"},
        "items": "orders",
        "pagination": {"type": "cursor", "param": "cursor", "cursor_path": "next"},
    },
}

HOSTILE = ["nobody@example.com", "x' OR '1'='1", "1 OR 1=1", "'; DROP TABLE people; --", "%", "*"]

Kit = tuple[Connector, DataMap]


def _sqlite(tmp: Path) -> Kit:
    url = f"sqlite:///{tmp / 'c.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, name TEXT)")
        conn.exec_driver_sql(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, person_id INT, total REAL)"
        )
        conn.execute(sa.text("INSERT INTO people VALUES (:id, :email, :name)"), PEOPLE)
        conn.execute(sa.text("INSERT INTO orders VALUES (:id, :person_id, :total)"), ORDERS)
    engine.dispose()
    return SqlConnector(url), load_datamap(MAP)


def _csv(tmp: Path) -> Kit:
    for name, rows, sep in (("people", PEOPLE, ";"), ("orders", ORDERS, ",")):
        with (tmp / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=sep)
            writer.writeheader()
            writer.writerows(rows)
    return FileConnector(tmp), load_datamap(MAP)


def _jsonl(tmp: Path) -> Kit:
    for name, rows in (("people", PEOPLE), ("orders", ORDERS)):
        (tmp / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return FileConnector(tmp), load_datamap(MAP)


def _memory(_tmp: Path) -> Kit:
    return InMemoryConnector({"people": PEOPLE, "orders": ORDERS}), load_datamap(MAP)


KINDS: dict[str, Callable[[Path], Kit]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "csv": _csv,
    "jsonl": _jsonl,
}


@pytest.fixture(params=[*KINDS, "http"])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    if request.param == "http":
        with serve() as api:
            data = load_datamap(MAP).model_dump()
            for name, source in HTTP_SOURCES.items():
                data["datasets"][name]["source"] = source
            yield HttpConnector(api.url), DataMap.model_validate(data)
        return
    connector, datamap = KINDS[request.param](tmp_path)
    yield connector, datamap
    connector.close()


def _ids(rows: Iterator[dict[str, object]] | list[dict[str, object]]) -> set[str | None]:
    return {norm(r["id"]) for r in rows}


def _expected_orders(*people: int) -> set[str | None]:
    return {str(o["id"]) for o in ORDERS if o["person_id"] in people}


def test_finds_exactly_the_persons_rows(kit: Kit) -> None:
    conn, dm = kit
    people = list(conn.fetch(dm.datasets["people"], "email", ["ann@example.com"]))
    assert _ids(people) == {"1"}
    assert str(people[0]["name"]) == "Ann"
    orders = list(conn.fetch(dm.datasets["orders"], "person_id", [1]))
    assert _ids(orders) == _expected_orders(1)
    assert len(orders) == len(_expected_orders(1))  # no duplicates, nothing of page 2 lost


def test_many_values_in_one_lookup(kit: Kit) -> None:
    conn, dm = kit
    orders = list(conn.fetch(dm.datasets["orders"], "person_id", [1, "2"]))
    assert _ids(orders) == _expected_orders(1, 2)


def test_hostile_values_find_nothing_and_harm_nothing(kit: Kit) -> None:
    conn, dm = kit
    assert list(conn.fetch(dm.datasets["people"], "email", HOSTILE)) == []
    assert list(conn.fetch(dm.datasets["orders"], "person_id", HOSTILE)) == []
    assert list(conn.fetch(dm.datasets["people"], "email", [])) == []
    again = conn.fetch(dm.datasets["people"], "email", ["bob@example.com"])
    assert _ids(again) == {"2"}


def test_a_quote_in_a_real_value_is_found(kit: Kit) -> None:
    conn, dm = kit
    found = list(conn.fetch(dm.datasets["people"], "email", ["o'hara@example.com"]))
    assert _ids(found) == {"3"}


def test_check_accepts_the_map(kit: Kit) -> None:
    conn, dm = kit
    assert conn.check(dm) == []
    assert conn.check() == []


def test_the_engine_collects_one_person_through_it(kit: Kit, tmp_path: Path) -> None:
    conn, dm = kit
    engine = Collection(
        [Source("contract", dm, lambda: conn)],
        [Person("r1", [Identity.parse("email", "ann@example.com")])],
        tmp_path / "work",
    )
    outcomes = engine.run()
    assert outcomes["contract"].status == "done", outcomes["contract"].error
    got = {d.dataset: _ids(list(d.rows)) for d in engine.datasets(engine.people["r1"])}
    assert got == {"people": {"1"}, "orders": _expected_orders(1)}
