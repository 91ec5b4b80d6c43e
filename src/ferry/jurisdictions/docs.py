"""``docs/jurisdictions.md``, generated from the rule files (``ferry jurisdictions doc``)."""

from __future__ import annotations

from ferry.jurisdictions.loader import RULES_DIR, load_dir, unit_words
from ferry.jurisdictions.schema import RuleFile

HEADER = """# Jurisdictions

Generated from `src/ferry/jurisdictions/rules/*.yaml` by `ferry jurisdictions doc -o
docs/jurisdictions.md`; do not edit by hand (a test checks this file matches the rules).

Dates are counted in the tenant's time zone (`ferry sla set TENANT --timezone ZONE`): a request
received at 23:30 local time counts on that local date. Month periods follow Regulation (EEC,
Euratom) No 1182/71: the day of receipt is not counted, a month ends on the same date of the
next month or on its last day, and where the rule says so a period ending on a Saturday,
Sunday or public holiday (from the `holidays` package, for the member state or country) ends
on the next working day. Business days skip weekends and those public holidays.
"""


def _response(data: RuleFile) -> str:
    r = data.response
    if r.length is not None and r.unit is not None:
        text = unit_words(r.length, r.unit)
        return text + (", next working day if it ends on a non-working day" * r.roll_to_working_day)
    assert r.internal_target is not None
    target = unit_words(r.internal_target.length, r.internal_target.unit)
    return f"no fixed period (without undue delay); default internal target {target}"


def _extension(data: RuleFile) -> str:
    e = data.extension
    if e is None:
        return "none"
    length = unit_words(e.length, e.unit) if e.length and e.unit else "no fixed length"
    return f"{length}, {e.conditions}; notice: {e.notice} ({e.citation})"


def _transfer(data: RuleFile) -> str:
    t = data.transfer
    parts: list[str] = [t.rule]
    if t.adequate:
        parts.append(f"adequate: {', '.join(t.adequate)}")
    parts += [f"{c} only for {why}" for c, why in t.partial.items()]
    if t.safeguards:
        parts.append(f"safeguards: {'; '.join(t.safeguards)}")
    return f"{'; '.join(parts)} ({t.citation})"


def _section(codes: list[str], data: RuleFile) -> list[str]:
    ack = data.acknowledgement
    c = data.clock
    pause = f"allowed for {', '.join(c.pause_reasons)}" if c.pause_allowed else "not allowed"
    limits = "; ".join(
        f"{'/'.join(lim.kinds)}: {lim.max_requests} per {lim.window_months} months, "
        f"{lim.consequence} ({lim.citation})"
        for lim in data.limits
    )
    lines = [
        f"## {data.short}: {', '.join(codes)}",
        "",
        f"{data.law}. Authority: {data.authority}.",
        "",
        "| | |",
        "|---|---|",
        f"| response | {_response(data)} ({data.response.citation}) |",
        f"| extension | {_extension(data)} |",
        f"| acknowledgement | "
        f"{f'{unit_words(ack.length, ack.unit)} ({ack.citation})' if ack else 'none'} |",
        f"| clock starts | {c.starts}; pause {pause} ({c.citation}) |",
        f"| request limits | {limits or 'none'} |",
        f"| refusal | manifestly unfounded or excessive: "
        f"{'yes' if data.rejection.unfounded_or_excessive else 'no such ground'} "
        f"({data.rejection.citation}) |",
        f"| right to complain | {data.rejection.complaint} |",
        f"| portability | {data.portability.text} ({data.portability.citation}) |",
        f"| verification | {data.verification.text} ({data.verification.citation}) |",
        f"| fees | {data.fees.text} ({data.fees.citation}) |",
        f"| transfers | {_transfer(data)} |",
    ]
    if data.review_note:
        lines.append(f"| to confirm | {data.review_note} |")
    return [*lines, ""]


def render() -> str:
    rules = load_dir(RULES_DIR)
    by_file: dict[str, list[str]] = {}
    for code, rule in rules.items():
        by_file.setdefault(rule.source, []).append(code)
    parts = [HEADER]
    for source in sorted(by_file, key=lambda s: (s != "eu.yaml", s)):
        codes = by_file[source]
        parts.append("\n".join(_section(codes, rules[codes[0]].data)))
    return "\n".join(parts).rstrip() + "\n"
