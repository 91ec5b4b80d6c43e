"""Free-text fields with known answers for name redaction (tests and bench/redact_bench.py).

Markup: ``{José Álvarez}`` is another person (must be redacted), ``<Ana>`` is the subject
(must be kept). Everything else must be kept too: the distractors are common words that are
also first names (will, mark, grace, bill), places, products and companies.
The subject is Ana Silva; the client's systems know the agents in ``KNOWN``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUBJECT_NAMES = ("Ana Silva",)
KNOWN = ("Sarah Connor", "Tom Baker", "Priya Raman", "Will Turner")

RAW: tuple[tuple[str, str], ...] = (
    # (kind, text)
    ("ticket", "Hi, this is <Ana Silva>. My order never arrived, can you check?"),
    ("ticket", "<Ana> here again. {Sarah Connor} promised a refund last Monday."),
    ("ticket", "{Sarah} said the courier would call me back. Nobody did."),
    ("ticket", "{José Álvarez} from your billing team charged me twice."),
    ("ticket", "Please stop emailing my neighbour {Zoë Müller}, she is not a customer."),
    ("ticket", "{Mark} told me the Kindle would be replaced. Mark this as urgent please."),
    ("ticket", "I will pay with Apple Pay once {Dr. Okafor} confirms the prescription."),
    ("ticket", "My husband {John} ordered the Ford Focus floor mats, not me."),
    ("ticket", "The parcel was left with {Mrs. Henderson} at number 12."),
    ("ticket", "{Tom} at the London depot was very rude on the phone."),
    ("ticket", "Can {Priya} send the invoice to my work address in Berlin?"),
    ("ticket", "{Liam O'Neill} and {Chen Wei} both signed for the delivery, I never saw it."),
    ("ticket", "Cancel the subscription for my daughter {Emily}. She is 14."),
    ("ticket", "Thanks {Mr Baker}, the replacement iPhone works fine."),
    ("ticket", "The Grace period ended in May, but I paid in April."),
    ("ticket", "Bill me monthly, not yearly. Windows laptop still broken."),
    ("ticket", "<SILVA>, <ANA> - account holder. Please update my address."),
    ("ticket", "{Fatima Zahra} in Casablanca is my sister; she may call about the order."),
    ("ticket", "I spoke with {Kenji Tanaka} from your Tokyo office on Friday."),
    ("ticket", "{Bjørn} was the driver, according to the tracking page."),
    ("chat", "agent: Hello, my name is {Will}, how can I help?"),
    ("chat", "customer: Hi {Will}, it's <Ana Silva>, order 55123."),
    ("chat", "agent: Thanks <Ana>. I see {Sarah Connor} already opened a case."),
    ("chat", "agent: I will escalate this to my manager {Diane Foster}."),
    ("chat", "customer: ok thanks. will {Diane} email me?"),
    ("chat", "agent: Yes, {Diane} or {Carlos} from the returns team will email you."),
    ("chat", "customer: My friend {Olivia Brown} had the same problem with PayPal."),
    ("chat", "agent: Sorry about that, <Ana>! Anything else?"),
    ("chat", "customer: no that's all, have a good weekend"),
    ("chat", "agent: You too. This chat was handled by {Tom Baker}."),
    ("chat", "customer: {Nadia} at the Paris store gave me a voucher code."),
    ("chat", "agent: Could you ask {Mr. Kowalski} to sign the return form?"),
    ("note", "Customer called re missing parcel. Spoke to {Sarah}. Escalated to {Tom}."),
    ("note", "Caller was <Ms Silva> herself; verified with date of birth."),
    ("note", "{Dr. Ingrid Svensson} (GP) letter attached to the complaint."),
    ("note", "Customer's lawyer {Robert Klein} requested all records."),
    ("note", "Do not contact {Michael}, ex-partner, per customer request."),
    ("note", "{Aisha Bello} from Compliance approved the goodwill credit."),
    ("note", "Follow-up: check Amazon order 771 and the Visa chargeback."),
    ("note", "{Hannah} (team lead) will review on Tuesday."),
    ("note", "Reassigned from {Priya Raman} to {Will Turner}."),
    ("note", "Customer prefers email. Happy with outcome. Closed."),
    ("note", "Left voicemail for {Pedro} in Lisbon about the gift card."),
    ("note", "New address confirmed by <Ana> on the phone; {Grace} in logistics updated it."),
)

# Second set: written after the first run of the name finder, and kept as first written.
HELD_OUT: tuple[tuple[str, str], ...] = (
    ("ticket", "Dear Sir or Madam, the Samsung Galaxy I ordered from Amazon Prime is faulty."),
    ("ticket", "Sent from my iPhone. Regards, <Ana>"),
    ("ticket", "{Moana Kealoha} from Honolulu and {Siobhán Ní Bhriain} share my account."),
    ("ticket", "Netflix, Spotify and Disney+ were all billed on the same Visa card."),
    ("ticket", "Our accountant {Grzegorz Brzęczyszczykiewicz} will send the VAT number."),
    ("chat", "customer: April showers ruined the Nike trainers, can I return them?"),
    ("chat", "agent: {Rosa} from Madrid handled your last return, <Ms. Silva>."),
    ("chat", "customer: my son {Noah} used my card on Roblox without asking"),
    ("chat", "agent: Please hold while I check with {Ahmed}."),
    ("note", "Per {Jean-Luc Picard}'s email the Toyota warranty claim is closed."),
    ("note", "Christmas delivery missed; Royal Mail says Birmingham hub delayed."),
    ("note", "Spoke with {Mrs Nakamura}, the landlord, who confirmed <Ana> moved out."),
    ("note", "Chargeback via Mastercard raised by <Ana Silva>; {Ivan Petrov} to decide."),
    ("note", "Google Pay token expired; customer will re-add it in Chrome."),
    ("note", "{Dr Amara Nwosu} signed the medical exemption for <Silva>."),
)


@dataclass(frozen=True)
class Item:
    kind: str
    text: str
    others: tuple[tuple[int, int], ...]  # spans of other people's names
    subject: tuple[tuple[int, int], ...]  # spans of the subject's names

    def names(self) -> list[str]:
        return [self.text[a:b] for a, b in self.others]


_MARK = re.compile(r"\{([^}]+)\}|<([^>]+)>")


def parse(kind: str, marked: str) -> Item:
    text, others, subject, pos = [], [], [], 0
    out_len = 0
    for m in _MARK.finditer(marked):
        text.append(marked[pos : m.start()])
        out_len += m.start() - pos
        inner = m.group(1) or m.group(2)
        span = (out_len, out_len + len(inner))
        (others if m.group(1) else subject).append(span)
        text.append(inner)
        out_len += len(inner)
        pos = m.end()
    text.append(marked[pos:])
    return Item(kind, "".join(text), tuple(others), tuple(subject))


FIRST: tuple[Item, ...] = tuple(parse(kind, text) for kind, text in RAW)
SECOND: tuple[Item, ...] = tuple(parse(kind, text) for kind, text in HELD_OUT)
CORPUS: tuple[Item, ...] = FIRST + SECOND
