"""Load and validate the rule files in ``rules/``: one YAML file per jurisdiction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from ferry.domain.deadlines import ClockRule, Period, PeriodUnit
from ferry.domain.errors import InvalidInput
from ferry.jurisdictions.calendars import Calendar, calendar
from ferry.jurisdictions.schema import RuleFile

RULES_DIR = Path(__file__).parent / "rules"


class RuleFileError(InvalidInput):
    code = "invalid_rule_file"


@dataclass(frozen=True)
class Rule:
    """One jurisdiction code with its rule file and holiday calendar."""

    code: str
    source: str
    data: RuleFile

    @property
    def law(self) -> str:
        return self.data.short

    @property
    def citation(self) -> str:
        return self.data.response.citation

    @property
    def period(self) -> Period:
        r = self.data.response
        if r.length is not None and r.unit is not None:
            return Period(r.length, r.unit, r.roll_to_working_day)
        assert r.internal_target is not None  # guaranteed by the schema
        return Period(r.internal_target.length, r.internal_target.unit)

    @property
    def statutory(self) -> bool:
        """False where the law says only "without undue delay" (the period is a target)."""
        return self.data.response.length is not None

    @property
    def clock(self) -> ClockRule:
        ext, ack = self.data.extension, self.data.acknowledgement
        return ClockRule(
            self.period,
            Period(ext.length, ext.unit) if ext and ext.length and ext.unit else None,
            Period(ack.length, ack.unit) if ack else None,
        )

    @property
    def holidays(self) -> Calendar:
        h = self.data.holidays_for(self.code)
        return calendar(h.country, h.subdiv)


def parse_file(path: Path) -> RuleFile:
    """One rule file, validated; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleFileError(f"{path.name}: cannot read it as YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise RuleFileError(f"{path.name}: a rule file is a mapping of fields")
    try:
        return RuleFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise RuleFileError(f"{path.name}: {where}: {first['msg']}") from None


def load_dir(folder: Path) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for path in sorted(folder.glob("*.yaml")):
        data = parse_file(path)
        for code in data.expanded_codes():
            if code in rules:
                raise RuleFileError(f"{path.name}: {code} is also defined in {rules[code].source}")
            rules[code] = Rule(code, path.name, data)
    if not rules:
        raise RuleFileError(f"no rule files in {folder}")
    return rules


@lru_cache(maxsize=1)
def all_rules() -> dict[str, Rule]:
    return load_dir(RULES_DIR)


def unit_words(length: int, unit: PeriodUnit) -> str:
    word = {"months": "month", "calendar_days": "calendar day", "business_days": "business day"}
    return f"{length} {word[unit.value]}{'' if length == 1 else 's'}"
