"""The data map format: loading, defaults and the errors people see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ferry.collect.datamap import DataMap, load_datamap
from ferry.demo.estate import shop_map
from ferry.domain.errors import InvalidInput
from ferry.domain.models import IdentityType

GOOD = """
system: shop
datasets:
  customers:
    primary_key: id
    identities: {email: email, customer_id: id}
    timestamp: created_at
    fields:
      id: user.unique_id
      email: user.contact.email
      first_name: user.name
  orders:
    table: sales.orders
    primary_key: [id]
    references:
      - {field: customer_id, to: customers.id}
    fields: {id: null, customer_id: user.unique_id}
  order_items:
    fields_only: true
    references:
      - {field: order_id, to: orders.id}
    fields: {quantity: user.behavior.purchase_history}
"""


def _with(**datasets: object) -> dict[str, object]:
    return {"system": "shop", "datasets": {"customers": {"primary_key": "id"}, **datasets}}


def test_good_map_loads_with_defaults() -> None:
    dm = load_datamap(GOOD)
    assert dm.system == "shop"
    assert list(dm.datasets) == ["customers", "orders", "order_items"]
    customers, orders, items = dm.datasets.values()
    assert customers.table == "customers" and customers.name == "customers"
    assert customers.primary_key == ["id"]
    assert customers.identities == {IdentityType.EMAIL: "email", IdentityType.CUSTOMER_ID: "id"}
    assert orders.table == "sales.orders"
    assert orders.references[0].to_dataset == "customers"
    assert orders.references[0].to_field == "id"
    assert orders.fields["id"] is None
    assert customers.columns_needed() is None  # all columns
    assert items.columns_needed() == ["quantity", "order_id"]


def test_children_and_identity_lookup() -> None:
    dm = load_datamap(GOOD)
    assert [c.name for c, _ in dm.children("customers")] == ["orders"]
    assert [c.name for c, _ in dm.children("orders")] == ["order_items"]
    assert dm.children("order_items") == []
    assert [d.name for d in dm.keyed_by(IdentityType.EMAIL)] == ["customers"]
    assert dm.keyed_by(IdentityType.PHONE) == ()


def test_children_of_each_is_children_of_every_dataset() -> None:
    cross = _with(
        orders={"references": [{"field": "customer_id", "to": "customers.id"}]},
        notes={
            "references": [
                {"field": "order_id", "to": "orders.id"},
                {"field": "author_id", "to": "customers.id"},
                {"field": "crm_id", "to": "crm.contacts.id"},
                {"field": "self_id", "to": "shop.customers.id"},
            ]
        },
    )
    for dm in (load_datamap(GOOD), shop_map(), DataMap.model_validate(cross)):
        assert dm.children_of_each() == {name: dm.children(name) for name in dm.datasets}


def test_referenced_columns_are_read_even_when_fields_only() -> None:
    dm = load_datamap(GOOD.replace("  orders:\n", "  orders:\n    fields_only: true\n"))
    needed = dm.datasets["orders"].columns_needed()
    assert needed is not None and {"id", "customer_id"} <= set(needed)


def test_reference_to_missing_dataset_is_named() -> None:
    data = _with(orders={"references": [{"field": "customer_id", "to": "custmers.id"}]})
    with pytest.raises(InvalidInput, match=r"orders.*custmers"):
        DataMap.model_validate(data)


def test_reference_to_missing_field_of_closed_dataset() -> None:
    data = _with(
        accounts={"fields_only": True, "fields": {"id": None}},
        orders={"references": [{"field": "account_id", "to": "accounts.nope"}]},
    )
    with pytest.raises(InvalidInput, match=r"accounts.*has no field 'nope'"):
        DataMap.model_validate(data)


def test_reference_target_must_be_dotted() -> None:
    with pytest.raises(InvalidInput, match=r"dataset\.column"):
        DataMap.model_validate(_with(orders={"references": [{"field": "c", "to": "customers"}]}))


@pytest.mark.parametrize(
    ("dataset", "bad"),
    [
        ({"table": "users; drop table x"}, "users; drop table x"),
        ({"table": "a.b.c"}, "a.b.c"),
        ({"primary_key": "id) OR (1=1"}, "id) OR (1=1"),
        ({"identities": {"email": "mail--"}}, "mail--"),
        ({"timestamp": "created at"}, "created at"),
        ({"fields": {'"email"': "user.contact.email"}}, '"email"'),
        ({"references": [{"field": "x;y", "to": "customers.id"}]}, "x;y"),
        ({"references": [{"field": "x", "to": "customers.id;--"}]}, "customers.id;--"),
    ],
)
def test_identifiers_must_be_plain(dataset: dict[str, object], bad: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(bad)) as err:
        DataMap.model_validate(_with(orders=dataset))
    assert "orders" in err.value.message


def test_bad_dataset_name() -> None:
    with pytest.raises(InvalidInput, match="drop table"):
        DataMap.model_validate(_with(**{"x; drop table y": {}}))


def test_unknown_identity_type_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"customers\.identities.*emial") as err:
        load_datamap(GOOD.replace("{email: email,", "{emial: email,"))
    assert "email" in err.value.message  # says what is allowed


def test_bad_category() -> None:
    with pytest.raises(InvalidInput, match=r"User\.Contact"):
        DataMap.model_validate(_with(orders={"fields": {"email": "User.Contact"}}))


def test_typo_in_key_is_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"orders\.identites"):
        DataMap.model_validate(_with(orders={"identites": {"email": "email"}}))


def test_empty_and_malformed_maps() -> None:
    with pytest.raises(InvalidInput, match="at least one dataset"):
        DataMap.model_validate({"system": "shop", "datasets": {}})
    with pytest.raises(InvalidInput, match="system"):
        DataMap.model_validate({"datasets": {"a": {}}})
    with pytest.raises(InvalidInput, match="YAML mapping"):
        load_datamap("- just\n- a list\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_datamap("system: [unclosed\n")


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_datamap(path).system == "shop"
    assert load_datamap(str(path)).system == "shop"
    with pytest.raises(InvalidInput, match="not found"):
        load_datamap(tmp_path / "missing.yaml")


def test_demo_shop_map_is_valid() -> None:
    dm = shop_map()
    assert {"customers", "orders", "order_items", "support_tickets"} <= set(dm.datasets)
    assert "agents" not in dm.datasets


def test_documented_example_is_valid() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "data-map.md"
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/data-map.md has no yaml example"
    dm = load_datamap(blocks[0])
    assert len(dm.datasets) >= 3


def test_a_copy_under_another_system_name_derives_its_own_links() -> None:
    """Links are derived once per map; a copy renamed (as the store does) is not given the
    links of the name it was copied from."""
    orders = {"references": [{"field": "customer_id", "to": "shop.customers.id"}]}
    cross = DataMap.model_validate({**_with(orders=orders), "system": "crm"})
    assert [c.name for c, _ in cross.children("customers")] == []  # another system's
    assert [ds.name for ds, _ in cross.external_references()] == ["orders"]
    renamed = cross.model_copy(update={"system": "shop"})
    assert [ds.name for ds, _ in renamed.external_references()] == []
    assert [c.name for c, _ in renamed.children_of_each()["customers"]] == ["orders"]
    assert [ds.name for ds, _ in cross.external_references()] == ["orders"]  # unchanged


def test_shapes_are_kept_for_a_bounded_number_of_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    from ferry.collect import datamap as module

    monkeypatch.setattr(module, "_SHAPES", {})
    monkeypatch.setattr(module, "_SHAPES_KEPT", 2)
    maps = [DataMap.model_validate(_with()) for _ in range(3)]
    shapes = [m.shape() for m in maps]
    assert len(module._SHAPES) == 2  # the first map's was let go
    assert maps[2].shape() is shapes[2]  # kept: the same object
    assert maps[0].shape() is not shapes[0]  # derived again, equal in content
    assert maps[0].shape().order == shapes[0].order == {"customers": 0}
