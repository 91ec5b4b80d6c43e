"""The data map: which datasets of a client system hold a person's data, and how they link.

A map names the system, and for each dataset its table, the columns that identify the person
(``identities``), the references that lead from one dataset to another, the timestamp used for
date-range scope and the data category of each field. See ``docs/data-map.md``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ferry.domain.errors import InvalidInput
from ferry.domain.models import IdentityType

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_SYSTEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CATEGORY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")


def check_column(name: str) -> str:
    """Return ``name`` if it is a plain column identifier, else raise ``ValueError``."""
    if not _COLUMN.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain column name (letters, digits, underscore)")
    return name


def check_table(name: str) -> str:
    """Return ``name`` if it is ``table`` or ``schema.table`` made of plain identifiers."""
    if not _TABLE.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain table name (letters, digits, _, schema.table)")
    return name


class Provenance(StrEnum):
    """How the client came to hold a field: the person gave it, it was observed, or derived."""

    PROVIDED = "provided"
    OBSERVED = "observed"
    DERIVED = "derived"


class Reference(BaseModel):
    """This dataset's ``field`` holds values of ``to`` in another dataset.

    ``to`` is ``dataset.column`` in the same system, or ``system.dataset.column`` in another
    system of the tenant (a customer id found in the CRM used to query billing).
    """

    model_config = ConfigDict(extra="forbid")

    field: str
    to: str

    @field_validator("field")
    @classmethod
    def _plain_field(cls, value: str) -> str:
        return check_column(value)

    @field_validator("to")
    @classmethod
    def _dotted_target(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) == 3 and _SYSTEM.fullmatch(parts[0]):
            parts = parts[1:]
        if len(parts) != 2 or not all(_COLUMN.fullmatch(p) for p in parts):
            raise ValueError(
                f"{value!r} must look like dataset.column (customers.id) "
                "or system.dataset.column (crm.customers.id)"
            )
        return value

    @property
    def to_system(self) -> str | None:
        """The other system's name for a cross-system reference, else ``None``."""
        parts = self.to.split(".")
        return parts[0] if len(parts) == 3 else None

    @property
    def to_dataset(self) -> str:
        return self.to.split(".")[-2]

    @property
    def to_field(self) -> str:
        return self.to.split(".")[-1]


class DatasetMap(BaseModel):
    """One dataset (a table) of the system and how it relates to the person."""

    model_config = ConfigDict(extra="forbid")

    name: str
    table: str = ""
    primary_key: list[str] = Field(default_factory=list)
    identities: dict[IdentityType, str] = Field(default_factory=dict)
    timestamp: str | None = None
    references: list[Reference] = Field(default_factory=list)
    fields: dict[str, str | None] = Field(default_factory=dict)
    fields_only: bool = False
    provenance: Provenance | None = None
    field_provenance: dict[str, Provenance] = Field(default_factory=dict)
    free_text: list[str] = Field(default_factory=list)
    source: dict[str, Any] = Field(default_factory=dict)
    device: Literal["settings", "preferences", "activity"] | None = None
    model: Literal["contact", "event"] | None = None  # a standard model fits: vCard / iCalendar
    _linked: set[str] = PrivateAttr(default_factory=set)

    @model_validator(mode="before")
    @classmethod
    def _long_form_fields(cls, data: Any) -> Any:
        """``field: {category, provenance, free_text}`` is split into the three keys."""
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
            return data
        fields: dict[str, Any] = {}
        provenance = dict(data.get("field_provenance") or {})
        free_text = list(data.get("free_text") or [])
        for column, spec in data["fields"].items():
            if not isinstance(spec, dict):
                fields[column] = spec
                continue
            unknown = set(spec) - {"category", "provenance", "free_text"}
            if unknown:
                raise ValueError(
                    f"field {column!r}: unknown keys {sorted(unknown)}; "
                    "use category, provenance, free_text"
                )
            fields[column] = spec.get("category")
            if spec.get("provenance") is not None:
                provenance[column] = spec["provenance"]
            if spec.get("free_text") and column not in free_text:
                free_text.append(column)
        return {**data, "fields": fields, "field_provenance": provenance, "free_text": free_text}

    @field_validator("primary_key", mode="before")
    @classmethod
    def _key_as_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _COLUMN.fullmatch(value):
            raise ValueError(f"dataset name {value!r} must be letters, digits or underscore")
        return value

    @field_validator("table")
    @classmethod
    def _plain_table(cls, value: str) -> str:
        return check_table(value) if value else value

    @field_validator("primary_key")
    @classmethod
    def _plain_keys(cls, value: list[str]) -> list[str]:
        return [check_column(v) for v in value]

    @field_validator("identities")
    @classmethod
    def _plain_identity_columns(cls, value: dict[IdentityType, str]) -> dict[IdentityType, str]:
        return {k: check_column(v) for k, v in value.items()}

    @field_validator("timestamp")
    @classmethod
    def _plain_timestamp(cls, value: str | None) -> str | None:
        return check_column(value) if value is not None else None

    @field_validator("fields")
    @classmethod
    def _plain_fields(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for column, category in value.items():
            check_column(column)
            if category is not None and not _CATEGORY.fullmatch(category):
                raise ValueError(
                    f"field {column!r}: {category!r} is not a data category like user.contact.email"
                )
        return value

    @model_validator(mode="after")
    def _default_table(self) -> Self:
        if not self.table:
            self.table = self.name
        return self

    def key_columns(self) -> list[str]:
        """Columns the traversal needs: keys, identities, references, timestamp, linked-to."""
        cols = [*self.primary_key, *self.identities.values(), *(r.field for r in self.references)]
        if self.timestamp:
            cols.append(self.timestamp)
        cols.extend(sorted(self._linked))
        return list(dict.fromkeys(cols))

    def columns_needed(self) -> list[str] | None:
        """Columns to read, or ``None`` for all columns (when ``fields_only`` is false)."""
        if not self.fields_only:
            return None
        return list(dict.fromkeys([*self.fields, *self.key_columns()]))

    def category_of(self, column: str) -> str | None:
        return self.fields.get(column)

    def provenance_of(self, column: str) -> Provenance | None:
        """The field's provenance, else the dataset's, else ``None`` (not stated)."""
        return self.field_provenance.get(column, self.provenance)

    def lookup_columns(self) -> list[str]:
        """Columns this dataset can be looked up by: identity columns and reference fields."""
        return list(dict.fromkeys([*self.identities.values(), *(r.field for r in self.references)]))


class CollectionOptions(BaseModel):
    """How the engine treats this system: parallel connections, time limit, retries."""

    model_config = ConfigDict(extra="forbid")

    connections: int = Field(default=2, ge=1, le=32)
    timeout_seconds: float = Field(default=600.0, gt=0, le=86_400)
    retries: int = Field(default=2, ge=0, le=10)


_SHAPES: dict[int, tuple[DataMap, str, dict[str, DatasetMap], MapShape]] = {}
_SHAPES_KEPT = 256  # maps whose shape is kept (the store keeps as many parsed maps)
_SHAPES_LOCK = threading.Lock()


@dataclass(frozen=True)
class MapShape:
    """What walking a map needs to know of its datasets' links, derived once per map."""

    children: dict[str, list[tuple[DatasetMap, Reference]]]  # references pointing at each
    links: dict[str, list[tuple[str, str, str]]]  # the same as (child, its column, this column)
    external: tuple[tuple[DatasetMap, Reference], ...]  # references into other systems
    keyed_by: dict[IdentityType, tuple[DatasetMap, ...]]  # datasets with a column for each
    multi: frozenset[str]  # datasets that can be looked up by more than one column
    order: dict[str, int]  # each dataset's place in the map

    @classmethod
    def of(cls, datamap: DataMap) -> MapShape:
        children: dict[str, list[tuple[DatasetMap, Reference]]] = {n: [] for n in datamap.datasets}
        external = []
        for ds in datamap.datasets.values():
            for ref in ds.references:
                if ref.to_system not in (None, datamap.system):
                    external.append((ds, ref))
                elif ref.to_dataset in children:
                    children[ref.to_dataset].append((ds, ref))
        links = {
            name: [(child.name, ref.field, ref.to_field) for child, ref in kids]
            for name, kids in children.items()
        }
        keyed_by = {
            kind: tuple(ds for ds in datamap.datasets.values() if kind in ds.identities)
            for kind in IdentityType
        }
        multi = frozenset(d.name for d in datamap.datasets.values() if len(d.lookup_columns()) > 1)
        order = {name: i for i, name in enumerate(datamap.datasets)}
        return cls(children, links, tuple(external), keyed_by, multi, order)


class DataMap(BaseModel):
    """The data map of one system (not changed once loaded: see :meth:`shape`)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    datasets: dict[str, DatasetMap]
    connection: dict[str, Any] = Field(default_factory=dict)
    collection: CollectionOptions = Field(default_factory=lambda: CollectionOptions())

    def shape(self) -> MapShape:
        """The links between this map's datasets, derived on first use and kept: a request
        walks a map the store parsed once (``gather._datamap``). A copy under another
        system name, or with other datasets, derives its own. (Kept beside the map, not in
        a pydantic private attribute: reading one of those costs microseconds.)"""
        found = _SHAPES.get(id(self))
        if found and found[0] is self and found[1] == self.system and found[2] is self.datasets:
            return found[3]
        shape = MapShape.of(self)
        with _SHAPES_LOCK:
            while len(_SHAPES) >= _SHAPES_KEPT:
                _SHAPES.pop(next(iter(_SHAPES)))
            _SHAPES[id(self)] = (self, self.system, self.datasets, shape)
        return shape

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate like pydantic, but raise ``InvalidInput`` naming each bad key."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as err:
            raise InvalidInput(f"data map is not valid: {explain(err)}") from None

    @model_validator(mode="before")
    @classmethod
    def _name_datasets(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("datasets"), dict):
            named = {}
            for key, value in data["datasets"].items():
                value = {} if value is None else value
                named[key] = {**value, "name": key} if isinstance(value, dict) else value
            data = {**data, "datasets": named}
        return data

    @field_validator("system")
    @classmethod
    def _plain_system(cls, value: str) -> str:
        if not _SYSTEM.fullmatch(value):
            raise ValueError(f"system name {value!r} must be letters, digits, '_', '-' or '.'")
        return value

    @field_validator("datasets")
    @classmethod
    def _not_empty(cls, value: dict[str, DatasetMap]) -> dict[str, DatasetMap]:
        if not value:
            raise ValueError("a data map needs at least one dataset")
        return value

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        for ds in self.datasets.values():
            for column in [*ds.field_provenance, *ds.free_text]:
                if column not in ds.fields:
                    raise ValueError(f"dataset {ds.name!r}: {column!r} is not under fields")
            for i, ref in enumerate(ds.references):
                if ref.to_system is not None and ref.to_system != self.system:
                    continue  # checked when the tenant's maps are put together
                target = self.datasets.get(ref.to_dataset)
                where = f"dataset {ds.name!r} reference {i} ({ref.field} -> {ref.to})"
                if target is None:
                    raise ValueError(f"{where}: no dataset named {ref.to_dataset!r} in the map")
                if target.fields_only and ref.to_field not in target.key_columns() + list(
                    target.fields
                ):
                    raise ValueError(f"{where}: {ref.to_dataset!r} has no field {ref.to_field!r}")
                target._linked.add(ref.to_field)
        return self

    def children(self, name: str) -> list[tuple[DatasetMap, Reference]]:
        """Datasets whose references point at dataset ``name`` (the "down" direction)."""
        return [
            (ds, ref)
            for ds in self.datasets.values()
            for ref in ds.references
            if ref.to_dataset == name and ref.to_system in (None, self.system)
        ]

    def children_of_each(self) -> dict[str, list[tuple[DatasetMap, Reference]]]:
        """:meth:`children` of every dataset (derived once: do not change the lists)."""
        return self.shape().children

    def external_references(self) -> tuple[tuple[DatasetMap, Reference], ...]:
        """References of this system's datasets into other systems."""
        return self.shape().external

    def keyed_by(self, identity: IdentityType) -> tuple[DatasetMap, ...]:
        """Datasets with a column for this identity type."""
        return self.shape().keyed_by[identity]


def explain(err: ValidationError) -> str:
    """One line per problem: ``where: what``."""
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def load_datamap(source: str | Path) -> DataMap:
    """Load a data map from YAML text or from a ``.yaml``/``.yml`` file path."""
    text = str(source)
    if isinstance(source, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"data map file {str(path)!r} not found")
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C if available
    except yaml.YAMLError as err:
        raise InvalidInput(f"data map is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise InvalidInput("data map must be a YAML mapping with 'system' and 'datasets'")
    return DataMap.model_validate(data)
