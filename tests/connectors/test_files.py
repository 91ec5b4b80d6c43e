"""The files connector on legacy exports: dialects, encodings, layouts, gzip, globs, and damage."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.connectors.base import ConnectorError
from ferry.connectors.files import FileConnector, detect_encoding
from ferry.connectors.registry import connector_kind, open_connector


def _ds(name: str = "people", **source: object) -> DatasetMap:
    return DataMap.model_validate(
        {
            "system": "files",
            "datasets": {name: {"identities": {"email": "email"}, "source": source}},
        }
    ).datasets[name]


def _emails(conn: FileConnector, ds: DatasetMap, *values: str) -> list[str]:
    return [str(r["email"]) for r in conn.fetch(ds, "email", list(values))]


def test_semicolon_csv_in_cp1252_is_detected(tmp_path: Path) -> None:
    text = "email;name;city\nzoe@example.com;Zoë Çelik;Münster\nann@example.com;Ann;Köln\n"
    (tmp_path / "people.csv").write_bytes(text.encode("cp1252"))
    conn = FileConnector(tmp_path)
    rows = list(conn.fetch(_ds(), "email", ["ZOE@example.com "]))
    assert rows == [{"email": "zoe@example.com", "name": "Zoë Çelik", "city": "Münster"}]


def test_utf8_bom_and_tabs(tmp_path: Path) -> None:
    (tmp_path / "people.tsv").write_text(
        "email\tname\nann@example.com\tÄnn\n", encoding="utf-8-sig"
    )
    rows = list(FileConnector(tmp_path).fetch(_ds(), "email", ["ann@example.com"]))
    assert rows == [{"email": "ann@example.com", "name": "Änn"}]


def test_headerless_csv_with_columns_from_the_map(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("1,ann@example.com,Ann\n2,bob@example.com,Bob\n")
    ds = _ds(path="p.csv", header=False, columns=["id", "email", "name"])
    rows = list(FileConnector(tmp_path).fetch(ds, "email", ["bob@example.com"]))
    assert rows == [{"id": "2", "email": "bob@example.com", "name": "Bob"}]


def test_fixed_width_with_a_layout(tmp_path: Path) -> None:
    lines = ["0001ann@example.com       Ann       ", "0002bob@example.com       Bob"]
    (tmp_path / "legacy.dat").write_text("\n".join(lines) + "\n", encoding="latin-1")
    layout = [
        {"name": "id", "width": 4},
        {"name": "email", "width": 22},
        {"name": "name", "width": 10},
    ]
    ds = _ds(path="legacy.dat", format="fixed", layout=layout, encoding="latin-1")
    rows = list(FileConnector(tmp_path).fetch(ds, "email", ["bob@example.com"]))
    assert rows == [{"id": "0002", "email": "bob@example.com", "name": "Bob"}]


def test_gzipped_json_lines_and_a_glob_of_files_as_one_dataset(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    for month, who in (("2024-01", "ann"), ("2024-02", "bob"), ("2024-03", "ann")):
        data = json.dumps({"email": f"{who}@example.com", "month": month, "tags": [month]}) + "\n"
        (tmp_path / "export" / f"events-{month}.jsonl.gz").write_bytes(gzip.compress(data.encode()))
    ds = _ds(path="export/events-*.jsonl.gz")
    rows = list(FileConnector(tmp_path).fetch(ds, "email", ["ann@example.com"]))
    assert [r["month"] for r in rows] == ["2024-01", "2024-03"]
    assert rows[0]["tags"] == ["2024-01"]


def test_a_broken_line_holding_the_persons_value_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "email,name\nann@example.com,Ann\nbob@example.com,Bob,EXTRA,FIELDS\n"
    )
    conn = FileConnector(tmp_path)
    with pytest.raises(ConnectorError, match=r"line 3 is malformed and may hold the person"):
        list(conn.fetch(_ds(), "email", ["bob@example.com"]))


def test_broken_lines_of_others_are_counted_never_silent(tmp_path: Path) -> None:
    (tmp_path / "people.jsonl").write_text(
        '{"email": "ann@example.com"}\n{"email": "bob@exa\nnot json at all\n[1, 2]\n'
    )
    conn = FileConnector(tmp_path)
    assert _emails(conn, _ds(), "ann@example.com") == ["ann@example.com"]
    assert conn.warnings == [
        "dataset 'people', file people.jsonl: 3 malformed lines skipped; "
        "none of them contains a value that was looked up"
    ]


def test_unclosed_quote_swallowing_the_rest_is_caught(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text('email,name\n"ann@example.com,Ann\nbob@example.com,Bob\n')
    with pytest.raises(ConnectorError, match="malformed"):
        list(FileConnector(tmp_path).fetch(_ds(), "email", ["bob@example.com"]))


def test_wrong_declared_encoding_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_bytes("email,name\nann@example.com,Zoë\n".encode("utf-16"))
    ds = _ds(encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"bytes not valid utf-8.*set source.encoding"):
        list(FileConnector(tmp_path).fetch(ds, "email", ["ann@example.com"]))
    with pytest.raises(ConnectorError, match="unknown encoding"):
        list(FileConnector(tmp_path).fetch(_ds(encoding="klingon"), "email", ["a@b.cc"]))


def test_detect_encoding() -> None:
    assert detect_encoding(b"plain ascii, ok") == "utf-8"
    assert detect_encoding("Zoë".encode()) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbfhi") == "utf-8-sig"
    sample = ("Müller, Größe, Straße, Köln, Düsseldorf, Zoë, façade\n" * 20).encode("cp1252")
    assert detect_encoding(sample) != "utf-8"
    assert sample.decode(detect_encoding(sample)).startswith("Müller")


def test_a_huge_row_is_read(tmp_path: Path) -> None:
    big = "x" * 3_000_000
    (tmp_path / "people.csv").write_text(f"email,notes\nann@example.com,{big}\nbob@example.com,b\n")
    rows = list(FileConnector(tmp_path).fetch(_ds(), "email", ["ann@example.com"]))
    assert len(str(rows[0]["notes"])) == 3_000_000


def test_paths_stay_inside_the_folder(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.csv").write_text("email\nann@example.com\n")
    conn = FileConnector(inner)
    for path in ("../secret.csv", str(tmp_path / "secret.csv")):
        with pytest.raises(ConnectorError, match="relative to the system's folder"):
            list(conn.fetch(_ds(path=path), "email", ["ann@example.com"]))
    (inner / "link.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(ConnectorError, match="no file matches"):
        list(conn.fetch(_ds(path="link.csv"), "email", ["ann@example.com"]))


def test_missing_files_and_columns_are_reported_by_check(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("mail,name\nann@example.com,Ann\n")
    datamap = DataMap.model_validate(
        {
            "system": "files",
            "datasets": {
                "people": {"identities": {"email": "email"}},
                "orders": {"identities": {"email": "email"}},
            },
        }
    )
    problems = FileConnector(tmp_path).check(datamap)
    assert "dataset 'people': the file has no column 'email'" in problems
    assert any("dataset 'orders': no file matches" in p for p in problems)
    assert FileConnector(tmp_path / "nope").check() != []


def test_registry_opens_folders(tmp_path: Path) -> None:
    assert connector_kind(str(tmp_path)) == ("files", str(tmp_path.resolve()))
    assert connector_kind(f"file://{tmp_path}")[0] == "files"
    assert isinstance(open_connector(str(tmp_path)), FileConnector)
