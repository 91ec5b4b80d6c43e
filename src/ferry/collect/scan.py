"""Draft a data map from a system's schema and a sample of its values, for a person to review.

Input is what a connector's ``describe()`` returns: tables with columns, types, primary keys,
foreign keys and up to a few dozen sampled values per column. Columns are classified by name
(``email``, ``phone``, ``first_name``, ``street``, ``date_of_birth``...) and by value (emails,
phone numbers, IBANs with a valid checksum, card numbers passing Luhn, IP addresses). Sampled
values are only looked at here; the draft never contains them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ferry.collect.datamap import DataMap
from ferry.collect.planner import reachable
from ferry.domain.models import IdentityType

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,63}")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{6,20}[0-9]")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_CARD = re.compile(r"[0-9][0-9 -]{11,22}[0-9]")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")
_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

# (name pattern, category, identity type or None); the first match wins.
NAME_RULES: list[tuple[str, str, str | None]] = [
    (r"(^|_)e_?mail(_?address|_?addr)?$|^mail$", "user.contact.email", "email"),
    (r"phone|mobile|^tel|telephone|msisdn", "user.contact.phone_number", "phone"),
    (r"^fax", "user.contact.fax_number", None),
    (r"first_?name|given_?name|forename", "user.name.first", None),
    (r"last_?name|surname|family_?name", "user.name.last", None),
    (r"(full_?|contact_?|display_?|^)name$|^customer_?name", "user.name", None),
    (r"birth|^dob$|birthday", "user.demographic.date_of_birth", None),
    (r"gender|^sex$", "user.demographic.gender", None),
    (r"street|address|^addr|house", "user.contact.address.street", None),
    (r"city|town", "user.contact.address.city", None),
    (r"post_?code|postal|zip", "user.contact.address.postal_code", None),
    (r"country", "user.contact.address.country", None),
    (r"^state$|region|province", "user.contact.address.state", None),
    (r"iban|bank_?account|account_?number", "user.financial.bank_account", None),
    (r"card_?(number|no)|^pan$|credit_?card", "user.financial.credit_card", None),
    (r"ip_?addr|^ip$", "user.device.ip_address", None),
    (r"passport", "user.government_id.passport_number", None),
    (r"ssn|national_?id|tax_?id|nino", "user.government_id.national_identification_number", None),
    (r"password|passwd|pwd_?hash", "user.authorization.password", None),
    (r"company|employer|workplace", "user.professional_information.workplace", None),
    (r"job_?title|^title$", "user.professional_information.job_title", None),
]
VALUE_CATEGORIES = {
    "email": ("user.contact.email", "email"),
    "phone": ("user.contact.phone_number", None),  # by value only: not safe as an identity
    "iban": ("user.financial.bank_account", None),
    "card": ("user.financial.credit_card", None),
    "ip": ("user.device.ip_address", None),
}
# Guesses from a generic name ("name", "title") count only in a table that also has a
# strong personal column (an email, a phone, a first name...): an album's title is not a job.
WEAK = {r"(full_?|contact_?|display_?|^)name$|^customer_?name", r"job_?title|^title$"}
_TIMESTAMP = re.compile(r"created|updated|_at$|_on$|date|time", re.IGNORECASE)
_SHARE = 0.6


@dataclass
class ColumnInfo:
    name: str
    type: str = ""
    samples: list[Any] = field(default_factory=list)


@dataclass
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # col, table, col
    source: dict[str, Any] = field(default_factory=dict)  # for files: where the rows are


@dataclass
class Draft:
    map: dict[str, Any]
    warnings: list[str]

    def datamap(self) -> DataMap:
        return DataMap.model_validate(self.map)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    moved = text[4:] + text[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def value_kind(value: object) -> str | None:
    """What a single value looks like: email, phone, iban, card, ip, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _EMAIL.fullmatch(text):
        return "email"
    compact = text.replace(" ", "").upper()
    if _IBAN.fullmatch(compact) and _iban_ok(compact):
        return "iban"
    digits = re.sub(r"[ -]", "", text)
    if _CARD.fullmatch(text) and digits.isdigit() and 13 <= len(digits) <= 19 and _luhn(digits):
        return "card"
    if _IPV4.fullmatch(text):
        return "ip"
    if _DATE.match(text):
        return None
    if _PHONE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 7:
        return "phone"
    return None


def values_kind(samples: list[Any]) -> str | None:
    """The kind most of the non-empty samples share (at least 60%), else None."""
    kinds = [value_kind(v) for v in samples if v not in (None, "")]
    if not kinds:
        return None
    best = max(set(kinds), key=kinds.count)
    return best if best and kinds.count(best) / len(kinds) >= _SHARE else None


def contains_personal(samples: list[Any]) -> bool:
    """Free text that mentions an email address or phone number somewhere."""
    return any(
        isinstance(value, str)
        and len(value) > 40
        and bool(_EMAIL.search(value) or re.search(r"\+?\d[\d ()-]{8,}\d", value))
        for value in samples
    )


def classify(column: ColumnInfo) -> tuple[str | None, str | None, str]:
    """``(category, identity type, why)`` for one column; why is "value", "name" or "weak"."""
    name = column.name.lower()
    by_value = values_kind(column.samples)
    if by_value in ("email", "iban", "card"):
        category, identity = VALUE_CATEGORIES[by_value]
        return category, identity, f"values look like {by_value}"
    for pattern, category, identity in NAME_RULES:
        if re.search(pattern, name):
            if identity == "email" and by_value not in (None, "email"):
                continue
            return category, identity, "weak" if pattern in WEAK else "name"
    if by_value:
        category, identity = VALUE_CATEGORIES[by_value]
        return category, identity, f"values look like {by_value}"
    return None, None, ""


def _dataset_name(table: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", table.split(".")[-1]) or "dataset"
    if not base[0].isalpha() and base[0] != "_":
        base = f"t_{base}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def draft(system: str, tables: list[TableInfo]) -> Draft:
    """A reviewed-by-a-person starting point: categories, identities, references, timestamps."""
    warnings: list[str] = []
    names: dict[str, str] = {}
    taken: set[str] = set()
    for table in tables:
        names[table.name] = _dataset_name(table.name, taken)
    datasets: dict[str, dict[str, Any]] = {}
    kept = [t for t in tables if t.source or _TABLE.fullmatch(t.name)]
    by_name: dict[str, list[TableInfo]] = {}  # "sales.Customers" under "customers"
    for table in kept:
        by_name.setdefault(table.name.split(".")[-1].lower(), []).append(table)
    for table in tables:
        if not table.source and not _TABLE.fullmatch(table.name):
            warnings.append(f"table {table.name!r} is not a plain name; map it by hand (left out)")
            continue
        refs = [*table.foreign_keys, *_named_references(table, by_name, warnings)]
        datasets[names[table.name]] = _dataset(table, refs, names, warnings)
    _customer_ids(datasets)
    return Draft({"system": system, "datasets": datasets}, warnings)


# "customer_id", "Customer_ID", "customerId", "CustomerID"; not "paid" or "valid"
_ID_COLUMN = re.compile(r"(?P<stem>[A-Za-z][A-Za-z0-9_]*?)(_id|_ID|_Id|(?<=[a-z0-9])I[dD])")


def _named_references(
    table: TableInfo, by_name: dict[str, list[TableInfo]], warnings: list[str]
) -> list[tuple[str, str, str]]:
    """References no foreign key declares, guessed from the column's name: ``customer_id`` (or
    ``customerId``) points at the one-column key of the one table named ``customer`` or
    ``customers`` (``boxes``, ``categories``; in any schema, in any case) if both columns hold
    the same kind of values. Legacy databases and exported files seldom declare keys; without
    these, a person's orders would be unreachable. A draft added without ``--map`` goes live as
    it is, so no guess when two tables fit, nor to the column's own table
    (``customers.customer_id``; a plain ``id`` never fits). Each guess, and each name that fit
    but was not taken, is a warning for the person reviewing the draft."""
    declared = {col for col, _t, _c in table.foreign_keys}
    found = []
    for col in table.columns:
        match = _ID_COLUMN.fullmatch(col.name)
        if match is None or col.name in declared:
            continue
        stem = match["stem"].lower().rstrip("_")
        forms = [stem, f"{stem}s", f"{stem}es"] + (
            [f"{stem[:-1]}ies"] if stem.endswith("y") else []
        )
        fits = [other for form in forms for other in by_name.get(form, [])]
        if not fits or any(other is table for other in fits):
            continue
        where = f"table {table.name!r}: column {col.name!r}"
        if len(fits) > 1:
            names = ", ".join(other.name for other in fits)
            warnings.append(f"{where} could refer to {names}; no reference guessed, map it by hand")
            continue
        other = fits[0]
        if len(other.primary_key) != 1:
            continue
        key = other.primary_key[0]
        target = next((c for c in other.columns if c.name == key), None)
        if target is None or not _alike(col, target):
            warnings.append(
                f"{where} looks like a reference to {other.name}.{key} but their types or "
                "values differ; no reference guessed, map it by hand if it is one"
            )
            continue
        found.append((col.name, other.name, key))
        warnings.append(
            f"{where} taken as a reference to {other.name}.{key} from its name "
            "(no foreign key says so); check it"
        )
    return found


_INTEGER = re.compile(r"(tiny|small|medium|big)?int(eger|\d)?\b|(small|big)?serial", re.I)
_TEXT = re.compile(r"char|text|string|clob", re.I)


def _alike(column: ColumnInfo, key: ColumnInfo) -> bool:
    """Both typed integer, or both typed text; else (a file has no types) the sampled values
    decide: all digits on both sides, or all non-digit strings on both sides."""
    kinds = {
        "integer" if _INTEGER.match(c.type) else "text" if _TEXT.search(c.type) else ""
        for c in (column, key)
    }
    if "" not in kinds:
        return len(kinds) == 1
    looks = [
        {
            "digits" if str(v).isdigit() else "text" if isinstance(v, str) else "other"
            for v in c.samples
            if v not in (None, "")
        }
        for c in (column, key)
    ]
    return looks[0] == looks[1] and looks[0] in ({"digits"}, {"text"})


def _dataset(
    table: TableInfo,
    foreign_keys: list[tuple[str, str, str]],
    names: dict[str, str],
    warnings: list[str],
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if table.source:
        body["source"] = dict(table.source)
    elif names[table.name] != table.name:
        body["table"] = table.name
    plain = [c for c in table.columns if _PLAIN.fullmatch(c.name)]
    for col in table.columns:
        if col not in plain:
            warnings.append(
                f"table {table.name!r}: column {col.name!r} is not a plain name; left out"
            )
    keys = [k for k in table.primary_key if _PLAIN.fullmatch(k)]
    if keys:
        body["primary_key"] = keys
    fields: dict[str, Any] = {}
    identities: dict[str, str] = {}
    guesses = {col.name: classify(col) for col in plain}
    strong = any(why not in ("", "weak") for _c, _i, why in guesses.values())
    for col in plain:
        category, identity, why = guesses[col.name]
        if why == "weak" and not strong:
            category = None
        if identity and identity not in identities:
            identities[identity] = col.name
        if category:
            fields[col.name] = category
        elif contains_personal(col.samples):
            fields[col.name] = {"category": "user.content", "free_text": True}
            warnings.append(
                f"table {table.name!r}: column {col.name!r} is free text that mentions emails or "
                "phone numbers; it may hold other people's data (marked free_text)"
            )
    if identities:
        body["identities"] = identities
    refs = [
        {"field": col, "to": f"{names[other]}.{other_col}"}
        for col, other, other_col in foreign_keys
        if other in names and _PLAIN.fullmatch(col) and _PLAIN.fullmatch(other_col)
    ]
    if refs:
        body["references"] = refs
    stamp = _timestamp(plain)
    if stamp:
        body["timestamp"] = stamp
    if fields:
        body["fields"] = fields
    return body


def _timestamp(columns: list[ColumnInfo]) -> str | None:
    for col in columns:
        dated = any(isinstance(v, date) for v in col.samples) or "date" in col.type.lower()
        dated = dated or "time" in col.type.lower()
        if dated and _TIMESTAMP.search(col.name) and not re.search("birth", col.name, re.I):
            return col.name
    return None


def _customer_ids(datasets: dict[str, dict[str, Any]]) -> None:
    """The key of a table found by email is the person's id: ``customer_id`` identity."""
    for body in datasets.values():
        ids = body.get("identities", {})
        keys = body.get("primary_key", [])
        if "email" in ids and len(keys) == 1 and "customer_id" not in ids:
            ids["customer_id"] = keys[0]
            return


def unmapped_personal(datamap: DataMap, reachable: set[str]) -> list[str]:
    """Datasets no identity or reference reaches (their rows would never be collected for
    anyone), personal-looking fields named: listed, never dropped."""
    found = []
    for ds in datamap.datasets.values():
        if ds.name in reachable:
            continue
        personal = [c for c, cat in ds.fields.items() if cat and cat.startswith("user.")]
        if personal:
            cols = ", ".join(personal)
            found.append(
                f"dataset {ds.name!r} holds personal-looking columns ({cols}) but no identity "
                "or reference reaches it; map an identity or a reference, or confirm it is not "
                "about the people who ask"
            )
        else:
            found.append(
                f"dataset {ds.name!r}: no identity or reference reaches it, so its rows are "
                "never collected; map one, or remove it if it is not about people"
            )
    return found


def unreachable_warnings(datamap: DataMap) -> list[str]:
    """:func:`unmapped_personal` for the datasets that neither an identity of any type nor a
    reference (from this system or, through another system's values, from outside) reaches."""
    reach = set(reachable(datamap, set(IdentityType)))
    todo = [ds.name for ds, _ref in datamap.external_references()]
    while todo:  # a dataset looked up by another system's values, and what hangs off it
        name = todo.pop()
        if name not in reach:
            reach.add(name)
            todo += [child.name for child, _ref in datamap.children(name)]
    return unmapped_personal(datamap, reach)
