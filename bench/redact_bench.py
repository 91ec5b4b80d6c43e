"""Name redaction on a corpus with known answers: precision and recall, per engine, same run.

    python -m bench.redact_bench [--repeat 5] [--copies 20] [--show]

The baseline is the known-people-only redactor (the client's staff names + titles); the
other row adds compromise's person-name recognition. Scores are per name mention:

- recall: other people's names whose every letter ended up inside a name redaction
  (``partial`` counts names of which only some letters were redacted: still a leak);
- precision: name redactions that overlap another person's name (the rest are false
  positives: common words, places, products, or the subject);
- subject hit: mentions of the subject's own name that were (partly) redacted (must be 0).

``first`` is the corpus written before the finder was first run; ``held-out`` was written
after that first run and not changed since. Timing is milliseconds per text, with the
engine/baseline ratio from the same run (lower is better): the median of ``--repeat`` runs
of ``Redactor.redact`` over one dataset holding ``--copies`` copies of the corpus.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.redact_corpus import FIRST, KNOWN, SECOND, SUBJECT_NAMES, Item
from ferry.domain.models import DatasetRows
from ferry.export import people
from ferry.export.redact import Redactor, subject_from


@dataclass
class Score:
    names: int = 0
    found: int = 0
    partial: int = 0
    redactions: int = 0
    correct: int = 0
    subject_hits: int = 0
    false_positives: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.names if self.names else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.redactions if self.redactions else 1.0


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(redactor: Redactor, items: Sequence[Item]) -> Score:
    result = Score()
    for item in items:
        before = len(redactor.report.findings)
        redactor.redact_text(item.text)
        spans = [(f.start, f.end) for f in redactor.report.findings[before:] if f.type == "name"]
        for a, b in item.others:
            letters = [i for i in range(a, b) if item.text[i].isalpha()]
            covered = [i for i in letters if any(s <= i < e for s, e in spans)]
            result.names += 1
            if len(covered) == len(letters):
                result.found += 1
            else:
                result.missed.append(item.text[a:b])
                result.partial += bool(covered)
        for span in spans:
            result.redactions += 1
            if any(_overlaps(span, other) for other in item.others):
                result.correct += 1
            else:
                result.false_positives.append(item.text[span[0] : span[1]])
        result.subject_hits += sum(
            any(_overlaps(span, mine) for span in spans) for mine in item.subject
        )
    return result


def timing(redactor: Redactor, items: Sequence[Item], repeat: int, copies: int) -> float:
    """Seconds per text through ``Redactor.redact``: one dataset of ``copies`` times the
    corpus, the helper asked in batches; the median of ``repeat`` runs."""
    rows = [{"body": f"{i.text} ref {n}"} for n in range(copies) for i in items]  # all distinct
    data = DatasetRows("desk", "tickets", {"body": "user.content"}, rows)
    redactor.redact(DatasetRows("desk", "tickets", {"body": "user.content"}, rows[:20]))  # warm
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        redactor.redact(data)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) / len(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--copies", type=int, default=20, help="corpus copies per timed run")
    parser.add_argument("--show", action="store_true", help="list misses and false positives")
    args = parser.parse_args(argv)

    subject = subject_from([], [], SUBJECT_NAMES)
    engines = {"known people + titles (baseline)": "known"}
    why = people.unavailable()
    if why is None:
        engines[people.version() + " + known"] = "auto"
    else:
        print(f"compromise unavailable ({why}): baseline only")

    sets = {"first": FIRST, "held-out": SECOND, "all": FIRST + SECOND}
    print(f"{len(FIRST + SECOND)} texts, {sum(len(i.others) for i in FIRST + SECOND)} names")
    header = f"{'engine':<38} {'set':<9} {'recall':>7} {'partial':>8} {'precision':>9}"
    print(header + f" {'subject hit':>11} {'FP':>4}")
    per_text: dict[str, float] = {}
    for label, mode in engines.items():
        with Redactor(subject, KNOWN, names=mode) as redactor:
            for set_name, items in sets.items():
                s = score(redactor, items)
                print(
                    f"{label:<38} {set_name:<9} {s.recall:7.1%} {s.partial:8d} "
                    f"{s.precision:9.1%} {s.subject_hits:11d} {len(s.false_positives):4d}"
                )
                if args.show and set_name == "all":
                    print(f"    missed: {s.missed}")
                    print(f"    false positives: {s.false_positives}")
            per_text[label] = timing(redactor, FIRST + SECOND, args.repeat, args.copies)
    base = next(iter(per_text.values()))
    for label, seconds in per_text.items():
        print(f"{label:<38} {seconds * 1000:8.2f} ms/text  ratio {seconds / base:5.2f}")


if __name__ == "__main__":
    main()
