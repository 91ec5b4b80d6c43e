"""Data categories: the Fides taxonomy keys (shipped as data, see ``categories.yaml``).

A category covers its children (``user.contact`` covers ``user.contact.email``). Keys outside
the taxonomy are allowed as extensions of a known key (``user.account.created``); a key with no
known ancestor, or one the taxonomy retired, gets a warning naming what to use instead.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from ferry.collect.datamap import DataMap


@cache
def _taxonomy() -> tuple[frozenset[str], dict[str, str]]:
    text = resources.files("ferry.collect").joinpath("categories.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return frozenset(data["keys"]), dict(data["deprecated"])


def known_categories() -> frozenset[str]:
    return _taxonomy()[0]


def category_warning(key: str) -> str | None:
    """Why ``key`` may be a mistake, or ``None``."""
    keys, deprecated = _taxonomy()
    if key in keys:
        return None
    if key in deprecated:
        return f"{key!r} is retired in the Fides taxonomy; use {deprecated[key]!r}"
    parts = key.split(".")
    if any(".".join(parts[:n]) in keys for n in range(len(parts) - 1, 0, -1)):
        return None  # an extension of a known category
    return f"{key!r} is not a Fides data category nor an extension of one (e.g. user.contact)"


def map_warnings(datamap: DataMap) -> list[str]:
    """Category warnings for every field of the map."""
    found = []
    for ds in datamap.datasets.values():
        for column, category in ds.fields.items():
            problem = category_warning(category) if category else None
            if problem:
                found.append(f"dataset {ds.name!r} field {column!r}: {problem}")
    return found
