"""Hash-chain maths: any edit, deletion or reordering is found and located."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from ferry.domain.audit import GENESIS, ChainLink, canonical, link_hash, verify_chain


def chain(n: int) -> list[ChainLink]:
    links, prev = [], GENESIS
    start = datetime(2026, 1, 1, 12, 0, 0)
    for seq in range(1, n + 1):
        at = start + timedelta(seconds=seq)
        data: dict[str, object] = {"n": seq, "note": "Luís"}
        h = link_hash(prev, canonical(seq, "acme", at, "cli", "request.received", "r1", data))
        links.append(ChainLink(seq, "acme", at, "cli", "request.received", "r1", data, prev, h))
        prev = h
    return links


def test_intact_chain() -> None:
    report = verify_chain(chain(5))
    assert report.ok and report.events == 5 and report.head == chain(5)[-1].hash


def test_edited_content_is_located() -> None:
    links = chain(5)
    links[2] = replace(links[2], data={"n": 999, "note": "Luís"})
    report = verify_chain(links)
    assert not report.ok and report.broken_at == 3 and "changed" in (report.problem or "")


def test_edited_actor_is_located() -> None:
    links = chain(4)
    links[0] = replace(links[0], actor="someone-else")
    assert verify_chain(links).broken_at == 1


def test_deleted_event_is_found() -> None:
    links = chain(5)
    del links[1]
    report = verify_chain(links)
    assert not report.ok and report.broken_at == 3


def test_rehashed_event_breaks_the_next_link() -> None:
    links = chain(4)
    forged = replace(links[1], data={"n": 0})
    content = canonical(
        forged.seq,
        forged.tenant,
        forged.at,
        forged.actor,
        forged.action,
        forged.request_id,
        forged.data,
    )
    links[1] = replace(forged, hash=link_hash(forged.prev_hash, content))
    report = verify_chain(links)
    assert not report.ok and report.broken_at == 3


def test_empty_chain_is_intact() -> None:
    assert verify_chain([]).ok
