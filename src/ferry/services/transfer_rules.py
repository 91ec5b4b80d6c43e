"""May the data go to a recipient in this country? A conservative default until the jurisdiction
rules (issue 5) provide the real check: join it by replacing :func:`transfer_allowed`.

GDPR family (EU-*, EEA, GB): the EEA, the UK and the countries with an EU adequacy decision are
allowed; anything else, and a recipient without a country, is refused (an agent must arrange
safeguards, which this default cannot see). CCPA (US-CA) places no restriction on where a
consumer's own data is sent at their direction.
"""

from __future__ import annotations

from dataclasses import dataclass

_EEA_CODES = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
_EEA_CODES += " IS LI NO"
_ADEQUATE_CODES = "GB CH AD AR CA FO GG IL IM JP JE NZ KR UY"
EEA = frozenset(_EEA_CODES.split(" "))
ADEQUATE = frozenset(_ADEQUATE_CODES.split(" "))


@dataclass(frozen=True)
class TransferDecision:
    allowed: bool
    reason: str


def transfer_allowed(jurisdiction: str, country: str | None) -> TransferDecision:
    if jurisdiction.startswith("US-"):
        return TransferDecision(True, f"{jurisdiction}: no transfer restriction for the consumer")
    if not country:
        return TransferDecision(
            False, "the recipient has no country on record; set it (--country) before sending"
        )
    code = country.upper()
    if code in EEA:
        return TransferDecision(True, f"{code} is in the EEA")
    if code in ADEQUATE:
        return TransferDecision(True, f"{code} has an adequacy decision")
    return TransferDecision(
        False,
        f"{code} is outside the EEA and has no adequacy decision; sending there from "
        f"{jurisdiction} needs safeguards an agent must arrange",
    )
