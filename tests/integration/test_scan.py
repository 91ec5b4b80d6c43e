"""`ferry system scan` and `system add` without a map: schema + sampled values -> draft map."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ferry.cli.main import app as cli
from ferry.collect.datamap import load_datamap
from ferry.collect.engine import Collection, Person, Source
from ferry.collect.scan import ColumnInfo, TableInfo, classify, draft, value_kind
from ferry.connectors.registry import open_connector
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity
from ferry.services import scan, systems, tenants
from tests.conftest import missing

CHINOOK = Path("/work/shared/datasets/chinook/Chinook_Sqlite.sqlite")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ann@example.com", "email"),
        ("+44 20 7946 0958", "phone"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("GB82WEST12345698765433", None),  # checksum wrong
        ("4111 1111 1111 1111", "card"),
        ("4111 1111 1111 1112", "phone"),  # fails Luhn: just digits
        ("192.168.10.4", "ip"),
        ("hello", None),
        (42, None),
    ],
)
def test_value_kinds(value: object, kind: str | None) -> None:
    assert value_kind(value) == kind


def test_values_beat_misleading_names() -> None:
    assert classify(ColumnInfo("contact", samples=["a@b.cc", "c@d.ee", None]))[:2] == (
        "user.contact.email",
        "email",
    )
    assert classify(ColumnInfo("email_verified", samples=["yes", "no"]))[0] is None
    assert classify(ColumnInfo("ref", samples=["DE89370400440532013000"] * 3))[0] == (
        "user.financial.bank_account"
    )


def _estate(path: Path) -> str:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE members (id INTEGER PRIMARY KEY, contact TEXT, given_name TEXT,
                              date_of_birth DATE, created_at TIMESTAMP, notes TEXT);
        CREATE TABLE payments (id INTEGER PRIMARY KEY, member_id INT REFERENCES members(id),
                               iban TEXT, paid_on DATE);
        CREATE TABLE old_addresses (id INTEGER PRIMARY KEY, full_name TEXT, street TEXT, city TEXT);
        CREATE TABLE "weird table" ("odd col" TEXT);
        """
    )
    note = "Called back; she asked us to copy her husband bob.smith@example.org on replies."
    for i in range(1, 21):
        con.execute(
            "INSERT INTO members VALUES (?,?,?,?,?,?)",
            (i, f"m{i}@example.com", f"Name{i}", "1980-01-02", "2024-01-01 10:00:00", note),
        )
        con.execute(
            "INSERT INTO payments VALUES (?,?,?,?)", (i, i, "GB82WEST12345698765432", "2024-02-01")
        )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_draft_of_a_database_collects_a_person(tmp_path: Path) -> None:
    url = _estate(tmp_path / "estate.db")
    view = scan.scan_url("club", url)
    dm = load_datamap(view.map_text)
    members = dm.datasets["members"]
    assert members.identities == {"email": "contact", "customer_id": "id"}
    assert members.fields["date_of_birth"] == "user.demographic.date_of_birth"
    assert members.free_text == ["notes"]
    assert members.timestamp == "created_at"
    assert [(r.field, r.to) for r in dm.datasets["payments"].references] == [
        ("member_id", "members.id")
    ]
    assert dm.datasets["payments"].fields["iban"] == "user.financial.bank_account"
    text = "\n".join(view.warnings)
    assert "'old_addresses' holds personal-looking columns (full_name, street, city)" in text
    assert "column 'notes' is free text" in text
    assert "'weird table' is not a plain name" in text
    assert "m3@example.com" not in view.map_text  # sampled values never end up in the draft
    engine = Collection(
        [Source("club", dm, lambda: open_connector(url))],
        [Person("r", [Identity.parse("email", "m3@example.com")])],
        tmp_path / "w",
    )
    assert engine.run()["club"].status == "done"
    got = {d.dataset: [r["id"] for r in d.rows] for d in engine.datasets(engine.people["r"])}
    assert got["members"] == [3] and got["payments"] == [3]


def test_draft_of_chinook_finds_customers_and_employees() -> None:
    if not CHINOOK.exists():
        missing("the Chinook sample", f"expected at {CHINOOK} (../shared/datasets)")
    dm = load_datamap(scan.scan_url("chinook", f"sqlite:///{CHINOOK}").map_text)
    assert dm.datasets["Customer"].identities["email"] == "Email"
    assert dm.datasets["Employee"].fields["BirthDate"] == "user.demographic.date_of_birth"
    assert "Title" not in dm.datasets["Album"].fields  # an album's title is not a job title


def test_draft_of_a_folder_of_files(tmp_path: Path) -> None:
    (tmp_path / "crm.csv").write_text("id,email,phone\n1,ann@example.com,+44 20 7946 0958\n")
    (tmp_path / "events.jsonl").write_text('{"ip": "10.0.0.1", "user": 1}\n')
    (tmp_path / "readme.md").write_text("# not data")
    dm = load_datamap(scan.scan_url("files", str(tmp_path)).map_text)
    assert set(dm.datasets) == {"crm", "events"}
    assert dm.datasets["crm"].source == {"path": "crm.csv"}
    assert dm.datasets["crm"].identities == {
        "email": "email",
        "phone": "phone",
        "customer_id": "id",
    }
    assert dm.datasets["events"].fields["ip"] == "user.device.ip_address"


def test_apis_and_empty_systems_cannot_be_scanned(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot be scanned"):
        scan.scan_url("api", "https://api.example.com")
    with pytest.raises(InvalidInput, match="no tables or files"):
        scan.scan_url("empty", str(tmp_path))


def test_cli_scan_and_add_without_map(ferry_env: Path, tmp_path: Path) -> None:
    url = _estate(tmp_path / "estate.db")
    tenants.create_tenant("t", "T Ltd", ["GB"])
    runner = CliRunner()
    added = runner.invoke(cli, ["system", "add", "t", "club", "--url", url])
    assert added.exit_code == 0, added.output
    assert "warning:" in added.output and "old_addresses" in added.output
    out = tmp_path / "draft.yaml"
    scanned = runner.invoke(cli, ["system", "scan", "t", "club", "-o", str(out)])
    assert scanned.exit_code == 0, scanned.output
    assert load_datamap(out.read_text()).datasets["members"].identities["email"] == "contact"
    assert systems.test_system("t", "club").problems == []


def _legacy(path: Path) -> str:
    """A shop with no declared foreign keys, as legacy databases often are."""
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, first_name TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, paid INTEGER);
        CREATE TABLE order_items (id INTEGER PRIMARY KEY, orderId INTEGER, sku TEXT);
        CREATE TABLE category (id INTEGER PRIMARY KEY, label TEXT, category_id INTEGER);
        CREATE TABLE products (id INTEGER PRIMARY KEY, category_id INTEGER);
        CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at TEXT, line TEXT);
        """
    )
    for i in (1, 2):
        con.execute("INSERT INTO customers VALUES (?,?,?)", (i, f"c{i}@example.com", f"N{i}"))
        con.execute("INSERT INTO orders VALUES (?,?,1)", (10 + i, i))
        con.execute("INSERT INTO order_items VALUES (?,?,'sku')", (100 + i, 10 + i))
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_draft_guesses_references_from_column_names_and_says_so(tmp_path: Path) -> None:
    url = _legacy(tmp_path / "legacy.db")
    view = scan.scan_url("shop", url)
    dm = load_datamap(view.map_text)
    refs = {n: [(r.field, r.to) for r in d.references] for n, d in dm.datasets.items()}
    assert refs["orders"] == [("customer_id", "customers.id")]
    assert refs["order_items"] == [("orderId", "orders.id")]  # camel case too
    assert refs["products"] == [("category_id", "category.id")]  # singular table name
    assert refs["customers"] == [] and refs["audit_log"] == []
    assert refs["category"] == []  # its own category_id (a parent category): not guessed
    text = "\n".join(view.warnings)
    assert "column 'customer_id' taken as a reference to customers.id from its name" in text
    assert "'paid'" not in text  # "paid" is no "pa_id"
    assert "table 'category': column" not in text
    # reachable now: a person's orders and their items are collected, nobody else's
    engine = Collection(
        [Source("shop", dm, lambda: open_connector(url))],
        [Person("r", [Identity.parse("email", "c2@example.com")])],
        tmp_path / "w",
    )
    assert engine.run()["shop"].status == "done"
    got = {d.dataset: [r["id"] for r in d.rows] for d in engine.datasets(engine.people["r"])}
    assert got["orders"] == [12] and got["order_items"] == [102]
    # what nothing reaches is said, personal-looking or not
    assert "dataset 'audit_log': no identity or reference reaches it" in text
    assert "dataset 'products': no identity or reference reaches it" in text


def _guessed(tmp_path: Path, schema: str) -> tuple[dict[str, list[tuple[str, str]]], str]:
    """The references a scan of a SQLite database made from ``schema`` drafts, and its warnings."""
    con = sqlite3.connect(tmp_path / "guess.db")
    con.executescript(schema)
    con.close()
    view = scan.scan_url("s", f"sqlite:///{tmp_path / 'guess.db'}")
    dm = load_datamap(view.map_text)
    refs = {n: [(r.field, r.to) for r in d.references] for n, d in dm.datasets.items()}
    return refs, "\n".join(view.warnings)


def test_key_columns_of_link_and_one_to_one_tables_are_references_too(tmp_path: Path) -> None:
    refs, text = _guessed(
        tmp_path,
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);
        CREATE TABLE teams (id INTEGER PRIMARY KEY, label TEXT);
        CREATE TABLE user_teams (user_id INTEGER, team_id INTEGER, PRIMARY KEY (user_id, team_id));
        CREATE TABLE user_profiles (user_id INTEGER PRIMARY KEY, bio TEXT);
        CREATE TABLE accounts (account_id INTEGER PRIMARY KEY, user_id INTEGER);
        """,
    )
    assert refs["user_teams"] == [("user_id", "users.id"), ("team_id", "teams.id")]
    assert refs["user_profiles"] == [("user_id", "users.id")]
    assert refs["accounts"] == [("user_id", "users.id")]  # its own account_id: its key, no guess
    assert "account_id" not in text


def test_no_guess_when_two_tables_fit_the_name(tmp_path: Path) -> None:
    refs, text = _guessed(
        tmp_path,
        """
        CREATE TABLE customer (id INTEGER PRIMARY KEY, label TEXT);
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER);
        """,
    )
    assert refs["orders"] == []
    assert (
        "table 'orders': column 'customer_id' could refer to customer, customers; "
        "no reference guessed, map it by hand"
    ) in text


def test_no_guess_when_the_types_differ(tmp_path: Path) -> None:
    refs, text = _guessed(
        tmp_path,
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT);
        INSERT INTO customers VALUES (1, 'a@example.com');
        INSERT INTO orders VALUES (1, 'C-1');
        CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_id BIGINT);
        """,
    )
    assert refs["orders"] == []
    assert (
        "table 'orders': column 'customer_id' looks like a reference to customers.id but their "
        "types or values differ; no reference guessed"
    ) in text
    assert refs["invoices"] == [("customer_id", "customers.id")]  # BIGINT and INTEGER: alike


def test_guesses_on_postgresql_types_and_names(pg_database: str) -> None:
    engine = sa.create_engine(pg_database)
    with engine.begin() as conn:
        for statement in [
            "CREATE TABLE accounts (id bigserial PRIMARY KEY, email varchar(200))",
            "CREATE TABLE orders (id serial PRIMARY KEY, account_id integer)",
            "CREATE TABLE sessions (id uuid PRIMARY KEY, account_id varchar(20))",
            'CREATE TABLE "Teams" (id integer PRIMARY KEY)',
            "CREATE TABLE teams (id integer PRIMARY KEY)",
            "CREATE TABLE memberships (id integer PRIMARY KEY, team_id integer)",
        ]:
            conn.execute(sa.text(statement))
    engine.dispose()
    view = scan.scan_url("pg", pg_database)
    dm = load_datamap(view.map_text)
    refs = {n: [(r.field, r.to) for r in d.references] for n, d in dm.datasets.items()}
    assert refs["orders"] == [("account_id", "accounts.id")]  # integer and bigserial: alike
    assert refs["sessions"] == []  # varchar against bigint
    assert refs["memberships"] == []  # "Teams" and teams
    text = "\n".join(view.warnings)
    assert "'sessions': column 'account_id' looks like a reference to accounts.id" in text
    assert "'memberships': column 'team_id' could refer to Teams, teams" in text


def _refs(tables: list[TableInfo]) -> tuple[dict[str, Any], str]:
    got = draft("s", tables)
    got.datamap()  # a valid map
    refs = {n: d.get("references", []) for n, d in got.map["datasets"].items()}
    return refs, "\n".join(got.warnings)


def _keyed(name: str, *columns: str) -> TableInfo:
    cols = [ColumnInfo(c, "INTEGER", [1, 2]) for c in ("id", *columns)]
    return TableInfo(name, cols, ["id"])


def test_no_guess_when_table_names_differ_only_in_case() -> None:
    # PostgreSQL has "Customers" and customers side by side (SQLite cannot: built by hand)
    refs, text = _refs([_keyed("Customers"), _keyed("customers"), _keyed("orders", "customer_id")])
    assert refs["orders"] == []
    assert "column 'customer_id' could refer to Customers, customers; no reference" in text


def test_tables_in_a_schema_are_found_by_their_last_name() -> None:
    refs, text = _refs([_keyed("sales.customers"), _keyed("sales.orders", "customer_id")])
    assert refs["orders"] == [{"field": "customer_id", "to": "customers.id"}]
    assert "taken as a reference to sales.customers.id from its name" in text
    refs, text = _refs(
        [_keyed("crm.customers"), _keyed("sales.customers"), _keyed("sales.orders", "customer_id")]
    )
    assert refs["orders"] == []
    assert "could refer to crm.customers, sales.customers; no reference guessed" in text


def test_draft_of_a_folder_of_files_guesses_references_from_values(tmp_path: Path) -> None:
    # a CSV file has no types and no declared keys: a column "id" is taken as its key
    (tmp_path / "customers.csv").write_text("id,email\n1,a@example.com\n2,b@example.com\n")
    (tmp_path / "orders.csv").write_text("id,customer_id,total\n7,2,9.50\n8,1,3.00\n")
    (tmp_path / "tickets.csv").write_text("id,customer_id\n1,C-2\n")  # another system's ids
    view = scan.scan_url("files", str(tmp_path))
    dm = load_datamap(view.map_text)
    assert dm.datasets["customers"].primary_key == ["id"]
    assert [(r.field, r.to) for r in dm.datasets["orders"].references] == [
        ("customer_id", "customers.id")
    ]
    assert dm.datasets["tickets"].references == []
    assert "'tickets': column 'customer_id' looks like a reference" in "\n".join(view.warnings)
    engine = Collection(
        [Source("files", dm, lambda: open_connector(str(tmp_path)))],
        [Person("r", [Identity.parse("email", "b@example.com")])],
        tmp_path / "w",
    )
    assert engine.run()["files"].status == "done"
    got = {d.dataset: [r["id"] for r in d.rows] for d in engine.datasets(engine.people["r"])}
    assert got["orders"] == ["7"]


def test_system_add_warns_of_datasets_a_hand_written_map_cannot_reach(
    ferry_env: Path, tmp_path: Path
) -> None:
    url = _legacy(tmp_path / "legacy.db")
    tenants.create_tenant("t", "T Ltd", ["GB"])
    crm = "system: crm\ndatasets:\n  customers:\n    identities: {email: email}\n"
    systems.add_system("t", "crm", url, crm)
    billing = """
system: billing
datasets:
  orders:
    references: [{field: customer_id, to: crm.customers.id}]
  order_items:
    references: [{field: orderId, to: orders.id}]
  audit_log: {}
"""
    view = systems.add_system("t", "billing", url, billing)
    assert view.warnings == [
        "dataset 'audit_log': no identity or reference reaches it, so its rows are never "
        "collected; map one, or remove it if it is not about people"
    ]  # orders and its items are reached through the CRM's values
