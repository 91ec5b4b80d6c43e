"""Import Fides dataset YAML (the fideslang ``dataset`` format) as Ferry data maps.

Each Fides dataset becomes one system map (system name: its ``fides_key``), each collection a
dataset. Per field: the first of ``data_categories`` is its category; ``fides_meta.identity``
makes it an identity column; ``fides_meta.primary_key`` a key column; ``fides_meta.references``
become Ferry references:

- ``direction: from`` (the other field's values look this one up) → a reference on this
  collection: ``{field: this, to: other}``.
- ``direction: to`` (this field's values look the other one up) → a reference on the other
  collection, pointing back here.
- no direction: Fides may walk it either way; Ferry only walks "down", so it is read as
  ``from`` and reported, for a person to check.

References to another Fides dataset become cross-system references (``other_key.coll.field``).
What Ferry cannot express (nested fields, several categories, unknown identity types) is
reported in ``warnings``, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ferry.collect.datamap import DataMap
from ferry.domain.errors import InvalidInput
from ferry.domain.models import IdentityType

_IDENTITY = {"email": "email", "phone_number": "phone", "phone": "phone", "user_id": "account_id"}
_IDENTITY.update({t.value: t.value for t in IdentityType})


@dataclass
class FidesImport:
    maps: dict[str, DataMap] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def is_fides(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("dataset"), list)


def import_fides(text: str) -> FidesImport:
    """Convert Fides dataset YAML to one Ferry map per Fides dataset."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInput(f"Fides dataset file is not valid YAML: {err}") from None
    if not is_fides(data):
        raise InvalidInput("a Fides dataset file has a top-level 'dataset:' list")
    out = FidesImport()
    raw: dict[str, dict[str, Any]] = {}
    for ds in data["dataset"]:
        key = str((ds or {}).get("fides_key") or "")
        if not key:
            raise InvalidInput("every Fides dataset needs a fides_key")
        raw[key] = {"system": key, "datasets": {}}
    for ds in data["dataset"]:
        _dataset(ds, raw, out.warnings)
    for key, body in raw.items():
        try:
            out.maps[key] = DataMap.model_validate(body)
        except InvalidInput as err:
            raise InvalidInput(f"Fides dataset {key!r}: {err.message}") from None
    return out


def _dataset(ds: dict[str, Any], raw: dict[str, dict[str, Any]], warnings: list[str]) -> None:
    key = str(ds["fides_key"])
    for coll in ds.get("collections") or []:
        name = str(coll.get("name") or "")
        target = raw[key]["datasets"].setdefault(name, {})
        for fld in coll.get("fields") or []:
            _field(key, name, fld, target, raw, warnings)


def _field(
    key: str,
    coll: str,
    fld: dict[str, Any],
    target: dict[str, Any],
    raw: dict[str, dict[str, Any]],
    warnings: list[str],
) -> None:
    name = str(fld.get("name") or "")
    where = f"{key}.{coll}.{name}"
    if fld.get("fields"):
        warnings.append(f"{where}: nested fields are not imported (Ferry maps flat columns)")
    categories = list(fld.get("data_categories") or [])
    if len(categories) > 1:
        warnings.append(f"{where}: several categories {categories}; using {categories[0]!r}")
    target.setdefault("fields", {})[name] = categories[0] if categories else None
    meta = fld.get("fides_meta") or fld.get("fidesops_meta") or {}
    identity = meta.get("identity")
    if identity:
        kind = _IDENTITY.get(str(identity))
        if kind is None:
            warnings.append(f"{where}: identity {identity!r} has no Ferry identity type; skipped")
        else:
            target.setdefault("identities", {})[kind] = name
    if meta.get("primary_key"):
        target.setdefault("primary_key", []).append(name)
    for ref in meta.get("references") or []:
        _reference(key, coll, name, ref, target, raw, warnings)


def _reference(
    key: str,
    coll: str,
    name: str,
    ref: dict[str, Any],
    target: dict[str, Any],
    raw: dict[str, dict[str, Any]],
    warnings: list[str],
) -> None:
    where = f"{key}.{coll}.{name}"
    other_key = str(ref.get("dataset") or key)
    other_coll, _, other_field = str(ref.get("field") or "").partition(".")
    if not other_field or "." in other_field:
        warnings.append(f"{where}: reference to {ref.get('field')!r} is not collection.field")
        return
    direction = ref.get("direction")
    if direction not in ("to", "from"):
        warnings.append(f"{where}: reference without direction read as 'from' (check it)")
        direction = "from"
    if direction == "from":
        prefix = "" if other_key == key else f"{other_key}."
        target.setdefault("references", []).append(
            {"field": name, "to": f"{prefix}{other_coll}.{other_field}"}
        )
        return
    if other_key not in raw:
        warnings.append(f"{where}: reference into dataset {other_key!r}, not in this file")
        return
    prefix = "" if other_key == key else f"{key}."
    back = raw[other_key]["datasets"].setdefault(other_coll, {})
    back.setdefault("references", []).append({"field": other_field, "to": f"{prefix}{coll}.{name}"})


def to_yaml(datamap: DataMap) -> str:
    """A Ferry map as YAML text (what ``ferry system add`` stores)."""
    data = datamap.model_dump(mode="json", exclude_defaults=True)
    for ds in data.get("datasets", {}).values():
        ds.pop("name", None)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def ferry_map_text(text: str, system: str) -> tuple[str, list[str]]:
    """The Ferry map for ``system`` from a Fides file (the dataset keyed ``system``, or the
    only one), as YAML, with the import's warnings."""
    found = import_fides(text)
    if system in found.maps:
        chosen = found.maps[system]
    elif len(found.maps) == 1:
        chosen = next(iter(found.maps.values()))
    else:
        keys = ", ".join(sorted(found.maps))
        raise InvalidInput(
            f"the Fides file holds several datasets ({keys}); name the system after one"
        )
    return to_yaml(chosen), found.warnings
