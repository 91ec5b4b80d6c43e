"""Data map additions (provenance, free text, cross-system references), the category
taxonomy, and the Fides dataset import."""

from __future__ import annotations

import pytest

from ferry.collect.datamap import DataMap, Provenance, load_datamap
from ferry.collect.fides import ferry_map_text, import_fides, to_yaml
from ferry.collect.taxonomy import category_warning, map_warnings
from ferry.domain.errors import InvalidInput

LONG_FORM = """
system: crm
datasets:
  customers:
    provenance: provided
    identities: {email: email}
    fields:
      email: user.contact.email
      notes: {category: user.content, provenance: observed, free_text: true}
      score: {category: user.behavior, provenance: derived}
  invoices:
    references:
      - {field: crm_no, to: billing.accounts.customer_no}
      - {field: customer_email, to: customers.email}
"""


def test_long_form_fields_give_provenance_and_free_text() -> None:
    dm = load_datamap(LONG_FORM)
    ds = dm.datasets["customers"]
    assert ds.fields == {
        "email": "user.contact.email",
        "notes": "user.content",
        "score": "user.behavior",
    }
    assert ds.provenance_of("notes") is Provenance.OBSERVED
    assert ds.provenance_of("score") is Provenance.DERIVED
    assert ds.provenance_of("email") is Provenance.PROVIDED  # the dataset's default
    assert ds.free_text == ["notes"]
    again = load_datamap(to_yaml(dm))  # round trip through YAML keeps everything
    assert again.datasets["customers"] == ds


def test_cross_system_references_are_kept_apart() -> None:
    dm = load_datamap(LONG_FORM)
    external = dm.external_references()
    assert [(d.name, r.to_system, r.to_dataset, r.to_field) for d, r in external] == [
        ("invoices", "billing", "accounts", "customer_no")
    ]
    assert [c.name for c, _ in dm.children("customers")] == ["invoices"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"notes": {"category": "user.content", "provenance": "guessed"}}, "provenance"),
        ({"notes": {"category": "user.content", "private": True}}, "unknown keys"),
        ({"notes": {"category": "User Content"}}, "not a data category"),
    ],
)
def test_bad_long_form_fields_are_named(change: dict[str, object], message: str) -> None:
    data = {"system": "s", "datasets": {"t": {"fields": change}}}
    with pytest.raises(InvalidInput, match=message):
        DataMap.model_validate(data)


def test_bad_reference_targets() -> None:
    for to in ("a.b.c.d", "customers", "sys tem.a.b", "a.b;drop"):
        with pytest.raises(InvalidInput, match=r"dataset\.column"):
            DataMap.model_validate(
                {"system": "s", "datasets": {"t": {"references": [{"field": "x", "to": to}]}}}
            )


def test_taxonomy_warnings() -> None:
    assert category_warning("user.contact.email") is None
    assert category_warning("user.account.created") is None  # an extension of user.account
    assert "retired" in str(category_warning("user.contact.url"))
    assert "user.contact.social_url" in str(category_warning("user.contact.url"))
    assert "not a Fides data category" in str(category_warning("usr.contact"))
    dm = DataMap.model_validate(
        {"system": "s", "datasets": {"t": {"fields": {"a": "custom.thing"}}}}
    )
    assert map_warnings(dm) == [
        "dataset 't' field 'a': 'custom.thing' is not a Fides data category nor an extension "
        "of one (e.g. user.contact)"
    ]


FIDES = """
dataset:
  - fides_key: shop_db
    name: Shop database
    collections:
      - name: customer
        fields:
          - name: id
            data_categories: [user.unique_id]
            fides_meta: {primary_key: true}
          - name: email
            data_categories: [user.contact.email]
            fides_meta: {identity: email, data_type: string}
          - name: address_id
            data_categories: [system.operations]
            fides_meta:
              references:
                - {dataset: shop_db, field: address.id, direction: to}
          - name: prefs
            data_categories: [user.settings, user.demographic.profile]
            fields:
              - name: theme
      - name: address
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: street
            data_categories: [user.contact.address.street]
      - name: orders
        fields:
          - name: customer_id
            fides_meta:
              references:
                - {dataset: shop_db, field: customer.id, direction: from}
          - name: seller
            fides_meta:
              references:
                - {dataset: shop_db, field: customer.id}
  - fides_key: support_api
    collections:
      - name: tickets
        fields:
          - name: customer_ref
            fidesops_meta:
              references:
                - {dataset: shop_db, field: customer.id, direction: from}
          - name: user
            fides_meta: {identity: loyalty_card}
"""


def test_fides_import() -> None:
    found = import_fides(FIDES)
    shop, support = found.maps["shop_db"], found.maps["support_api"]
    customer = shop.datasets["customer"]
    assert customer.identities == {"email": "email"}
    assert customer.primary_key == ["id"]
    assert customer.fields["prefs"] == "user.settings"
    # direction "to": customer.address_id finds address.id, so address hangs below customer
    assert [(r.field, r.to) for r in shop.datasets["address"].references] == [
        ("id", "customer.address_id")
    ]
    assert [(r.field, r.to) for r in shop.datasets["orders"].references] == [
        ("customer_id", "customer.id"),
        ("seller", "customer.id"),
    ]
    assert [(r.field, r.to) for r in support.datasets["tickets"].references] == [
        ("customer_ref", "shop_db.customer.id")
    ]
    text = "\n".join(found.warnings)
    assert "shop_db.customer.prefs: nested fields are not imported" in text
    assert "several categories" in text
    assert "shop_db.orders.seller: reference without direction read as 'from'" in text
    assert "identity 'loyalty_card' has no Ferry identity type" in text


def test_fides_file_to_one_system_map() -> None:
    text, warnings = ferry_map_text(FIDES, "support_api")
    assert load_datamap(text).system == "support_api" and warnings
    with pytest.raises(InvalidInput, match="several datasets"):
        ferry_map_text(FIDES, "other")
    for bad in ("dataset: nope", "- a\n- b", "dataset: [{name: x}]", "dataset: ["):
        with pytest.raises(InvalidInput):
            import_fides(bad)
