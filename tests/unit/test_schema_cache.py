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
