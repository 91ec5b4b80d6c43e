"""A test double for channels: records shipments, fails on demand (like httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ferry.delivery.base import ChannelConfig, DeliveryError, Receipt, Shipment


class MemoryConfig(ChannelConfig):
    label: str = "memory"


class MemoryChannel:
    """Keeps what it receives; ``fail`` decides per attempt whether to raise instead."""

    name: ClassVar[str] = "memory"

    def __init__(
        self,
        config: MemoryConfig | None = None,
        fail: Callable[[int], DeliveryError | None] | None = None,
    ) -> None:
        self.config = config or MemoryConfig()
        self.fail = fail
        self.attempts = 0
        self.received: dict[str, bytes] = {}

    def deliver(self, shipment: Shipment) -> Receipt:
        self.attempts += 1
        error = self.fail(self.attempts) if self.fail else None
        if error is not None:
            raise error
        first = shipment.idempotency_key not in self.received
        self.received.setdefault(shipment.idempotency_key, shipment.path.read_bytes())
        return Receipt(
            self.name,
            f"memory:{self.config.label}/{shipment.filename}",
            {"sha256": shipment.sha256, "duplicate": not first},
        )
