"""Redaction of other people in free-text fields (chat transcripts, notes, ticket bodies).

Emails, phone numbers, card numbers, IBANs and names of people other than the subject are
replaced by labelled placeholders (``[redacted: email]``). Detection is Presidio's analyzer,
configured to run offline: a blank spaCy pipeline (no model download), its pattern
recognisers (email, phone, card with Luhn check, IBAN with checksum), and two recognisers of
our own for names: the names of other people the client's own systems know (a deny list),
and names after a title (``Mr Smith``, ``Dr. Ana Lopes``). No named-entity model is used:
none from a publisher we trust installs from the package registries here, so a name that is
neither known nor titled is not found (see "Redaction" in docs/architecture.md).

The subject's own email addresses, phone numbers and names are kept. The reviewer gets a
report of every replacement with its context; the person's package never holds it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ferry.domain.models import DatasetRows

LABELS = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "PERSON": "name",
}
_MIN_SCORE = 0.4
_CONTEXT = 40
_EMAIL = r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"
_TITLE = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?"


@dataclass(frozen=True)
class Finding:
    system: str
    dataset: str
    field: str
    row: int
    type: str  # email, phone, card, iban, name
    original: str
    context: str


@dataclass
class RedactionReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.type for f in self.findings).items()))

    def to_dict(self) -> dict[str, object]:
        return {"counts": self.counts, "findings": [f.__dict__ for f in self.findings]}


@dataclass(frozen=True)
class Subject:
    """What identifies the person: kept wherever it appears."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()  # digits only
    names: frozenset[str] = frozenset()  # lower-cased names and name parts


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _known_name_patterns(names: Iterable[str], subject: Subject) -> tuple[list[str], list[str]]:
    """(full names, single capitalised name parts) of others, minus the subject's."""
    full, parts = set(), set()
    for name in names:
        name = " ".join(name.split())
        if not name or name.lower() in subject.names:
            continue
        full.add(name)
        for part in name.split():
            if len(part) > 2 and part.lower() not in subject.names and part[0].isupper():
                parts.add(part)
    return sorted(full, key=len, reverse=True), sorted(parts)


def _offline() -> None:
    """tldextract (used by Presidio's email check) must use its bundled suffix list."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


@lru_cache(maxsize=1)
def _base_engine() -> Any:
    _offline()
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankEngine(SpacyNlpEngine):
        """spaCy's blank English pipeline: tokens, no model to download."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    engine = BlankEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.load()
    return engine


@lru_cache(maxsize=8)
def _analyzer(known: tuple[str, ...], parts: tuple[str, ...]) -> Any:
    _offline()
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry

    engine = _base_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=engine, languages=["en"])
    registry.add_recognizer(  # any domain, not only public suffixes (example.test, corp.local)
        PatternRecognizer(
            supported_entity="EMAIL_ADDRESS",
            name="AnyEmail",
            patterns=[Pattern("email", _EMAIL, 0.5)],
        )
    )
    registry.add_recognizer(
        PatternRecognizer(
            supported_entity="PERSON",
            name="TitledName",
            patterns=[Pattern("titled", _TITLE, 0.6)],
            global_regex_flags=re.DOTALL | re.MULTILINE,  # capitals matter: "Ms Silva wrote"
        )
    )
    if known:
        registry.add_recognizer(
            PatternRecognizer(supported_entity="PERSON", name="KnownPeople", deny_list=list(known))
        )
    if parts:
        alternatives = "|".join(re.escape(p) for p in parts)
        registry.add_recognizer(
            PatternRecognizer(
                supported_entity="PERSON",
                name="KnownNameParts",
                patterns=[Pattern("part", rf"\b(?:{alternatives})\b", 0.5)],
                global_regex_flags=re.DOTALL | re.MULTILINE,  # case matters: "Will", not "will"
            )
        )
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def free_text_fields(data: DatasetRows) -> list[str]:
    """Fields the map marks as free text, else those whose category is user content."""
    if data.free_text:
        return list(data.free_text)
    return [f for f, c in data.categories.items() if c and c.startswith("user.content")]


class Redactor:
    """Redacts other people from free-text fields and records what it replaced."""

    def __init__(self, subject: Subject, others: Sequence[str] = ()) -> None:
        full, parts = _known_name_patterns(others, subject)
        self.subject = subject
        self._names = (tuple(full), tuple(parts))
        self.report = RedactionReport()

    @property
    def analyzer(self) -> Any:
        """Presidio, loaded on first use (about a second): packages without free text skip it."""
        return _analyzer(*self._names)

    def redact(self, data: DatasetRows) -> DatasetRows:
        fields = free_text_fields(data)
        if not fields:
            return data
        rows = [self._row(data, index, row, fields) for index, row in enumerate(data.rows)]
        return DatasetRows(
            system=data.system,
            dataset=data.dataset,
            categories=data.categories,
            rows=rows,
            timestamp=data.timestamp,
            model=data.model,
            free_text=data.free_text,
            provenance=data.provenance,
        )

    def redact_all(self, datasets: Iterable[DatasetRows]) -> Iterator[DatasetRows]:
        for data in datasets:
            yield self.redact(data)

    def _row(
        self, data: DatasetRows, index: int, row: dict[str, object], fields: list[str]
    ) -> dict[str, object]:
        changed: dict[str, object] | None = None
        for name in fields:
            value = row.get(name)
            if not isinstance(value, str) or len(value) < 6:
                continue
            text = self.redact_text(value, (data.system, data.dataset, name, index))
            if text != value:
                changed = changed if changed is not None else dict(row)
                changed[name] = text
        return changed if changed is not None else row

    def redact_text(self, text: str, where: tuple[str, str, str, int] = ("", "", "", 0)) -> str:
        results = self.analyzer.analyze(
            text=text, language="en", entities=list(LABELS), score_threshold=_MIN_SCORE
        )
        out = text
        for start, end, kind in reversed(self._choose(text, results)):
            context = text[max(0, start - _CONTEXT) : end + _CONTEXT]
            self.report.findings.append(Finding(*where, kind, text[start:end], context))
            out = out[:start] + f"[redacted: {kind}]" + out[end:]
        return out

    def _choose(self, text: str, results: Iterable[Any]) -> list[tuple[int, int, str]]:
        ordered = sorted(results, key=lambda r: (r.start, -(r.end - r.start), -r.score))
        chosen: list[tuple[int, int, str]] = []
        for r in ordered:
            if chosen and r.start < chosen[-1][1]:
                continue  # overlaps a span already chosen (longer or earlier wins)
            kind = LABELS[r.entity_type]
            if not self._is_subject(kind, text[r.start : r.end]):
                chosen.append((r.start, r.end, kind))
        return chosen

    def _is_subject(self, kind: str, found: str) -> bool:
        if kind == "email":
            return found.lower() in self.subject.emails
        if kind == "phone":
            tail = digits(found)[-9:]
            return len(tail) >= 6 and any(p.endswith(tail) for p in self.subject.phones)
        if kind == "name":
            words = [w.strip(".").lower() for w in found.split()]
            titles = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof"}
            return all(w in self.subject.names or w in titles for w in words)
        return False


def subject_from(emails: Iterable[str], phones: Iterable[str], names: Iterable[str]) -> Subject:
    """The person's identities and the names their own records carry."""
    lowered: set[str] = set()
    for name in names:
        name = " ".join(name.split()).lower()
        if name:
            lowered.add(name)
            lowered.update(name.split())
    return Subject(
        emails=frozenset(e.lower() for e in emails),
        phones=frozenset(d for d in (digits(p) for p in phones) if d),
        names=frozenset(lowered),
    )


def subject_names(datasets: Iterable[DatasetRows]) -> set[str]:
    """Names in the subject's own records (fields categorised ``user.name...``)."""
    found: set[str] = set()
    for data in datasets:
        fields = [f for f, c in data.categories.items() if c and c.startswith("user.name")]
        for row in data.rows:
            for name in fields:
                value = row.get(name)
                if isinstance(value, str) and value.strip():
                    found.add(value.strip())
    return found
