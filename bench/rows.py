"""Generated rows for the benchmarks: re-iterable and lazy, so the rows themselves take no
memory and peak RSS shows what the writers hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

from ferry.domain.models import DatasetRows

START = datetime(2020, 1, 1, tzinfo=UTC)
STATUSES = ("placed", "paid", "shipped", "delivered", "returned")


class LazyRows:
    """``rows`` rows of an orders-like table, made again on every pass."""

    def __init__(self, rows: int) -> None:
        self.count = rows

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, object]:
        return make_row(index)

    def __iter__(self) -> Iterator[dict[str, object]]:
        return (make_row(i) for i in range(self.count))


def make_row(i: int) -> dict[str, object]:
    return {
        "id": i,
        "email": f"person.{i % 9973}@example.org",
        "name": f"Customer {i % 9973}",
        "amount": Decimal(i % 100000) / 100,
        "placed_at": START + timedelta(minutes=i),
        "status": STATUSES[i % 5],
        "note": 'left at the door; <fragile> & "handle with care"' if i % 7 == 0 else "",
    }


CATEGORIES: dict[str, str | None] = {
    "id": "user.behavior.purchase_history",
    "email": "user.contact.email",
    "name": "user.name",
    "amount": "user.financial.purchase_amount",
    "placed_at": "user.behavior.purchase_history",
    "status": "user.behavior.purchase_history",
    "note": "user.content.private",
}


def dataset(rows: int, lazy: bool = False) -> DatasetRows:
    """Lazy rows (made on every pass: for peak RSS), or a list as collection gives (for
    throughput; it repeats 10,000 distinct rows so the list itself stays small)."""
    if lazy:
        made = cast(list[dict[str, object]], LazyRows(rows))
    else:
        distinct = [make_row(i) for i in range(min(rows, 10_000))]
        made = [distinct[i % len(distinct)] for i in range(rows)] if rows else []
    return DatasetRows("shop", "orders", dict(CATEGORIES), made, timestamp="placed_at")
