"""Collection: gather the person's records from every system, package them, move the request on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ferry.collect.datamap import load_datamap
from ferry.collect.planner import collect
from ferry.connectors.registry import open_connector
from ferry.db import unit_of_work
from ferry.domain.errors import FerryError, IllegalTransition
from ferry.domain.models import DatasetRows, Identity, RequestState, Scope
from ferry.export.package import PackageMeta
from ferry.services import notify, packaging
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.services.requests import load
from ferry.services.views import RequestView
from ferry.settings import get_settings
from ferry.store import requests, systems
from ferry.store.tables import Package

_STARTABLE = (RequestState.VERIFIED, RequestState.FAILED, RequestState.REVIEW)


def start(request_id: str, actor: str, tenant_id: int | None = None) -> RequestView:
    """Move the request to ``collecting`` (a request already collecting may be run again)."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        state = RequestState(req.state)
        if state is RequestState.COLLECTING:
            record(session, tenant.id, actor, "collection.restarted", req.id)
        elif state in _STARTABLE:
            move(session, req, RequestState.COLLECTING, actor)
        else:
            hint = " verify the person first" if state is RequestState.AWAITING_VERIFICATION else ""
            raise IllegalTransition(f"a request that is {state.value} cannot be collected;{hint}")
        return RequestView.of(req, tenant.slug)


def run(request_id: str, actor: str, tenant_id: int | None = None) -> RequestView:
    start(request_id, actor, tenant_id)
    return execute(request_id, actor)


def execute(request_id: str, actor: str) -> RequestView:
    """The job body: collect, package, then review/ready or failed (with the reason)."""
    try:
        package, notes = _collect_and_package(request_id)
    except FerryError as exc:
        return _fail(request_id, actor, exc.message)
    except Exception as exc:  # a client system can fail in any way; record it, never lose it
        return _fail(request_id, actor, f"{type(exc).__name__}: {exc}")
    return _finish(request_id, actor, package, notes)


def _collect_and_package(request_id: str) -> tuple[Package, dict[str, list[str]]]:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        identities = [Identity.parse(i.type, i.value) for i in req.identities]
        scope = Scope.from_dict(req.scope)
        sources = [(s.name, s.url, s.datamap) for s in systems.for_tenant(session, tenant.id)]
        meta = PackageMeta(
            tenant=tenant.name,
            request_id=req.id,
            created=req.received_at,
            subject_label="the person who made this request",
            kind=req.kind,
            scope=_describe(scope),
            formats=packaging.formats_for(req, tenant),
        )
        slug = tenant.slug
        tenant_keys = packaging.Keys.load(session, tenant)
    if not sources:
        raise FerryError(
            "this tenant has no systems to collect from; add one with `ferry system add`",
            code="no_systems",
        )
    folder = get_settings().packages_dir / slug / request_id
    folder.mkdir(parents=True, exist_ok=True)
    notes: dict[str, list[str]] = {"unreachable": [], "discovered": []}
    gathered = _gather(sources, identities, scope, notes)
    people = tenant_keys.known_people
    datasets, report = packaging.prepare(meta.kind, identities, gathered, people)
    package = packaging.build(folder, datasets, meta, tenant_keys, report, request_id)
    return package, notes


def _gather(
    sources: list[tuple[str, str, str]],
    identities: list[Identity],
    scope: Scope,
    notes: dict[str, list[str]],
) -> Iterator[DatasetRows]:
    """Each system's datasets in turn; what could not be reached is noted for the audit trail."""
    for name, url, map_text in sources:
        if not scope.covers_system(name):
            continue
        datamap = load_datamap(map_text).model_copy(update={"system": name})
        connector = open_connector(url)
        try:
            result = collect(connector, datamap, identities, scope)
        finally:
            connector.close()
        notes["unreachable"].extend(f"{name}.{d}" for d in result.unreachable)
        notes["discovered"].extend(sorted({i.type.value for i in result.discovered}))
        for data in result.datasets:
            packaging.add_hints(data, datamap.datasets.get(data.dataset))
        yield from result.datasets


def _describe(scope: Scope) -> str:
    if not scope.is_partial:
        return "everything the company holds about you"
    parts = []
    if scope.categories:
        parts.append("data categories: " + ", ".join(scope.categories))
    if scope.systems:
        parts.append("systems: " + ", ".join(scope.systems))
    if scope.since or scope.until:
        parts.append(f"dated from {scope.since or 'the beginning'} to {scope.until or 'today'}")
    return "; ".join(parts)


def _finish(
    request_id: str, actor: str, package: Package, notes: dict[str, list[str]]
) -> RequestView:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        session.add(package)
        session.flush()
        req.failure = None
        record(
            session,
            tenant.id,
            actor,
            "package.created",
            req.id,
            {
                "sha256": package.sha256,
                "bytes": package.size,
                "files": len(package.files),
                "unreachable_datasets": notes["unreachable"],
                "discovered_identity_types": sorted(set(notes["discovered"])),
                "signed_by": package.signed_by,
                "redactions": package.redactions or {},
            },
        )
        target = RequestState.REVIEW if tenant.review_required else RequestState.READY
        move(session, req, target, actor)
        if target is RequestState.READY:
            notify.package_ready(session, req, tenant.slug, tenant.name)
        return RequestView.of(req, tenant.slug, package)


def _fail(request_id: str, actor: str, reason: str) -> RequestView:
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        req.failure = reason[:2000]
        move(session, req, RequestState.FAILED, actor, {"reason": reason[:500]})
        return RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))


def package_path(request_id: str, tenant_id: int | None) -> Path:
    with unit_of_work() as session:
        req, _ = load(session, request_id, tenant_id)
        package = requests.latest_package(session, req.id)
        if package is None:
            raise FerryError("this request has no package yet", code="no_package", status=404)
        return Path(package.path)
