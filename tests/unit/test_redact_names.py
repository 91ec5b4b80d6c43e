"""Person names found by compromise (helper node process): known answers, and failing closed.

Tests marked by the ``ner`` fixture need Node and the installed compromise (``make``); they
skip without them, except under FERRY_REQUIRE_SERVICES=1 (CI), where they fail. The failure
tests use small Python stand-ins for the helper and run everywhere.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from bench.redact_bench import score
from bench.redact_corpus import CORPUS, KNOWN, SUBJECT_NAMES

from ferry.domain.models import DatasetRows
from ferry.export import people
from ferry.export.redact import KNOWN_ENGINE, Redactor, subject_from
from tests.conftest import missing

SUBJECT = subject_from(["ana.silva@example.org"], [], ["Ana Silva"])
AGENTS = ["Sarah Connor", "Tom Baker"]


@pytest.fixture(scope="module")
def ner() -> None:
    why = people.unavailable()
    if why is not None:
        missing("compromise (person-name recognition)", f"{why}; run `make`")


@pytest.fixture(scope="module")
def redactor(ner: None) -> Redactor:
    with Redactor(SUBJECT, AGENTS) as r:
        yield r  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("José Álvarez from billing charged me twice.", "[redacted: name] from billing"),
        ("Please stop emailing Zoë Müller, my neighbour.", "stop emailing [redacted: name],"),
        ("Kenji Tanaka told me it would arrive Friday.", "[redacted: name] told me it"),
        ("My friend Olivia Brown had the same issue.", "My friend [redacted: name] had"),
        ("Per Jean-Luc Picard's email it is closed.", "Per [redacted: name] email"),
        ("Diane or Carlos will email you.", "[redacted: name] or [redacted: name] will"),
    ],
)
def test_other_people_are_found_without_being_known(
    redactor: Redactor, text: str, expected: str
) -> None:
    out = redactor.redact_text(text)
    assert expected in out
    assert "redacted: name" not in Redactor(SUBJECT, AGENTS, names="known").redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "Hi, this is Ana Silva. My order never arrived.",
        "Thanks Ana, that helps.",
        "SILVA, ANA - account holder.",
        "Caller was Ms Silva herself.",
        "Sorry about that, Ana! Anything else?",
        "Confirmed by Ana's husband on the phone.",
        "I will pay with Apple Pay; the Kindle from Amazon in London is broken.",
        "The period ended in May. Mark this as urgent. Bill me monthly. Will you call?",
    ],
)
def test_the_subject_and_common_words_are_kept(redactor: Redactor, text: str) -> None:
    assert redactor.redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The parcel was left with Mrs. Henderson.", "The parcel was left with [redacted: name]."),
        ("Ask Dr. Ingrid Svensson for it.", "Ask [redacted: name] for it."),
        ("Thanks Mr Baker, it works.", "Thanks [redacted: name], it works."),
    ],
)
def test_titles_go_with_the_name(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact_text(text) == expected


def test_the_subject_is_kept_inside_a_found_span(redactor: Redactor) -> None:
    """A span such as "Ana Lopes" loses only the part that is not the subject's name."""
    assert redactor.redact_text("Ana Lopes called.") == "Ana [redacted: name] called."


def test_report_names_the_engine(redactor: Redactor) -> None:
    assert redactor.report.engine.startswith("compromise ")
    assert redactor.report.to_dict()["engine"] == redactor.report.engine
    assert redactor.report.notes == []


def test_corpus_scores_beat_the_known_people_baseline(ner: None) -> None:
    subject = subject_from([], [], SUBJECT_NAMES)
    with Redactor(subject, KNOWN) as full, Redactor(subject, KNOWN, names="known") as base:
        got, baseline = score(full, CORPUS), score(base, CORPUS)
    assert got.subject_hits == 0 and baseline.subject_hits == 0
    assert got.recall >= 0.85 > baseline.recall
    assert got.precision >= 0.95


def test_a_dataset_is_asked_in_one_batch_and_offsets_survive_odd_text(redactor: Redactor) -> None:
    texts = [
        '😀🎉 then Sarah said "}\n{" to José Álvarez',  # astral characters before the names
        "Line one\nLine two: Olivia Brown\r\nThird\u2028line",
        "NUL \x00 and a lone surrogate \ud800 near Carlos Mendes.",
        "x" * 200_000 + " Diane Foster wrote.",
    ]
    data = DatasetRows("desk", "t", {"body": "user.content"}, [{"body": t} for t in texts])
    rows = redactor.redact(data).rows
    assert rows[0]["body"] == '😀🎉 then [redacted: name] said "}\n{" to [redacted: name]'
    assert rows[1]["body"] == "Line one\nLine two: [redacted: name]\r\nThird\u2028line"
    assert str(rows[2]["body"]).endswith("near [redacted: name].")
    assert str(rows[3]["body"]).endswith(" [redacted: name] wrote.")
    originals = {f.original for f in redactor.report.findings}
    assert {"José Álvarez", "Olivia Brown", "Diane Foster"} <= originals


def test_the_helper_ends_with_the_run(ner: None) -> None:
    with Redactor(SUBJECT, AGENTS) as r:
        r.redact_text("Sarah spoke to Olivia Brown.")
        finder = r._finder
        assert finder is not None and finder._proc is not None
        proc = finder._proc
        assert proc.poll() is None
    assert proc.wait(timeout=5) == 0
    assert r._finder is None


def test_the_helper_ends_when_the_redactor_is_dropped(ner: None) -> None:
    """``packaging.prepare`` does not close its redactor: dropping it must end the helper."""
    r = Redactor(SUBJECT, AGENTS)
    assert r.redact_text("Olivia Brown called.") == "[redacted: name] called."
    assert r._finder is not None and r._finder._proc is not None
    proc = r._finder._proc
    del r
    assert proc.wait(timeout=5) == 0


# -- without Node, and when the helper fails -------------------------------------------


def test_without_node_names_come_from_known_people_and_the_report_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(people.shutil, "which", lambda _name: None)
    r = Redactor(SUBJECT, AGENTS)
    assert (
        r.redact_text("Sarah and Olivia Brown agreed.")
        == "[redacted: name] and Olivia Brown agreed."
    )
    assert r.report.engine == KNOWN_ENGINE
    assert r.report.notes == ["person-name recognition did not run: node is not installed"]


def test_missing_package_is_reported(tmp_path: Path) -> None:
    (tmp_path / "people.mjs").write_text("")
    why = people.unavailable(tmp_path)
    assert why is not None and "npm ci" in why


def _helper(tmp_path: Path, body: str) -> people.PeopleFinder:
    """A stand-in helper: answers the self-test, then behaves as ``body`` says."""
    script = tmp_path / "helper.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sys, time
            first = json.loads(sys.stdin.readline())
            print(json.dumps({"id": first["id"], "spans": [[0, 5]]}), flush=True)
            """
        )
        + textwrap.dedent(body)
    )
    return people.PeopleFinder([sys.executable, str(script)], timeout=1.0, per_mb=0.0)


CONSERVATIVE = "[redacted: name] met Ana Silva at the [redacted: name] depot."


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("sys.stdin.readline(); sys.exit(3)\n", "stopped (exit code"),
        ("sys.stdin.readline(); time.sleep(30)\n", "did not answer in time"),
        ("sys.stdin.readline(); print('not json', flush=True); time.sleep(5)\n", "malformed"),
        ("sys.stdin.readline(); print(json.dumps({'id': 7, 'spans': []}), flush=True)\n", "match"),
        (
            "sys.stdin.readline(); print(json.dumps({'id': 0, 'spans': [[0, 999]]}), flush=True)\n",
            "outside the text",
        ),
    ],
)
def test_a_failing_helper_fails_closed(tmp_path: Path, body: str, why: str) -> None:
    r = Redactor(SUBJECT, AGENTS, finder=_helper(tmp_path, body))
    data = DatasetRows(
        "desk",
        "t",
        {"body": "user.content"},
        [{"body": "Olivia Brown met Ana Silva at the London depot."}],
    )
    assert r.redact(data).rows[0]["body"] == CONSERVATIVE
    assert r.report.engine.endswith("(failed: conservative)")
    [note] = r.report.notes
    assert why in note and "every capitalised word" in note
    # later texts in the run stay conservative: no second helper is trusted
    assert (
        r.redact_text("Nadia from Paris called.")
        == "[redacted: name] from [redacted: name] called."
    )
    assert r._finder is None


def test_a_helper_that_cannot_start_fails_closed() -> None:
    finder = people.PeopleFinder(["/nonexistent/node-helper"], timeout=1.0)
    r = Redactor(SUBJECT, AGENTS, finder=finder)
    assert r.redact_text("Olivia Brown met Ana Silva at the London depot.") == CONSERVATIVE
    assert "cannot start" in r.report.notes[0]


def test_a_helper_that_finds_nothing_in_its_self_test_is_not_trusted(tmp_path: Path) -> None:
    script = tmp_path / "blind.py"
    script.write_text(
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    print(json.dumps({'id': json.loads(line)['id'], 'spans': []}), flush=True)\n"
    )
    r = Redactor(SUBJECT, AGENTS, finder=people.PeopleFinder([sys.executable, str(script)]))
    assert r.redact_text("Olivia Brown met Ana Silva at the London depot.") == CONSERVATIVE
    assert "self-test" in r.report.notes[0]


def test_names_option_is_checked() -> None:
    with pytest.raises(ValueError, match="names must be"):
        Redactor(SUBJECT, AGENTS, names="spacy")
