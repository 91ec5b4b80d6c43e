"""Filters applied before writing (categories, systems and dates are applied by the planner).

Provenance: portability (``transfer``, ``device``, and ``consent-share``, which passes data on
to a third party) covers data the person provided or that was observed about them, not data
the company derived or inferred (WP29 guidelines on the right to data portability, WP242).
An ``access`` request includes derived data (EDPB guidelines 01/2022 on the right of access).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from ferry.domain.models import DatasetRows
from ferry.export.schema import provenance_of

INCLUDES_DERIVED = frozenset({"access"})


def without_derived(data: DatasetRows) -> DatasetRows | None:
    """The dataset without derived fields; ``None`` if nothing else is left."""
    derived = {
        name for name, cat in data.categories.items() if provenance_of(data, name, cat) == "derived"
    }
    derived |= {name for name, said in data.provenance.items() if said == "derived"}
    if not derived:
        return data
    categories = {k: v for k, v in data.categories.items() if k not in derived}
    if not categories:
        return None
    rows = [{k: v for k, v in row.items() if k not in derived} for row in data.rows]
    return replace(data, categories=categories, rows=rows)


def for_kind(kind: str, datasets: Iterable[DatasetRows]) -> Iterator[DatasetRows]:
    """Apply the provenance rule of the request kind."""
    for data in datasets:
        kept = data if kind in INCLUDES_DERIVED else without_derived(data)
        if kept is not None:
            yield kept
