"""The channel registry: name -> (config class, factory). Channels register themselves here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ferry.delivery.base import Channel, ChannelConfig
from ferry.domain.errors import InvalidInput


@dataclass(frozen=True)
class ChannelType:
    name: str
    config: type[ChannelConfig]
    factory: Callable[[Any], Channel]


_CHANNELS: dict[str, ChannelType] = {}


def register(name: str, config: type[ChannelConfig], factory: Callable[[Any], Channel]) -> None:
    _CHANNELS[name] = ChannelType(name, config, factory)


def names() -> list[str]:
    _load_builtin()
    return sorted(_CHANNELS)


def parse_config(name: str, raw: dict[str, Any]) -> ChannelConfig:
    """Validate a channel's configuration; errors say which field is wrong."""
    kind = _kind(name)
    try:
        return kind.config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"{name} recipient configuration is not valid: {problems}") from None


def open_channel(name: str, raw: dict[str, Any]) -> Channel:
    return _kind(name).factory(parse_config(name, raw))


def _kind(name: str) -> ChannelType:
    _load_builtin()
    if name not in _CHANNELS:
        raise InvalidInput(f"unknown delivery channel {name!r}; use one of: {', '.join(names())}")
    return _CHANNELS[name]


def _load_builtin() -> None:
    if _CHANNELS:
        return
    from ferry.delivery import https, sftp

    register("sftp", sftp.SftpConfig, sftp.SftpChannel)
    register("https", https.HttpsConfig, https.HttpsChannel)
