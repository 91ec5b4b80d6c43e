"""The schema is cached by what it is made of: datasets that differ never share one."""

from __future__ import annotations

from ferry.domain.models import DatasetRows
from ferry.export.schema import infer_schema


def test_same_columns_with_other_values_or_provenance_get_their_own_schema() -> None:
    ints = DatasetRows(system="s", dataset="d", categories={"a": "user"}, rows=[{"a": 1}])
    texts = DatasetRows(system="s", dataset="d", categories={"a": "user"}, rows=[{"a": "x"}])
    said = DatasetRows(
        system="s",
        dataset="d",
        categories={"a": "user"},
        rows=[{"a": 1}],
        provenance={"a": "derived"},
    )
    other = DatasetRows(system="s", dataset="d", categories={"a": "user.x"}, rows=[{"a": 1}])
    first = infer_schema(ints)
    assert [(f.type, f.provenance) for f in first.fields] == [("integer", "unknown")]
    assert [f.type for f in infer_schema(texts).fields] == ["string"]
    assert [f.provenance for f in infer_schema(said).fields] == ["derived"]
    assert [f.category for f in infer_schema(other).fields] == ["user.x"]
    assert infer_schema(ints) == first


def test_a_schema_views_follow_its_fields_and_are_shared_by_datasets_of_one_shape() -> None:
    categories = {"a": "user.contact", "b": None}
    one = DatasetRows("s", "d", categories, rows=[{"a": 1.5, "b": "x"}])
    two = DatasetRows("s", "d", categories, rows=[{"a": 2.5, "b": "y"}, {"a": 0.5, "b": "z"}])
    schema = infer_schema(one)
    assert infer_schema(two) is schema  # the views below are computed once for both
    assert schema.categories == ("user.contact", None)
    assert schema.field_categories == (("a", "user.contact"), ("b", None))
    assert schema.float_fields == ("a",)
    assert schema.simple
