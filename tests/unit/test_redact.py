"""Redaction known answers: other people come out, the subject stays."""

from __future__ import annotations

import pytest

from ferry.domain.models import DatasetRows
from ferry.export.redact import Redactor, free_text_fields, subject_from, subject_names

SUBJECT = subject_from(["ana.silva@example.org"], ["+44 7700 900123"], ["Ana Silva"])
AGENTS = ["Sarah Connor", "Tom Baker", "Will Turner"]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(SUBJECT, AGENTS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hi, Ana Silva here (ana.silva@example.org, 07700 900123).",
            "Hi, Ana Silva here (ana.silva@example.org, 07700 900123).",
        ),
        (
            "Sarah Connor said to mail jo.bloggs@other.example.",
            "[redacted: name] said to mail [redacted: email].",
        ),
        ("Ask Sarah about it, or Tom.", "Ask [redacted: name] about it, or [redacted: name]."),
        ("I will pay by card 4111 1111 1111 1111.", "I will pay by card [redacted: card]."),
        (
            "Refund to IBAN GB82 WEST 1234 5698 7654 32 please",
            "Refund to IBAN [redacted: iban] please",
        ),
        ("Call my husband on +44 20 7946 0958.", "Call my husband on [redacted: phone]."),
        ("Mr Jones and Dr. Emma Stone agreed.", "[redacted: name] and [redacted: name] agreed."),
        ("Ms Silva wrote this herself.", "Ms Silva wrote this herself."),
        ("I will turn it off and on.", "I will turn it off and on."),  # "will", "turn": not names
        ("Order 1234567 arrived on 2024-03-02.", "Order 1234567 arrived on 2024-03-02."),
    ],
)
def test_known_answers(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact_text(text) == expected


def test_card_numbers_failing_luhn_are_left_alone(redactor: Redactor) -> None:
    assert redactor.redact_text("ref 4111 1111 1111 1112 ok") == "ref 4111 1111 1111 1112 ok"


def test_only_free_text_fields_are_touched_and_report_has_context() -> None:
    redactor = Redactor(SUBJECT, AGENTS)
    data = DatasetRows(
        "desk",
        "tickets",
        {"id": "user.unique_id", "agent": "system.operations", "body": "user.content.private"},
        [
            {"id": 1, "agent": "Sarah Connor", "body": "Thanks Sarah Connor, all sorted!"},
            {"id": 2, "agent": "Tom Baker", "body": None},
        ],
    )
    out = redactor.redact(data)
    assert out.rows[0] == {
        "id": 1,
        "agent": "Sarah Connor",
        "body": "Thanks [redacted: name], all sorted!",
    }
    assert out.rows[1] is data.rows[1]  # unchanged rows are not copied
    assert data.rows[0]["body"] == "Thanks Sarah Connor, all sorted!"  # input not mutated
    [finding] = redactor.report.findings
    assert (finding.dataset, finding.field, finding.row, finding.type) == (
        "tickets",
        "body",
        0,
        "name",
    )
    assert finding.original == "Sarah Connor" and "Thanks Sarah Connor, all" in finding.context
    assert redactor.report.counts == {"name": 1}


def test_map_free_text_list_wins_over_categories() -> None:
    data = DatasetRows("s", "d", {"a": "user.content", "b": None}, [], free_text=("b",))
    assert free_text_fields(data) == ["b"]
    assert free_text_fields(DatasetRows("s", "d", {"a": "user.content.private", "b": None})) == [
        "a"
    ]


def test_subject_names_come_from_the_subjects_own_records() -> None:
    data = DatasetRows(
        "crm",
        "customers",
        {"first": "user.name.first", "last": "user.name.last"},
        [{"first": "Tom", "last": "Baker"}],
    )
    names = subject_names([data])
    assert names == {"Tom", "Baker"}
    redactor = Redactor(subject_from([], [], names), AGENTS)  # the subject is named Tom Baker
    assert redactor.redact_text("Tom Baker here; Sarah Connor helped.") == (
        "Tom Baker here; [redacted: name] helped."
    )


class _CountedRows(list[dict[str, object]]):
    """Rows that count how often they are read (spooled rows stream from disk each time)."""

    reads = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).reads += 1
        return super().__iter__()


def test_a_dataset_is_read_once_and_findings_keep_their_row_across_batches() -> None:
    rows = _CountedRows(
        {"id": i, "body": "Thanks Sarah Connor!" if i in (3, 1500) else "all fine here"}
        for i in range(2001)  # more than one batch of the name finder
    )
    _CountedRows.reads = 0
    data = DatasetRows("desk", "tickets", {"id": "user.unique_id", "body": "user.content"}, rows)
    redactor = Redactor(SUBJECT, AGENTS, names="known")
    out = redactor.redact(data)
    assert _CountedRows.reads == 1
    assert [r["body"] for r in out.rows if r["id"] in (3, 1500)] == ["Thanks [redacted: name]!"] * 2
    assert [f.row for f in redactor.report.findings] == [3, 1500]
    assert len(out.rows) == 2001 and out.rows[0] is rows[0]  # untouched rows are not copied
