"""The planner on the in-memory connector: direction, cycles, diamonds, identities, scope."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from ferry.collect.datamap import DataMap
from ferry.collect.planner import CollectionResult, collect, reachable
from ferry.connectors.base import Connector
from ferry.connectors.testing import InMemoryConnector
from ferry.domain.models import Identity, IdentityType, Scope

ALICE = Identity(IdentityType.EMAIL, "alice@example.com")

SHOP: dict[str, Any] = {
    "system": "shop",
    "datasets": {
        "employees": {"primary_key": "id", "fields": {"id": None, "name": "user.name"}},
        "customers": {
            "primary_key": "id",
            "identities": {"email": "email", "customer_id": "id"},
            "timestamp": "created_at",
            "fields": {"id": "user.unique_id", "email": "user.contact.email"},
        },
        "orders": {
            "primary_key": "id",
            "timestamp": "placed_at",
            "references": [
                {"field": "customer_id", "to": "customers.id"},
                {"field": "employee_id", "to": "employees.id"},  # up: never followed
            ],
            "fields": {"id": None, "total": "user.financial"},
        },
        "order_items": {
            "primary_key": "id",
            "references": [{"field": "order_id", "to": "orders.id"}],
            "fields": {"qty": "user.behavior.purchase_history"},
            "fields_only": True,
        },
        "loyalty": {"identities": {"customer_id": "member_no"}, "fields": {"points": None}},
        "newsletter": {"identities": {"phone": "phone"}, "fields": {"phone": "user.contact"}},
    },
}

ROWS: dict[str, list[dict[str, Any]]] = {
    "employees": [{"id": 7, "name": "Eve Employee"}],
    "customers": [
        {"id": 1, "email": "alice@example.com", "created_at": "2019-05-01T10:00:00", "x": 1},
        {"id": 2, "email": "bob@example.com", "created_at": "2021-01-01T10:00:00", "x": 2},
    ],
    "orders": [
        {
            "id": 10,
            "customer_id": 1,
            "employee_id": 7,
            "placed_at": datetime(2020, 1, 5),
            "total": 5,
        },
        {
            "id": 11,
            "customer_id": 1,
            "employee_id": 7,
            "placed_at": datetime(2023, 3, 1),
            "total": 9,
        },
        {
            "id": 12,
            "customer_id": 2,
            "employee_id": 7,
            "placed_at": datetime(2023, 3, 1),
            "total": 1,
        },
    ],
    "order_items": [
        {"id": 100, "order_id": 10, "qty": 1, "secret": "s"},
        {"id": 101, "order_id": 11, "qty": 2, "secret": "s"},
        {"id": 102, "order_id": 12, "qty": 3, "secret": "s"},
    ],
    "loyalty": [{"member_no": "1", "points": 40}, {"member_no": "2", "points": 99}],
    "newsletter": [{"phone": "+1 555 0100"}],
}


def _run(scope: Scope | None = None, who: list[Identity] | None = None) -> CollectionResult:
    conn = InMemoryConnector(ROWS)
    return collect(conn, DataMap.model_validate(SHOP), who or [ALICE], scope or Scope())


def _rows(result: CollectionResult, name: str) -> list[dict[str, Any]]:
    return next(d.rows for d in result.datasets if d.dataset == name)


def test_double_satisfies_protocol() -> None:
    assert isinstance(InMemoryConnector({}), Connector)


def test_follows_references_down_only() -> None:
    result = _run()
    assert [r["id"] for r in _rows(result, "customers")] == [1]
    assert sorted(r["id"] for r in _rows(result, "orders")) == [10, 11]
    assert sorted(r["qty"] for r in _rows(result, "order_items")) == [1, 2]
    assert _rows(result, "employees") == []  # order.employee_id points up: another person


def test_datasets_in_map_order_including_empty() -> None:
    names = [d.dataset for d in _run().datasets]
    assert names == list(SHOP["datasets"])


def test_unreachable_datasets_reported() -> None:
    assert _run().unreachable == ["employees", "newsletter"]
    phone = Identity(IdentityType.PHONE, "+1 555 0100")
    result = _run(who=[ALICE, phone])
    assert result.unreachable == ["employees"]
    assert len(_rows(result, "newsletter")) == 1


def test_discovered_identity_keys_other_datasets() -> None:
    result = _run()
    assert result.discovered == [Identity(IdentityType.CUSTOMER_ID, "1")]
    assert _rows(result, "loyalty") == [{"member_no": "1", "points": 40}]


def test_fields_only_and_unmapped_categories() -> None:
    result = _run()
    items = next(d for d in result.datasets if d.dataset == "order_items")
    assert items.categories == {"qty": "user.behavior.purchase_history"}
    assert all(set(r) == {"qty"} for r in items.rows)
    customers = next(d for d in result.datasets if d.dataset == "customers")
    assert customers.categories["x"] is None  # unmapped column exported, no category
    assert customers.categories["email"] == "user.contact.email"


def test_unknown_person_gets_empty_datasets() -> None:
    result = _run(who=[Identity(IdentityType.EMAIL, "nobody@example.com")])
    assert result.row_count == 0
    assert len(result.datasets) == len(SHOP["datasets"])
    assert result.discovered == []


def test_cycle_terminates_and_fetches_each_value_once() -> None:
    cyclic: dict[str, Any] = {
        "system": "s",
        "datasets": {
            "accounts": {
                "primary_key": "id",
                "identities": {"account_id": "id"},
                "references": [{"field": "profile_id", "to": "profiles.id"}],
            },
            "profiles": {
                "primary_key": "id",
                "references": [{"field": "account_id", "to": "accounts.id"}],
            },
        },
    }
    rows: dict[str, list[dict[str, Any]]] = {
        "accounts": [{"id": 1, "profile_id": 5}, {"id": 2, "profile_id": 6}],
        "profiles": [{"id": 5, "account_id": 1}, {"id": 6, "account_id": 2}],
    }
    conn = InMemoryConnector(rows)
    result = collect(
        conn, DataMap.model_validate(cyclic), [Identity.parse("account_id", "1")], Scope()
    )
    assert [r["id"] for r in _rows(result, "accounts")] == [1]
    assert [r["id"] for r in _rows(result, "profiles")] == [5]
    assert len(conn.calls) == len(set(conn.calls))


def test_diamond_row_collected_once() -> None:
    diamond: dict[str, Any] = {
        "system": "s",
        "datasets": {
            "customers": {"primary_key": "id", "identities": {"email": "email"}},
            "orders": {"primary_key": "id", "references": [{"field": "cid", "to": "customers.id"}]},
            "tickets": {
                "primary_key": "id",
                "references": [{"field": "cid", "to": "customers.id"}],
            },
            "messages": {
                "primary_key": "id",
                "references": [
                    {"field": "order_id", "to": "orders.id"},
                    {"field": "ticket_id", "to": "tickets.id"},
                ],
            },
        },
    }
    rows: dict[str, list[dict[str, Any]]] = {
        "customers": [{"id": 1, "email": "alice@example.com"}],
        "orders": [{"id": 1, "cid": 1}],
        "tickets": [{"id": 1, "cid": 1}],
        "messages": [
            {"id": 9, "order_id": 1, "ticket_id": 1},
            {"id": 8, "order_id": 2, "ticket_id": 3},
        ],
    }
    result = collect(InMemoryConnector(rows), DataMap.model_validate(diamond), [ALICE], Scope())
    assert _rows(result, "messages") == [{"id": 9, "order_id": 1, "ticket_id": 1}]


def test_date_scope_filters_each_dataset_on_its_own_timestamp() -> None:
    result = _run(Scope(since=date(2022, 1, 1)))
    assert _rows(result, "customers") == []  # created 2019: out of range ...
    assert [r["id"] for r in _rows(result, "orders")] == [11]  # ... but still traversed
    assert sorted(r["qty"] for r in _rows(result, "order_items")) == [1, 2]  # no timestamp
    result = _run(Scope(until=date(2020, 12, 31)))
    assert [r["id"] for r in _rows(result, "orders")] == [10]


def test_category_scope_drops_fields_and_empty_datasets() -> None:
    result = _run(Scope(categories=("user.contact",)))
    assert [d.dataset for d in result.datasets] == ["customers", "newsletter"]
    customers = result.datasets[0]
    assert customers.categories == {"email": "user.contact.email"}
    assert customers.rows == [{"email": "alice@example.com"}]


def test_system_scope_skips_system() -> None:
    conn = InMemoryConnector(ROWS)
    result = collect(conn, DataMap.model_validate(SHOP), [ALICE], Scope(systems=("crm",)))
    assert result.skipped and result.datasets == [] and conn.calls == []
    assert _run(Scope(systems=("shop",))).row_count > 0


def test_reachable_is_structural() -> None:
    dm = DataMap.model_validate(SHOP)
    assert reachable(dm, {IdentityType.EMAIL}) == ["customers", "orders", "order_items", "loyalty"]
    assert reachable(dm, set()) == []


@pytest.mark.parametrize("bad", ["1 OR 1=1", "' OR '1'='1"])
def test_strange_identity_values_match_nothing(bad: str) -> None:
    result = _run(who=[Identity(IdentityType.CUSTOMER_ID, bad)])
    assert result.row_count == 0
