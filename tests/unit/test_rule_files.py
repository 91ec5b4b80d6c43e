"""Every rule file validates against the schema; broken files are refused with a clear error;
docs/jurisdictions.md is the rendering of the committed files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ferry.jurisdictions.docs import render
from ferry.jurisdictions.loader import RULES_DIR, RuleFileError, load_dir, parse_file
from ferry.jurisdictions.schema import RuleFile

DOC = Path(__file__).resolve().parents[2] / "docs" / "jurisdictions.md"


def test_one_file_per_jurisdiction_each_valid() -> None:
    files = sorted(p.name for p in RULES_DIR.glob("*.yaml"))
    assert files == [
        "au.yaml",
        "br.yaml",
        "ca-qc.yaml",
        "ca.yaml",
        "cn.yaml",
        "eu.yaml",
        "gb.yaml",
        "in.yaml",
        "jp.yaml",
        "sg.yaml",
        "us-ca.yaml",
        "us-co.yaml",
        "us-ct.yaml",
        "us-va.yaml",
    ]
    for name in files:
        data = parse_file(RULES_DIR / name)
        assert isinstance(data, RuleFile)
        # every rule part carries its citation
        parts = [
            data.response,
            data.clock,
            data.rejection,
            data.portability,
            data.verification,
            data.fees,
            data.transfer,
        ]
        assert all(len(p.citation) >= 3 for p in parts), name


def test_committed_doc_matches_the_rule_files() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/jurisdictions.md is stale: run `ferry jurisdictions doc -o docs/jurisdictions.md`"
    )


def test_json_schema_is_published() -> None:
    schema = RuleFile.model_json_schema()
    assert {"law", "response", "clock", "rejection", "transfer"} <= set(schema["required"])


def _valid() -> dict:
    return yaml.safe_load((RULES_DIR / "us-ca.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["response"].pop("citation"), "response.citation"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.update(member_states=["DE"]), "exactly one of codes or member_states"),
        (lambda d: d["clock"].update(pause_allowed=True), "pause_reasons"),
        (lambda d: d["response"].update(length=0), "response.length"),
        (lambda d: d["response"].update(unit="fortnights"), "response.unit"),
        (lambda d: d.update(codes=["california"]), "must look like"),
        (lambda d: d["transfer"].update(adequate=["Japan"]), "ISO 3166"),
        (lambda d: d["limits"][0].update(kinds=["erasure"]), "limits.0.kinds"),
        (lambda d: d.pop("holidays"), "holidays"),
        (lambda d: d["response"].pop("length"), "go together"),
    ],
)
def test_broken_rule_files_are_refused_naming_the_field(
    tmp_path: Path, change: object, message: str
) -> None:
    data = _valid()
    change(data)  # type: ignore[operator]
    with pytest.raises(RuleFileError) as err:
        parse_file(_write(tmp_path, data))
    assert "x.yaml" in err.value.message and message in err.value.message


@pytest.mark.parametrize(
    "text", ["", "- a list\n", "law: [unclosed", "\x00\x01", "!!python/object:os.system {}"]
)
def test_non_rule_yaml_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(RuleFileError):
        parse_file(_write(tmp_path, text))


def test_a_code_defined_twice_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, _valid(), "a.yaml")
    _write(tmp_path, _valid(), "b.yaml")
    with pytest.raises(RuleFileError, match=r"US-CA is also defined in a\.yaml"):
        load_dir(tmp_path)
    with pytest.raises(RuleFileError, match="no rule files"):
        load_dir(tmp_path / "empty")
