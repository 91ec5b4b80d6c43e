"""Redaction of other people in free-text fields (chat transcripts, notes, ticket bodies).

Emails, phone numbers, card numbers, IBANs and names of people other than the subject are
replaced by labelled placeholders (``[redacted: email]``). Detection is Presidio's analyzer,
configured to run offline: a blank spaCy pipeline (no model download), its pattern
recognisers (email, phone, card with Luhn check, IBAN with checksum), and recognisers of our
own for names: the names of other people the client's own systems know (a deny list), names
after a title (``Mr Smith``, ``Dr. Ana Lopes``), and named-entity recognition of person names
by compromise (npm, lexicon and rules, no model download) in a helper ``node`` process
(``ferry.export.people``), asked once per dataset for all its free-text values.

Without Node or the installed package, names fall back to the known people and titles; the
report's ``engine`` says which ran. If the helper fails during a run (crash, timeout, a
malformed reply), redaction fails closed: that text and every later one in the run are
redacted conservatively (every capitalised word that is not the subject's name, a title or
a common word), and the report carries a note saying so (see "Redaction" in
docs/architecture.md).

The subject's own email addresses, phone numbers and names are kept. The reviewer gets a
report of every replacement with its context; the person's package never holds it.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any

from ferry.domain.models import DatasetRows
from ferry.export import people

log = logging.getLogger(__name__)

LABELS = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "PERSON": "name",
}
_MIN_SCORE = 0.4
FAILED_SUFFIX = " (failed: conservative)"  # added to the engine's name when the finder failed
_CONTEXT = 40
_EMAIL = r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"
_TITLE = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?"
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
_APOSTROPHES = "'\u2019"
_WORD = re.compile(rf"[^\W\d_][\w{_APOSTROPHES}-]*\.?")
# Words that start sentences or greetings: never redacted as names on their own.
_COMMON_WORDS = """a an the i i'm i've i'll i'd my me we our you your he she it they
    this that these those hi hello hey dear thanks thank cheers regards best kind yes no ok
    okay sorry please
    and or but so if then when what who why how where there here also just still not
    customer agent caller client team manager support ticket order note re fw fwd"""
_COMMON = frozenset(_COMMON_WORDS.split())
_NER_SCORE = 0.55
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile("[ \t\u00a0]{1,3}")  # between the words of one name: not a line break
_BATCH = 1000
KNOWN_ENGINE = "known people + titles"


@dataclass(frozen=True)
class Finding:
    system: str
    dataset: str
    field: str
    row: int
    type: str  # email, phone, card, iban, name
    original: str
    context: str
    start: int = -1  # offsets of ``original`` in the field's text
    end: int = -1


@dataclass
class RedactionReport:
    findings: list[Finding] = field(default_factory=list)
    engine: str = KNOWN_ENGINE  # what found the names
    notes: list[str] = field(default_factory=list)  # for the reviewer: fallbacks, failures

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.type for f in self.findings).items()))

    @property
    def failed(self) -> bool:
        """The name finder failed during the run: names were redacted conservatively."""
        return self.engine.endswith(FAILED_SUFFIX)

    def to_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "notes": list(self.notes),
            "counts": self.counts,
            "findings": [f.__dict__ for f in self.findings],
        }


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
    """Redacts other people from free-text fields and records what it replaced.

    ``names`` chooses how person names are found beyond the known people and titles:
    ``"auto"`` uses compromise when it is installed (else falls back, with a note),
    ``"known"`` never does. ``finder`` replaces the helper process (tests). Close the
    redactor (or use it as a context manager) to end the helper; it also ends when the
    redactor is garbage collected.
    """

    def __init__(
        self,
        subject: Subject,
        others: Sequence[str] = (),
        names: str = "auto",
        finder: people.PeopleFinder | None = None,
    ) -> None:
        full, parts = _known_name_patterns(others, subject)
        self.subject = subject
        self._names = (tuple(full), tuple(parts))
        self.report = RedactionReport()
        self._finder: people.PeopleFinder | None = None
        self._make_finder: Callable[[], people.PeopleFinder] = (
            (lambda: finder) if finder is not None else people.PeopleFinder
        )
        self._failed = False
        self._cache: dict[str, list[tuple[int, int]]] = {}
        self._ner = False
        if names == "auto":
            why = None if finder is not None else people.unavailable()
            if why is None:
                self._ner = True
                self.report.engine = f"{people.version()} + {KNOWN_ENGINE}"
            else:
                self.report.notes.append(f"person-name recognition did not run: {why}")
        elif names != "known":
            raise ValueError(f"names must be 'auto' or 'known', not {names!r}")

    @property
    def analyzer(self) -> Any:
        """Presidio, loaded on first use (about a second): packages without free text skip it."""
        return _analyzer(*self._names)

    def __enter__(self) -> Redactor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the helper process (a later text starts a new one)."""
        if self._finder is not None:
            self._finder.close()
            self._finder = None
        self._cache.clear()

    def redact(self, data: DatasetRows) -> DatasetRows:
        fields = free_text_fields(data)
        if not fields:
            return data
        rows: list[dict[str, object]] = []
        given = iter(data.rows)  # read once (spooled rows stream from disk), a batch at a time
        try:
            while chunk := list(islice(given, _BATCH)):
                self._prefetch([v for row in chunk for v in _texts(row, fields)])
                start = len(rows)
                rows += [self._row(data, start + i, row, fields) for i, row in enumerate(chunk)]
                self._cache.clear()  # what the helper said about this batch's texts only
        finally:
            self._cache.clear()
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
        try:
            for data in datasets:
                yield self.redact(data)
        finally:
            self.close()

    def _row(
        self, data: DatasetRows, index: int, row: dict[str, object], fields: list[str]
    ) -> dict[str, object]:
        changed: dict[str, object] | None = None
        for name, value in _named_texts(row, fields):
            text = self.redact_text(value, (data.system, data.dataset, name, index))
            if text != value:
                changed = changed if changed is not None else dict(row)
                changed[name] = text
        return changed if changed is not None else row

    def redact_text(self, text: str, where: tuple[str, str, str, int] = ("", "", "", 0)) -> str:
        # spaCy cannot take lone surrogates; U+FFFD keeps every offset where it was
        analysed = _SURROGATE.sub("\ufffd", text)
        results = list(
            self.analyzer.analyze(
                text=analysed, language="en", entities=list(LABELS), score_threshold=_MIN_SCORE
            )
        )
        results.extend(self._person_results(text))
        out = text
        for start, end, kind in reversed(self._choose(text, results)):
            context = text[max(0, start - _CONTEXT) : end + _CONTEXT]
            self.report.findings.append(Finding(*where, kind, text[start:end], context, start, end))
            out = out[:start] + f"[redacted: {kind}]" + out[end:]
        return out

    # -- named-entity recognition -------------------------------------------------------

    def _prefetch(self, texts: list[str]) -> None:
        """Ask the helper about all of a dataset's texts at once (batches of _BATCH)."""
        if not self._ner or self._failed:
            return
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for i in range(0, len(todo), _BATCH):
            batch = todo[i : i + _BATCH]
            found = self._ask(batch)
            if found is None:
                return
            self._cache.update(zip(batch, found, strict=True))

    def _ask(self, texts: list[str]) -> list[list[tuple[int, int]]] | None:
        try:
            if self._finder is None:
                finder = self._make_finder()
                finder.start()
                self._finder = finder
            return self._finder.find(texts)
        except people.FinderFailed as exc:
            self._fail(str(exc))
            return None

    def _fail(self, why: str) -> None:
        log.warning("person-name recognition failed, redacting conservatively: %s", why)
        self._failed = True
        self.report.engine += FAILED_SUFFIX
        self.report.notes.append(
            f"person-name recognition failed ({why}); from then on every capitalised word "
            "that is not the subject's name, a title or a common word was redacted as a name"
        )
        if self._finder is not None:
            self._finder.close()
            self._finder = None

    def _person_results(self, text: str) -> list[Any]:
        if not self._ner:
            return []
        spans: list[tuple[int, int]] | None = None
        if not self._failed:
            spans = self._cache.get(text)
            if spans is None:
                found = self._ask([text])
                spans = found[0] if found is not None else None
        extend = spans is not None
        if spans is None:  # failed: fail closed
            spans = [(0, len(text))]
        from presidio_analyzer import RecognizerResult

        return [
            RecognizerResult("PERSON", start, end, _NER_SCORE)
            for span in spans
            for start, end in self._name_words(text, *span, extend=extend)
        ]

    def _name_words(
        self, text: str, start: int, end: int, extend: bool = True
    ) -> list[tuple[int, int]]:
        """The runs of name words in a found span: trims greetings, punctuation and the
        subject's own names ("Thanks Ana." -> nothing; "Dr. José Álvarez," -> all but ",").
        With ``extend``, a run reaching the span's end goes on over name-like words right
        after it, so a half-found name ("Jean-Luc" of "Jean-Luc Picard") is not half kept."""
        runs: list[tuple[int, int]] = []
        run: tuple[int, int] | None = None
        title: int | None = None
        for m in _WORD.finditer(text, start):
            word = m.group()
            bare = word.rstrip(".").lower()
            core = re.sub(rf"[{_APOSTROPHES}]s$", "", bare).strip(_APOSTROPHES + "-")
            is_title = bare in _TITLES
            gap = text[run[1] : m.start()] if run else ""
            joined = run is not None and title is None and _SPACES.fullmatch(gap) is not None
            is_name = word[0].isupper() and bare not in _COMMON and core not in self.subject.names
            if m.start() >= end and not (extend and joined and is_name and not is_title):
                break
            w_end = m.end() if is_title else m.end() - word.endswith(".")
            if is_title:
                title = title if title is not None else m.start()
                continue
            if is_name and joined and run is not None:
                run = (run[0], w_end)
            elif is_name:
                if run:
                    runs.append(run)
                run = (title if title is not None else m.start(), w_end)
            else:
                if run:
                    runs.append(run)
                run = None
            title = None
        if run:
            runs.append(run)
        return runs

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


_SHORTEST = 6  # shorter free text names nobody worth redacting


def _named_texts(row: dict[str, object], fields: list[str]) -> Iterator[tuple[str, str]]:
    """The free-text fields of ``row`` worth looking at, with their names."""
    for name in fields:
        value = row.get(name)
        if isinstance(value, str) and len(value) >= _SHORTEST:
            yield name, value


def _texts(row: dict[str, object], fields: list[str]) -> Iterator[str]:
    return (value for _name, value in _named_texts(row, fields))
