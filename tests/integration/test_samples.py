"""The engine on real sample databases nobody here designed (../shared/datasets):
Chinook on SQLite, PostgreSQL and MariaDB, Northwind on PostgreSQL by customer id.
Chinook: lerocha/chinook-database (MIT-style); Northwind: pthom/northwind_psql (Ms-PL)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.collect.datamap import DataMap, load_datamap
from ferry.collect.engine import Collection, Person, Source
from ferry.connectors.sql import SqlConnector
from ferry.domain.models import Identity, IdentityType
from tests.conftest import PG_URL, missing


def _datasets() -> Path:
    for candidate in (
        os.environ.get("FERRY_DATASETS", ""),
        "/work/shared/datasets",
        str(Path(__file__).resolve().parents[3] / "shared" / "datasets"),
        str(Path(__file__).resolve().parents[2] / "shared" / "datasets"),
    ):
        if candidate and (Path(candidate) / "chinook").is_dir():
            return Path(candidate)
    missing(
        "the sample datasets", "set FERRY_DATASETS to the folder holding chinook/ and northwind/"
    )
    raise AssertionError


MARIADB_URL = os.environ.get("FERRY_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")

CHINOOK = """
system: chinook
datasets:
  customer:
    table: {customer}
    primary_key: {customer_id}
    identities: {{email: {email}, customer_id: {customer_id}}}
    fields: {{{email}: user.contact.email}}
  invoice:
    table: {invoice}
    primary_key: {invoice_id}
    timestamp: {invoice_date}
    references: [{{field: {customer_id}, to: customer.{customer_id}}}]
  invoice_line:
    table: {invoice_line}
    primary_key: {invoice_line_id}
    references: [{{field: {invoice_id}, to: invoice.{invoice_id}}}]
  employee:
    table: {employee}
    primary_key: {employee_id}
"""
CAMEL = dict(
    customer="Customer",
    invoice="Invoice",
    invoice_line="InvoiceLine",
    employee="Employee",
    customer_id="CustomerId",
    invoice_id="InvoiceId",
    invoice_line_id="InvoiceLineId",
    employee_id="EmployeeId",
    email="Email",
    invoice_date="InvoiceDate",
)
SNAKE = {k: k for k in CAMEL}


def _load(sql: str, command: list[str]) -> None:
    done = subprocess.run(command, input=sql.encode(), capture_output=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(done.stderr.decode()[-2000:])


@pytest.fixture(scope="module")
def chinook_sqlite() -> tuple[str, DataMap]:
    path = _datasets() / "chinook" / "Chinook_Sqlite.sqlite"
    return f"sqlite:///{path}", load_datamap(CHINOOK.format(**CAMEL))


@pytest.fixture(scope="module")
def chinook_pg() -> Iterator[tuple[str, DataMap]]:
    name = f"ferry_chinook_{secrets.token_hex(4)}"
    sql = (_datasets() / "chinook" / "Chinook_PostgreSql.sql").read_text(encoding="utf-8")
    sql = re.sub(r"(DROP DATABASE IF EXISTS|CREATE DATABASE|\\c) chinook;", rf"\1 {name};", sql)
    url = sa.make_url(PG_URL)
    try:
        _load(
            sql,
            [
                "psql",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(url.host),
                "-p",
                str(url.port or 5432),
                "-U",
                str(url.username),
                "-d",
                str(url.database),
            ],
        )
    except (OSError, AssertionError) as exc:
        missing("PostgreSQL with psql", f"start it and install postgresql-client ({exc})")
    yield url.set(database=name).render_as_string(False), load_datamap(CHINOOK.format(**SNAKE))
    _drop_pg(name)


def _drop_pg(name: str) -> None:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def chinook_mariadb() -> Iterator[tuple[str, DataMap]]:
    name = f"ferry_chinook_{secrets.token_hex(4)}"
    sql = (_datasets() / "chinook" / "Chinook_MySql.sql").read_text(encoding="utf-8")
    sql = re.sub(r"(DROP DATABASE IF EXISTS|CREATE DATABASE|USE) `Chinook`;", rf"\1 `{name}`;", sql)
    url = sa.make_url(MARIADB_URL)
    try:
        _load(
            sql,
            ["mysql", "-h", str(url.host), "-P", str(url.port or 3306), "-u", str(url.username)],
        )
    except (OSError, AssertionError) as exc:
        missing("MariaDB with the mysql client", f"start it on 127.0.0.1:3306 ({exc})")
    yield url.set(database=name).render_as_string(False), load_datamap(CHINOOK.format(**CAMEL))
    engine = sa.create_engine(MARIADB_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


def _truth(url: str, m: dict[str, str], email: str) -> tuple[set[int], set[int], set[int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        q = lambda s: {r[0] for r in conn.execute(sa.text(s.format(**m)), {"e": email})}  # noqa: E731
        cust = q("SELECT {customer_id} FROM {customer} WHERE {email} = :e")
        inv = q(
            "SELECT i.{invoice_id} FROM {invoice} i JOIN {customer} c ON "
            "c.{customer_id} = i.{customer_id} WHERE c.{email} = :e"
        )
        lines = q(
            "SELECT l.{invoice_line_id} FROM {invoice_line} l JOIN {invoice} i ON "
            "i.{invoice_id} = l.{invoice_id} JOIN {customer} c ON "
            "c.{customer_id} = i.{customer_id} WHERE c.{email} = :e"
        )
    engine.dispose()
    return cust, inv, lines


def _collect(url: str, datamap: DataMap, tmp: Path, *who: Identity) -> dict[str, set[int]]:
    engine = Collection(
        [Source("chinook", datamap, lambda: SqlConnector(url))],
        [Person("r", list(who))],
        tmp / "work",
    )
    outcome = engine.run()["chinook"]
    assert outcome.status == "done", outcome.error
    key = {d.name: d for d in datamap.datasets.values()}
    return {
        d.dataset: {int(str(r[key[d.dataset].primary_key[0]])) for r in d.rows}
        for d in engine.datasets(engine.people["r"])
    }


@pytest.mark.parametrize("where", ["chinook_sqlite", "chinook_pg", "chinook_mariadb"])
def test_one_customer_all_their_invoices_and_lines_nothing_else(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url, datamap = request.getfixturevalue(where)
    names = CAMEL if datamap.datasets["customer"].table == "Customer" else SNAKE
    email = "luisg@embraer.com.br"  # Luís Gonçalves
    cust, inv, lines = _truth(url, names, email)
    got = _collect(url, datamap, tmp_path, Identity.parse("email", email))
    assert got["customer"] == cust and len(cust) == 1
    assert got["invoice"] == inv and len(inv) == 7
    assert got["invoice_line"] == lines and len(lines) == 38
    assert not got.get("employee")  # the support rep is another person: never pulled up
    hostile = _collect(
        url,
        datamap,
        tmp_path / "h",
        Identity(IdentityType.EMAIL, "x@y.zz' OR '1'='1"),
        Identity.parse("customer_id", "1 OR 1=1"),
    )
    assert all(v == set() for v in hostile.values()) and hostile


NORTHWIND = """
system: northwind
datasets:
  customers:
    primary_key: customer_id
    identities: {customer_id: customer_id}
  orders:
    primary_key: order_id
    references:
      - {field: customer_id, to: customers.customer_id}
      - {field: employee_id, to: employees.employee_id}
  order_details:
    primary_key: [order_id, product_id]
    references: [{field: order_id, to: orders.order_id}]
  employees:
    primary_key: employee_id
"""


@pytest.fixture(scope="module")
def northwind_pg() -> Iterator[str]:
    name = f"ferry_northwind_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        missing("PostgreSQL", f"start it or set FERRY_TEST_POSTGRES_URL ({type(exc).__name__})")
    admin.dispose()
    url = sa.make_url(PG_URL).set(database=name)
    sql = (_datasets() / "northwind" / "northwind_psql.sql").read_text(encoding="utf-8")
    _load(
        sql,
        [
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(url.host),
            "-p",
            str(url.port or 5432),
            "-U",
            str(url.username),
            "-d",
            name,
        ],
    )
    yield url.render_as_string(False)
    _drop_pg(name)


def test_northwind_by_customer_id(northwind_pg: str, tmp_path: Path) -> None:
    datamap = load_datamap(NORTHWIND)
    engine = Collection(
        [Source("nw", datamap, lambda: SqlConnector(northwind_pg))],
        [Person("r", [Identity.parse("customer_id", "ALFKI")])],
        tmp_path,
    )
    assert engine.run()["nw"].status == "done"
    got = {d.dataset: list(d.rows) for d in engine.datasets(engine.people["r"])}
    db = sa.create_engine(northwind_pg)
    with db.connect() as conn:
        orders = {
            r[0]
            for r in conn.execute(sa.text("SELECT order_id FROM orders WHERE customer_id='ALFKI'"))
        }
        details = conn.execute(
            sa.text(
                "SELECT count(*) FROM order_details d JOIN orders o USING (order_id) "
                "WHERE o.customer_id = 'ALFKI'"
            )
        ).scalar()
    db.dispose()
    assert [r["customer_id"] for r in got["customers"]] == ["ALFKI"]
    assert {r["order_id"] for r in got["orders"]} == orders and len(orders) == 6
    assert len(got["order_details"]) == details == 12
    assert {r["order_id"] for r in got["order_details"]} <= orders
    assert not got.get("employees")  # the employee who took the order is not pulled up
