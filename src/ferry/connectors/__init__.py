"""Read-only access to client systems: the protocol, the registry and the connectors."""

from ferry.connectors.base import Connector, ConnectorError
from ferry.connectors.registry import open_connector

__all__ = ["Connector", "ConnectorError", "open_connector"]
