"""Knowledge-based matching: the person states facts the client holds; Ferry compares, never shows.

Levels follow the CCPA regulations (11 CCR § 7062): two matching data points give a
"reasonable degree of certainty"; three plus a signed declaration under penalty of perjury give
a "reasonably high degree of certainty".

The probe reads candidates from the client's systems with a fixed shape of work: one fetch per
(identity, keyed dataset) and one per child dataset whether or not the parent matched (a decoy
key is always added), so a known and an unknown person cost the same connector calls. The check
hashes every configured point's stated and candidate values either way (a random decoy stands
in for a missing candidate), so both paths compute the same number of keyed hashes.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from ferry.collect.datamap import DataMap, check_column
from ferry.connectors.base import Connector, Row
from ferry.crypto.tokens import keyed_hash, same
from ferry.domain.models import Identity
from ferry.verify.base import Attempt, Level, Outcome

DECOY_KEY = "-1"  # coerces to every integer and text column and matches no real row
Normaliser = Literal["text", "postcode", "date", "digits"]


class PointSpec(BaseModel):
    """A fact the person may state: where it lives and how values are compared."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    dataset: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    field: str
    latest_by: str | None = None  # take the value from the newest row by this column
    compare: Normaliser = "text"

    def model_post_init(self, _: Any) -> None:
        check_column(self.field)
        if self.latest_by:
            check_column(self.latest_by)


DEFAULT_POINTS = [
    PointSpec(name="postcode", dataset="customers", field="postcode", compare="postcode"),
    PointSpec(name="date_of_birth", dataset="customers", field="date_of_birth", compare="date"),
    PointSpec(
        name="last_order", dataset="orders", field="id", latest_by="placed_at", compare="digits"
    ),
]


class KnowledgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[PointSpec] = Field(default_factory=lambda: list(DEFAULT_POINTS), max_length=12)
    reasonable: int = Field(default=2, ge=1, le=12)
    high: int = Field(default=3, ge=1, le=12)


def normalise(kind: Normaliser, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    if kind == "postcode":
        return re.sub(r"[\s-]+", "", text)
    if kind == "digits":
        return re.sub(r"\D+", "", text).lstrip("0")
    if kind == "date":
        if isinstance(value, date):
            return value.isoformat()
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d"):
            try:
                return datetime.strptime(text[:10], fmt).date().isoformat()
            except ValueError:
                continue
        return text
    return re.sub(r"\s+", " ", text)


@dataclass
class Probe:
    """Candidate values per point (None: nothing on file) and how many people matched."""

    candidates: dict[str, str | None] = field(default_factory=dict)
    people: int = 0
    fetches: int = 0


def _parent(datamap: DataMap, dataset: str) -> tuple[str, str, str] | None:
    """``(parent dataset, parent column, this dataset's column)`` for the first reference."""
    refs = datamap.datasets[dataset].references
    return (refs[0].to_dataset, refs[0].to_field, refs[0].field) if refs else None


def probe(
    connector: Connector, datamap: DataMap, identities: Sequence[Identity], points: list[PointSpec]
) -> Probe:
    """Each point's candidate from the person's rows, by work that does not depend on them."""
    result = Probe()
    rows: dict[str, list[Row]] = {}

    def rows_of(name: str, depth: int = 0) -> list[Row]:
        if name in rows:
            return rows[name]
        ds = datamap.datasets[name]
        found: list[Row] = []
        keyed = [i for i in identities if i.type in ds.identities]
        if keyed:
            for identity in keyed:
                result.fetches += 1
                found.extend(connector.fetch(ds, ds.identities[identity.type], [identity.value]))
        elif (parent := _parent(datamap, name)) and depth < 5:
            keys = [r.get(parent[1]) for r in rows_of(parent[0], depth + 1)]
            result.fetches += 1
            found = list(connector.fetch(ds, parent[2], [*keys, DECOY_KEY]))
        rows[name] = found
        return found

    for spec in points:
        if spec.dataset not in datamap.datasets:
            result.candidates.setdefault(spec.name, None)
            continue
        candidates = rows_of(spec.dataset)
        if spec.latest_by:
            key = spec.latest_by
            candidates = sorted(candidates, key=lambda r: str(r.get(key) or ""), reverse=True)
        value = candidates[0].get(spec.field) if candidates else None
        result.candidates[spec.name] = None if value is None else str(value)
    roots = {
        n for n, ds in datamap.datasets.items() if any(i.type in ds.identities for i in identities)
    }
    result.people = max((len(rows.get(n, [])) for n in roots), default=0)
    return result


class Knowledge:
    name: ClassVar[str] = "knowledge"
    max_level: ClassVar[Level] = Level.HIGH

    def __init__(self, config: KnowledgeConfig) -> None:
        self.config = config

    @classmethod
    def build(cls, config: Mapping[str, Any]) -> Self:
        return cls(KnowledgeConfig.model_validate(config))

    def check(self, attempt: Attempt) -> Outcome:
        """Hash stated and on-file values of every point; count the matches; no value leaves."""
        matched: list[str] = []
        for spec in self.config.points:
            stated = normalise(spec.compare, attempt.answer.get(spec.name))
            held = attempt.expected.get(spec.name)
            on_file = normalise(spec.compare, held) if held else secrets.token_hex(16)
            a = keyed_hash(attempt.secret, "kba", attempt.request_id, spec.name, stated)
            b = keyed_hash(attempt.secret, "kba", attempt.request_id, spec.name, on_file)
            if same(a, b) and stated:
                matched.append(spec.name)
        declared = bool(str(attempt.answer.get("declaration", "")).strip())
        level = Level.NONE
        if len(matched) >= self.config.high and declared:
            level = Level.HIGH
        elif len(matched) >= self.config.reasonable:
            level = Level.REASONABLE
        details = {"stated": sum(1 for s in self.config.points if attempt.answer.get(s.name))}
        return Outcome(level > Level.NONE, level, tuple(matched), {**details, "declared": declared})
