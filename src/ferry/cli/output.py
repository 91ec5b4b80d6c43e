"""Printing for people (Rich) or scripts (``--json``), and errors as one clear line."""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ferry.domain.errors import FerryError

console = Console()
err = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

JsonOpt = typer.Option(False, "--json", help="print JSON for scripts")


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, ensure_ascii=False) + "\n")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Ferry's errors into ``error[code]: message`` on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except FerryError as exc:
            err.print(
                f"[red]error{escape(f'[{exc.code}]')}[/red]: {escape(exc.message)}", highlight=False
            )
            raise typer.Exit(1) from None

    return wrapper
