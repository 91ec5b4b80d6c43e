"""The data map: which datasets of a client system hold a person's data, and how they link.

A map names the system, and for each dataset its table, the columns that identify the person
(``identities``), the references that lead from one dataset to another, the timestamp used for
date-range scope and the data category of each field. See ``docs/data-map.md``.
"""

from __future__ import annotations

import re
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


class Reference(BaseModel):
    """This dataset's ``field`` holds values of ``to`` (``dataset.column``) in another dataset."""

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
        dataset, sep, column = value.partition(".")
        if not sep or not _COLUMN.fullmatch(dataset) or not _COLUMN.fullmatch(column):
            raise ValueError(f"{value!r} must look like dataset.column, e.g. customers.id")
        return value

    @property
    def to_dataset(self) -> str:
        return self.to.partition(".")[0]

    @property
    def to_field(self) -> str:
        return self.to.partition(".")[2]


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
    device: Literal["settings", "preferences", "activity"] | None = None
    _linked: set[str] = PrivateAttr(default_factory=set)

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


class DataMap(BaseModel):
    """The data map of one system."""

    model_config = ConfigDict(extra="forbid")

    system: str
    datasets: dict[str, DatasetMap]

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
            for i, ref in enumerate(ds.references):
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
            if ref.to_dataset == name
        ]

    def keyed_by(self, identity: IdentityType) -> list[DatasetMap]:
        """Datasets with a column for this identity type."""
        return [ds for ds in self.datasets.values() if identity in ds.identities]


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
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInput(f"data map is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise InvalidInput("data map must be a YAML mapping with 'system' and 'datasets'")
    return DataMap.model_validate(data)
