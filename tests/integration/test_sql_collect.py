"""The SQL connector and planner on real databases: the demo shop (SQLite and PostgreSQL)
and the Chinook sample."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.collect.datamap import load_datamap
from ferry.collect.planner import CollectionResult, collect
from ferry.connectors.base import Connector, ConnectorError
from ferry.connectors.registry import open_connector
from ferry.connectors.sql import SqlConnector, SqlConnectorConfig
from ferry.demo.estate import DemoInfo, build_demo_shop, build_demo_shop_url, shop_map
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity, IdentityType, Scope
from tests.conftest import missing

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
if not DATASETS.is_dir():  # a worktree lives one level deeper than the main checkout
    DATASETS = Path(os.environ.get("FERRY_DATASETS", "/work/shared/datasets"))
CHINOOK = DATASETS / "chinook" / "Chinook_Sqlite.sqlite"
PG_URL = os.environ.get(
    "FERRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
HOSTILE = [
    Identity(IdentityType.EMAIL, "x' OR '1'='1"),
    Identity(IdentityType.CUSTOMER_ID, "1; DROP TABLE customers"),
    Identity(IdentityType.CUSTOMER_ID, "1 OR 1=1"),
    Identity(IdentityType.PHONE, "'; DELETE FROM orders; --"),
]


def _missing(what: str) -> None:
    missing(what, "see ../shared/datasets/README.md and the env notes in docs/")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    return build_demo_shop(tmp_path_factory.mktemp("shop") / "shop.db")


@pytest.fixture(scope="module")
def pg_shop() -> Iterator[DemoInfo]:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as err:
        admin.dispose()
        _missing(
            f"PostgreSQL unreachable at {PG_URL} ({type(err.orig).__name__}); start it with "
            "`sudo service postgresql start` or set FERRY_TEST_POSTGRES_URL"
        )
    name = f"ferry_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield build_demo_shop_url(sa.make_url(PG_URL).set(database=name), customers=300)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _collect(conn: Connector, *who: Identity, scope: Scope | None = None) -> CollectionResult:
    return collect(conn, shop_map(), list(who), scope or Scope())


def _ids(result: CollectionResult, dataset: str) -> set[object]:
    return {r["id"] for d in result.datasets if d.dataset == dataset for r in d.rows}


def _truth(url: str, email: str) -> dict[str, set[object]]:
    """The person's row ids, straight from SQL joins (independent of the planner)."""
    queries = {
        "customers": "SELECT id FROM customers WHERE email = :e",
        "orders": "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.email = :e",
        "order_items": "SELECT i.id FROM order_items i JOIN orders o ON o.id = i.order_id "
        "JOIN customers c ON c.id = o.customer_id WHERE c.email = :e",
        "support_tickets": "SELECT t.id FROM support_tickets t "
        "JOIN customers c ON c.id = t.customer_id WHERE c.email = :e",
    }
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            return {
                k: set(db.execute(sa.text(q), {"e": email}).scalars()) for k, q in queries.items()
            }
    finally:
        engine.dispose()


def _agents(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            rows = db.execute(sa.text("SELECT name, email FROM agents")).all()
    finally:
        engine.dispose()
    return {v for row in rows for v in row}


def _check_person(info: DemoInfo) -> None:
    email = info.sample_emails[1]
    conn = open_connector(info.url)
    try:
        result = _collect(conn, Identity.parse("email", email))
    finally:
        conn.close()
    truth = _truth(info.url, email)
    assert all(truth.values()), "the sample person must have rows in every personal table"
    for dataset, ids in truth.items():
        assert _ids(result, dataset) == ids, dataset
    (person,) = next(d.rows for d in result.datasets if d.dataset == "customers")
    assert {r["customer_id"] for d in result.datasets for r in d.rows if "customer_id" in r} == {
        person["id"]
    }
    values = {v for d in result.datasets for r in d.rows for v in r.values()}
    assert not values & _agents(info.url), "support staff leaked into the export"
    assert result.unreachable == []
    assert Identity(IdentityType.CUSTOMER_ID, str(person["id"])) in result.discovered


def _check_hostile(info: DemoInfo) -> None:
    conn = open_connector(info.url)
    try:
        for identity in HOSTILE:
            assert _collect(conn, identity).row_count == 0, identity
    finally:
        conn.close()
    engine = sa.create_engine(info.url)
    try:
        with engine.connect() as db:
            count = db.execute(sa.text("SELECT count(*) FROM customers")).scalar_one()
            orders = db.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
    finally:
        engine.dispose()
    assert count == info.counts["customers"]
    assert orders == info.counts["orders"]


def test_demo_shop_has_expected_shape(shop: DemoInfo) -> None:
    assert shop.counts["customers"] == 3000
    assert 2 <= shop.counts["orders"] / 3000 <= 4
    assert 1.5 <= shop.counts["order_items"] / shop.counts["orders"] <= 2.5
    assert len(shop.sample_emails) >= 3
    again = build_demo_shop(Path(str(shop.path) + ".again"), customers=50)
    assert again.sample_emails == build_demo_shop_url("sqlite://", customers=50).sample_emails


def test_sqlite_person_gets_exactly_their_rows(shop: DemoInfo) -> None:
    _check_person(shop)


def test_sqlite_hostile_identities_match_nothing(shop: DemoInfo) -> None:
    _check_hostile(shop)


@pytest.mark.postgres
def test_postgres_person_gets_exactly_their_rows(pg_shop: DemoInfo) -> None:
    _check_person(pg_shop)


@pytest.mark.postgres
def test_postgres_hostile_identities_match_nothing(pg_shop: DemoInfo) -> None:
    _check_hostile(pg_shop)


@pytest.mark.postgres
def test_postgres_connection_is_read_only(pg_shop: DemoInfo) -> None:
    conn = SqlConnector(pg_shop.url)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="read-only"), conn.engine.begin() as db:
            db.execute(sa.text("DELETE FROM order_items"))
    finally:
        conn.close()


def test_sqlite_connection_is_read_only(shop: DemoInfo) -> None:
    conn = SqlConnector(shop.url)
    try:
        with pytest.raises(sa.exc.OperationalError), conn.engine.begin() as db:
            db.execute(sa.text("DELETE FROM order_items"))
    finally:
        conn.close()


def test_batches_and_odd_values(shop: DemoInfo) -> None:
    conn = SqlConnector(SqlConnectorConfig(url=shop.url, batch_size=2))
    customers = shop_map().datasets["customers"]
    try:
        values: list[object] = [1, "2", 3.0, 4, 5, None, True, "inf", "1e3", 10**40, "5"]
        rows = list(conn.fetch(customers, "id", values))
    finally:
        conn.close()
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert isinstance(rows[0]["date_of_birth"], date)


def test_check_reports_missing_tables_and_columns(shop: DemoInfo) -> None:
    broken = load_datamap(
        "system: shop\ndatasets:\n  customers: {identities: {email: mail}}\n  ghosts: {}\n"
    )
    conn = open_connector(shop.url)
    try:
        assert conn.check(shop_map()) == []
        problems = conn.check(broken)
        with pytest.raises(ConnectorError, match="ghosts"):
            list(conn.fetch(broken.datasets["ghosts"], "id", [1]))
    finally:
        conn.close()
    assert any("'mail'" in p for p in problems)
    assert any("ghosts" in p for p in problems)
    assert open_connector("postgresql+psycopg://nobody@127.0.0.1:1/none").check() != []


def test_registry_urls(shop: DemoInfo, tmp_path: Path) -> None:
    assert shop.path is not None
    conn = open_connector(str(shop.path))  # a bare SQLite file path
    try:
        assert conn.check(shop_map()) == []
    finally:
        conn.close()
    for bad in ("sftp://host/x", "nope.db", "file:///no/such/folder"):
        with pytest.raises(InvalidInput):
            open_connector(bad)


CHINOOK_MAP = """
system: chinook
datasets:
  Employee:
    primary_key: EmployeeId
    fields: {EmployeeId: system.operations, Email: user.contact.email}
  Customer:
    primary_key: CustomerId
    identities: {email: Email, customer_id: CustomerId}
    references:
      - {field: SupportRepId, to: Employee.EmployeeId}   # up from a customer: not followed
    fields: {CustomerId: user.unique_id, Email: user.contact.email, FirstName: user.name}
  Invoice:
    primary_key: InvoiceId
    timestamp: InvoiceDate
    references: [{field: CustomerId, to: Customer.CustomerId}]
    fields: {Total: user.financial}
  InvoiceLine:
    primary_key: InvoiceLineId
    references: [{field: InvoiceId, to: Invoice.InvoiceId}]
    fields_only: true
    fields: {TrackId: user.behavior, Quantity: user.behavior}
"""


@pytest.fixture
def chinook() -> Iterator[Connector]:
    if not CHINOOK.is_file():
        _missing(f"Chinook sample not found at {CHINOOK}")
    conn = open_connector(str(CHINOOK))
    yield conn
    conn.close()


def _chinook_count(sql: str) -> int:
    engine = sa.create_engine(f"sqlite:///file:{CHINOOK}?mode=ro&uri=true")
    try:
        with engine.connect() as db:
            return int(db.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_chinook_customer_gets_their_invoices(chinook: Connector) -> None:
    datamap = load_datamap(CHINOOK_MAP)
    assert chinook.check(datamap) == []
    result = collect(chinook, datamap, [Identity.parse("email", "luisg@embraer.com.br")], Scope())
    rows = {d.dataset: d.rows for d in result.datasets}
    assert [r["CustomerId"] for r in rows["Customer"]] == [1]
    assert rows["Employee"] == []  # the support rep is another person
    assert result.unreachable == ["Employee"]
    assert {r["CustomerId"] for r in rows["Invoice"]} == {1}
    assert len(rows["Invoice"]) == _chinook_count("SELECT count(*) FROM Invoice WHERE CustomerId=1")
    lines = "SELECT count(*) FROM InvoiceLine JOIN Invoice USING (InvoiceId) WHERE CustomerId=1"
    assert len(rows["InvoiceLine"]) == _chinook_count(lines)
    assert all(set(r) == {"TrackId", "Quantity"} for r in rows["InvoiceLine"])


def test_chinook_date_scope(chinook: Connector) -> None:
    datamap = load_datamap(CHINOOK_MAP)
    scope = Scope(since=date(2022, 1, 1), until=date(2023, 12, 31))
    result = collect(chinook, datamap, [Identity.parse("customer_id", "1")], scope)
    invoices = next(d.rows for d in result.datasets if d.dataset == "Invoice")
    expected = _chinook_count(
        "SELECT count(*) FROM Invoice WHERE CustomerId=1 "
        "AND InvoiceDate >= '2022-01-01' AND InvoiceDate < '2024-01-01'"
    )
    assert 0 < len(invoices) == expected
