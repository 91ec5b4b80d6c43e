"""Audit hash chain maths: each event's hash covers its content and the previous event's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainLink:
    seq: int
    tenant: str
    at: datetime
    actor: str
    action: str
    request_id: str | None
    data: dict[str, object]
    prev_hash: str
    hash: str


def canonical(
    seq: int,
    tenant: str,
    at: datetime,
    actor: str,
    action: str,
    request_id: str | None,
    data: dict[str, object],
) -> bytes:
    body = {
        "seq": seq,
        "tenant": tenant,
        "at": at.replace(tzinfo=None).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "request_id": request_id,
        "data": data,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def link_hash(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head: str
    broken_at: int | None = None
    problem: str | None = None


def verify_chain(links: Iterable[ChainLink]) -> ChainReport:
    """Walk links in ``seq`` order; report the first one whose content or link does not match."""
    prev, count = GENESIS, 0
    for link in links:
        count += 1
        if link.seq != count:
            return ChainReport(
                False,
                count,
                prev,
                link.seq,
                f"event #{link.seq} is out of order "
                f"(expected #{count}): an event was deleted or inserted",
            )
        if link.prev_hash != prev:
            return ChainReport(
                False,
                count,
                prev,
                link.seq,
                f"event #{link.seq} does not link to event #{link.seq - 1}",
            )
        content = canonical(
            link.seq, link.tenant, link.at, link.actor, link.action, link.request_id, link.data
        )
        if link_hash(prev, content) != link.hash:
            return ChainReport(
                False,
                count,
                prev,
                link.seq,
                f"event #{link.seq} ({link.action}) was changed after it was "
                "written: its content no longer matches its hash",
            )
        prev = link.hash
    return ChainReport(True, count, prev)
