"""Identities and scopes refuse what they cannot mean."""

from __future__ import annotations

import sys
import unicodedata
from datetime import date

import pytest

from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity, IdentityType, Scope


def test_email_domain_is_lower_cased_local_part_kept() -> None:
    ident = Identity.parse("email", "  Ana.Lopez@Example.ORG ")
    assert ident == Identity(IdentityType.EMAIL, "Ana.Lopez@example.org")


@pytest.mark.parametrize(
    "text",
    [
        "email=",
        "email",
        "shoe=42",
        "email=not-an-email",
        "phone=call me",
        "email=a\x00@b.org",
        "email=" + "a" * 400,
    ],
)
def test_bad_identities(text: str) -> None:
    with pytest.raises(InvalidInput):
        Identity.parse_pair(text)


_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_control_characters_are_exactly_cc_cs_and_bidi_overrides() -> None:
    """Every code point: refused iff it is a control (Cc), a surrogate (Cs) or a bidi override;
    anything else (format characters, private use, unassigned) is left to the type's rules."""
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        control = unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI
        try:
            Identity.parse("name", f"a{ch}b")
        except InvalidInput:
            refused = True
        else:
            refused = False
        assert refused is control, hex(code)


def test_values_with_sql_are_just_values() -> None:
    ident = Identity.parse_pair("customer_id='; DROP TABLE customers; --")
    assert ident.value == "'; DROP TABLE customers; --"


def test_scope_hierarchy_and_dates() -> None:
    scope = Scope(categories=("user.contact",), since=date(2025, 1, 1), until=date(2025, 12, 31))
    assert scope.covers_category("user.contact.email")
    assert scope.covers_category("user.contact")
    assert not scope.covers_category("user.contactless")
    assert not scope.covers_category(None)
    assert scope.covers_date(date(2025, 6, 1)) and not scope.covers_date(date(2024, 12, 31))
    assert Scope.from_dict(scope.to_dict()) == scope


def test_bad_scopes() -> None:
    with pytest.raises(InvalidInput):
        Scope(since=date(2026, 2, 1), until=date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        Scope(categories=("User Contact",))
