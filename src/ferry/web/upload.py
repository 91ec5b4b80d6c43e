"""The system owner's one-time upload page, ``/u/{token}``: a form for a CSV or JSON Lines file
per dataset of a manual system. ``Accept: application/json`` gets JSON instead of the page.
Once every dataset is uploaded the request's collection continues on its own."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ferry.domain.errors import FerryError
from ferry.services import jobs, manual
from ferry.web.portal import templates

log = logging.getLogger("ferry.upload")
router = APIRouter(prefix="/u", include_in_schema=False)
_HEADROOM = 64 * 1024  # multipart framing and the form's other fields


def _answer(request: Request, status: int, **ctx: Any) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        if ctx.get("error"):
            return JSONResponse({"error": ctx["code"], "message": ctx["error"]}, status)
        task = ctx.get("view") or ctx["task"]
        body = {
            "request_id": task.request_id,
            "system": task.system,
            "state": task.state,
            "due_date": task.due_date.isoformat(),
            "uploaded": task.uploaded,
        }
        return JSONResponse(body, status)
    page: HTMLResponse = templates.TemplateResponse(
        request, "manual/upload.html", {"tenant": None, "done": None, **ctx}, status_code=status
    )
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/{token}", response_class=HTMLResponse)
def page(request: Request, token: str) -> Response:
    try:
        return _answer(request, 200, task=manual.open_task(token))
    except FerryError as exc:
        return _answer(request, exc.status, task=None, error=exc.message, code=exc.code)


@router.post("/{token}", response_class=HTMLResponse)
async def receive(
    request: Request,
    token: str,
    background: BackgroundTasks,
    dataset: str = Form(""),
    file: UploadFile = File(...),
) -> Response:
    try:
        data = await file.read(manual.MAX_BYTES + 1)
        name = file.filename or ""
        task = await run_in_threadpool(manual.upload, token, dataset[:100], name, data)
    except FerryError as exc:
        return _answer(
            request, exc.status, task=_still_open(token), error=exc.message, code=exc.code
        )
    if task.continues:
        background.add_task(_continue, task.request_id)
    rows = sum(task.uploaded.values())
    form = task if task.state != "uploaded" else None
    return _answer(request, 200, task=form, view=task, done=rows)


def _still_open(token: str) -> manual.TaskView | None:
    try:
        return manual.open_task(token)
    except FerryError:
        return None


def _continue(request_id: str) -> None:
    """Every upload is in: the ``collect`` job collects and packages (on a worker when a broker
    is set). Only the upload that found nothing else awaited, its request's row locked, starts
    it, so two last uploads stored together start one collection; the job itself leaves alone
    a request no longer collecting (one the agent moved on is theirs to re-run)."""
    try:
        jobs.enqueue("collect", request_id, "manual-upload")
    except FerryError as exc:
        log.error("request %s not continued after upload: %s", request_id, exc.message)


async def _size_limit(request: Request, call_next: Any) -> Response:
    if request.url.path.startswith("/u/") and request.method == "POST":
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > manual.MAX_BYTES + _HEADROOM:
            message = f"the file is larger than {manual.MAX_BYTES // 2**20} MB"
            return JSONResponse({"error": "upload_too_large", "message": message}, 413)
    response: Response = await call_next(request)
    return response


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.middleware("http")(_size_limit)
