"""A demo client system: an online shop's database filled with seeded, deterministic fake people.

Tables: customers, orders, order_items, products (not personal), support_tickets and agents
(support staff, who must never appear in a customer's export). ``shop-map.yaml`` beside this
module is its data map.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from faker import Faker
from sqlalchemy.engine import URL

from ferry.collect.datamap import DataMap, load_datamap

_EPOCH = datetime(2025, 1, 1, 9, 0, 0)
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
_STATUSES = ("placed", "paid", "shipped", "delivered", "returned", "cancelled")
_SAMPLES = 3  # customers 1..3 always have orders, items and tickets
_AGENTS = 12
_PRODUCTS = 200

Rows = list[dict[str, Any]]


@dataclass
class DemoInfo:
    """Where the demo shop lives and a few people to ask for."""

    url: str
    path: Path | None = None
    sample_emails: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _metadata() -> sa.MetaData:
    md = sa.MetaData()
    s, num = sa.String, sa.Numeric(10, 2)
    sa.Table(
        "customers", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", s(254), nullable=False, unique=True),
        sa.Column("first_name", s(80)), sa.Column("last_name", s(80)), sa.Column("phone", s(40)),
        sa.Column("street", s(200)), sa.Column("city", s(100)), sa.Column("postcode", s(20)),
        sa.Column("country", s(80)), sa.Column("date_of_birth", sa.Date),
        sa.Column("created_at", sa.DateTime),
    )  # fmt: skip
    sa.Table("agents", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", s(160)), sa.Column("email", s(254)))  # fmt: skip
    sa.Table("products", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", s(200)), sa.Column("price", num))  # fmt: skip
    sa.Table(
        "orders", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), index=True),
        sa.Column("placed_at", sa.DateTime), sa.Column("total", num), sa.Column("status", s(20)),
        sa.Column("ship_street", s(200)), sa.Column("ship_city", s(100)),
        sa.Column("ship_postcode", s(20)), sa.Column("ship_country", s(80)),
    )  # fmt: skip
    sa.Table(
        "order_items", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), index=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id")),
        sa.Column("quantity", sa.Integer), sa.Column("unit_price", num),
    )  # fmt: skip
    sa.Table(
        "support_tickets", md, sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), index=True),
        sa.Column("opened_at", sa.DateTime), sa.Column("subject", s(200)),
        sa.Column("body", sa.Text), sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id")),
    )  # fmt: skip
    return md


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


class _Generator:
    """Deterministic rows for every table from one seed."""

    def __init__(self, seed: int) -> None:
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)  # noqa: S311 - fake data, not secrets

    def _when(self, days: int) -> datetime:
        return _EPOCH - timedelta(days=self.rng.randint(0, days), minutes=self.rng.randint(0, 1439))

    def _address(self) -> dict[str, str]:
        f = self.fake
        return {"street": f.street_address(), "city": f.city(), "postcode": f.postcode(),
                "country": self.rng.choice(("US", "GB", "IE", "DE", "FR", "NL"))}  # fmt: skip

    def customer(self, cid: int) -> dict[str, Any]:
        first, last = self.fake.first_name(), self.fake.last_name()
        if cid == 2:
            last = "O'Brien"  # a quote in a real value, for the injection tests
        domain = self.rng.choice(_DOMAINS)
        phone = f"+1 {self.rng.randint(201, 989)}-555-{self.rng.randint(0, 9999):04d}"
        born = date(1945, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 60))
        return {"id": cid, "email": f"{_slug(first)}.{_slug(last)}.{cid}@{domain}",
                "first_name": first, "last_name": last, "phone": phone, **self._address(),
                "date_of_birth": born, "created_at": self._when(2000)}  # fmt: skip

    def order(self, oid: int, customer: dict[str, Any]) -> dict[str, Any]:
        home = self.rng.random() < 0.8
        ship = {k: customer[k] for k in ("street", "city", "postcode", "country")}
        ship = ship if home else self._address()
        return {"id": oid, "customer_id": customer["id"], "placed_at": self._when(1500),
                "total": Decimal("0.00"), "status": self.rng.choice(_STATUSES),
                **{f"ship_{k}": v for k, v in ship.items()}}  # fmt: skip

    def ticket(self, tid: int, customer_id: int, agents: Rows) -> dict[str, Any]:
        row: dict[str, Any] = {"id": tid, "customer_id": customer_id, "opened_at": self._when(900),
               "subject": self.fake.sentence(nb_words=6).rstrip("."),
               "body": self.fake.paragraph(nb_sentences=3),
               "agent_id": self.rng.randint(1, _AGENTS)}  # fmt: skip
        agent = agents[int(row["agent_id"]) - 1]  # another person, named in free text
        row["body"] = f"{row['body']} {agent['name']} ({agent['email']}) took this ticket."
        return row

    def agents(self) -> Rows:
        rows = []
        for aid in range(1, _AGENTS + 1):
            first, last = self.fake.first_name(), self.fake.last_name()
            email = f"{_slug(first)}.{_slug(last)}@support.shop.example"
            rows.append({"id": aid, "name": f"{first} {last}", "email": email})
        return rows

    def products(self) -> Rows:
        return [
            {
                "id": pid,
                "name": self.fake.catch_phrase(),
                "price": Decimal(self.rng.randint(199, 19999)) / 100,
            }
            for pid in range(1, _PRODUCTS + 1)
        ]


def _generate(customers: int, seed: int) -> dict[str, Rows]:
    gen = _Generator(seed)
    products = gen.products()
    data: dict[str, Rows] = {"agents": gen.agents(), "products": products, "customers": [],
                             "orders": [], "order_items": [], "support_tickets": []}  # fmt: skip
    for cid in range(1, customers + 1):
        person = gen.customer(cid)
        data["customers"].append(person)
        sample = cid <= _SAMPLES
        for _ in range(gen.rng.randint(2 if sample else 0, 6)):
            order = gen.order(len(data["orders"]) + 1, person)
            data["orders"].append(order)
            for _ in range(gen.rng.randint(1, 3)):
                product = gen.rng.choice(products)
                qty = gen.rng.randint(1, 4)
                order["total"] += product["price"] * qty
                data["order_items"].append({"id": len(data["order_items"]) + 1,
                    "order_id": order["id"], "product_id": product["id"], "quantity": qty,
                    "unit_price": product["price"]})  # fmt: skip
        for _ in range(gen.rng.randint(1 if sample else 0, 2)):
            ticket = gen.ticket(len(data["support_tickets"]) + 1, cid, data["agents"])
            data["support_tickets"].append(ticket)
    return data


def build_demo_shop_url(url: str | URL, customers: int = 3000, seed: int = 7) -> DemoInfo:
    """Create (or re-create) the shop's tables at ``url`` and fill them in bulk."""
    if customers < _SAMPLES:
        raise ValueError(f"the demo shop needs at least {_SAMPLES} customers")
    data = _generate(customers, seed)
    md = _metadata()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            md.drop_all(conn)
            md.create_all(conn)
            for table in md.sorted_tables:
                conn.execute(table.insert(), data[table.name])
    finally:
        engine.dispose()
    target = sa.engine.make_url(url).render_as_string(hide_password=False)
    samples = [c["email"] for c in data["customers"][:_SAMPLES]]
    counts = {name: len(rows) for name, rows in data.items()}
    return DemoInfo(url=target, sample_emails=samples, counts=counts)


def build_demo_shop(path: Path, customers: int = 3000, seed: int = 7) -> DemoInfo:
    """A fresh SQLite file at ``path`` holding the demo shop."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    url = URL.create("sqlite", database=str(path))
    info = build_demo_shop_url(url, customers=customers, seed=seed)
    info.path = path
    return info


def shop_map_text() -> str:
    """The demo shop's data map (YAML), shipped as package data."""
    return resources.files("ferry.demo").joinpath("shop-map.yaml").read_text(encoding="utf-8")


def shop_map() -> DataMap:
    """The demo shop's data map, validated."""
    return load_datamap(shop_map_text())
