"""Person names in free text, found by compromise (npm) in a helper ``node`` process.

compromise (Spencer Kelly, MIT, on npm since 2015) tags person names from its lexicon and
rules: no model to download, nothing fetched at run time. Its pinned copy is installed by
``make`` (``npm ci`` in ``people_js/``, from ``package-lock.json``). One helper process serves
one redaction run: texts go in as JSON lines on its stdin, spans come back on its stdout, and
the process ends when the run closes it (or when the finder is garbage collected). Its stderr
is discarded, so no text can reach a log through it.

Every failure (no answer within the timeout, a crash, a malformed reply) raises
``FinderFailed``; the caller then fails closed (see ``ferry.export.redact``). When Node or the
installed package is missing, ``unavailable()`` says why and redaction falls back to the
known people and titles.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent / "people_js"
SCRIPT = HERE / "people.mjs"
ENGINE = "compromise"
_PROBE = "Sarah Connor called."


class FinderFailed(RuntimeError):
    """The helper process did not answer properly; what it was asked is not trusted."""


def unavailable(folder: Path = HERE) -> str | None:
    """Why the compromise finder cannot run here, or None when it can."""
    if os.environ.get("FERRY_NAME_ENGINE", "").lower() in {"none", "off", "known"}:
        return "turned off by FERRY_NAME_ENGINE"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (folder / "people.mjs").is_file():
        return f"{folder / 'people.mjs'} is missing"
    if not (folder / "node_modules" / "compromise" / "package.json").is_file():
        return f"compromise is not installed: run `npm ci` in {folder}"
    return None


def version(folder: Path = HERE) -> str:
    try:
        meta = json.loads((folder / "node_modules" / "compromise" / "package.json").read_text())
        return f"{ENGINE} {meta.get('version', '?')}"
    except (OSError, ValueError):
        return ENGINE


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin:
            proc.stdin.close()
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    if proc.stdout:
        proc.stdout.close()


class PeopleFinder:
    """One helper process; ``find`` sends a batch of texts and returns their name spans."""

    def __init__(
        self,
        command: Sequence[str] | None = None,
        timeout: float = 20.0,
        per_mb: float = 150.0,
    ) -> None:
        self.command = list(command or ["node", str(SCRIPT)])
        self.timeout = timeout  # seconds for a batch, plus per_mb for each MB of text
        self.per_mb = per_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._finalizer: weakref.finalize[..., PeopleFinder] | None = None

    def start(self) -> None:
        """Start the helper and check that it finds a name (raises FinderFailed if not)."""
        if self._proc is not None:
            return
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (our own script, no shell)
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=HERE if HERE.is_dir() else None,
                env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},  # no NODE_OPTIONS
            )
        except OSError as exc:
            raise FinderFailed(f"cannot start the name finder: {exc.__class__.__name__}") from exc
        self._finalizer = weakref.finalize(self, _stop, self._proc)
        [probe] = self.find([_PROBE])
        if not probe:
            self.close()
            raise FinderFailed("the name finder found no name in its self-test")

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None
        self._buffer = b""

    def __enter__(self) -> PeopleFinder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Name spans (code-point offsets) for each text, in order."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise FinderFailed("the name finder is not running")
        if not texts:
            return []
        payload = b"".join(
            json.dumps({"id": i, "text": t}, ensure_ascii=True).encode() + b"\n"
            for i, t in enumerate(texts)
        )
        deadline = time.monotonic() + self.timeout + self.per_mb * len(payload) / 1e6
        writer = threading.Thread(target=self._write, args=(proc, payload), daemon=True)
        writer.start()
        try:
            replies = [self._reply(proc, deadline) for _ in texts]
        except FinderFailed:
            self.close()
            raise
        finally:
            writer.join(timeout=max(0.0, deadline - time.monotonic()) + 1)
        spans: list[list[tuple[int, int]]] = []
        for i, (reply, text) in enumerate(zip(replies, texts, strict=True)):
            spans.append(self._spans(reply, i, len(text)))
        return spans

    @staticmethod
    def _write(proc: subprocess.Popen[bytes], payload: bytes) -> None:
        assert proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):  # a dead helper is noticed by the reader
            proc.stdin.write(payload)
            proc.stdin.flush()

    def _reply(self, proc: subprocess.Popen[bytes], deadline: float) -> object:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise FinderFailed("the name finder did not answer in time")
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_READ)
                if not sel.select(timeout=left):
                    continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = proc.poll()
                self.close()
                raise FinderFailed(f"the name finder stopped (exit code {code})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError as exc:
            self.close()
            raise FinderFailed("the name finder sent a malformed reply") from exc

    def _spans(self, reply: object, index: int, size: int) -> list[tuple[int, int]]:
        if not isinstance(reply, dict) or reply.get("id") != index:
            self.close()
            raise FinderFailed("the name finder's reply does not match the request")
        spans = reply.get("spans")
        if not isinstance(spans, list):
            self.close()
            raise FinderFailed("the name finder's reply has no spans")
        out: list[tuple[int, int]] = []
        for span in spans:
            if (
                not isinstance(span, list)
                or len(span) != 2
                or not all(type(x) is int for x in span)
                or not 0 <= span[0] < span[1] <= size
            ):
                self.close()
                raise FinderFailed("the name finder sent a span outside the text")
            out.append((span[0], span[1]))
        return out
