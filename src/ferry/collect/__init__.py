"""Collection: the data map format and the planner that walks it for one person."""

from ferry.collect.datamap import DataMap, DatasetMap, Reference, load_datamap
from ferry.collect.planner import CollectionResult, collect, reachable

__all__ = [
    "CollectionResult",
    "DataMap",
    "DatasetMap",
    "Reference",
    "collect",
    "load_datamap",
    "reachable",
]
