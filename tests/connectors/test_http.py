"""The HTTP connector against a real local API: auth, paging, retries, limits, misbehaviour."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.connectors.base import ConnectorError
from ferry.connectors.http import HttpConnector
from ferry.connectors.registry import connector_kind
from tests.connectors.apiserver import ORDERS, Api, serve

FAST = {"backoff_seconds": 0.01, "retries": 2}


def _ds(source: dict[str, Any], column: str = "person_id") -> DatasetMap:
    data = {"system": "api", "datasets": {"d": {"references": [], "source": source}}}
    if column == "email":
        data["datasets"]["d"]["identities"] = {"email": "email"}
    return DataMap.model_validate(data).datasets["d"]


ORDERS_CURSOR = _ds(
    {
        "path": "/orders",
        "params": {"person_id": "{value}"},
        "items": "orders",
        "pagination": {"type": "cursor", "param": "cursor", "cursor_path": "next"},
    }
)
ORDERS_LINK = _ds(
    {"path": "/orders-linked", "params": {"person_id": "{value}"}, "pagination": {"type": "link"}}
)
PERSON_BY_ID = _ds({"path": "/people/{value}"})


def _mine(person: int) -> list[int]:
    return [int(str(o["id"])) for o in ORDERS if o["person_id"] == person]


def test_link_header_pagination_and_the_lookup_column_is_set() -> None:
    with serve(Api(page_size=3)) as api:
        rows = list(HttpConnector(api.url, FAST).fetch(ORDERS_LINK, "person_id", [2]))
    assert [r["id"] for r in rows] == _mine(2)
    assert len(api.requests) == 2


def test_one_object_by_id_in_the_path_and_404_is_no_data() -> None:
    with serve() as api:
        conn = HttpConnector(api.url, FAST)
        assert [r["name"] for r in conn.fetch(PERSON_BY_ID, "id", [3])] == ["O'Hara"]
        assert list(conn.fetch(PERSON_BY_ID, "id", ["../people/1", "99"])) == []
    assert "/people/..%2Fpeople%2F1" in api.requests  # the value never changes the path


@pytest.mark.parametrize(
    ("api", "connection", "credentials"),
    [
        (
            Api(api_key="k-123"),
            {"auth": {"type": "api_key", "header": "X-API-Key"}},
            {"api_key": "k-123"},
        ),
        (Api(bearer="b-456"), {"auth": {"type": "bearer"}}, {"token": "b-456"}),
        (
            Api(client=("cid", "csecret")),
            {"auth": {"type": "oauth2", "token_url": "/oauth/token"}},
            {"client_id": "cid", "client_secret": "csecret"},
        ),
    ],
    ids=["api_key", "bearer", "oauth2"],
)
def test_auth_kinds(api: Api, connection: dict[str, Any], credentials: dict[str, str]) -> None:
    with serve(api):
        conn = HttpConnector(api.url, {**connection, **FAST}, credentials)
        assert conn.check() == []
        assert [r["id"] for r in conn.fetch(ORDERS_CURSOR, "person_id", [1])] == _mine(1)
        wrong = HttpConnector(api.url, {**connection, **FAST}, {k: "wrong" for k in credentials})
        problems = wrong.check()
        assert problems and not any("wrong" in p for p in problems)
    secret = next(iter(credentials.values()))
    assert secret not in repr(conn)


def test_missing_credential_says_how_to_add_it() -> None:
    with serve(Api(bearer="x")) as api:
        conn = HttpConnector(api.url, {"auth": {"type": "bearer"}})
        with pytest.raises(ConnectorError, match=r"--credential token="):
            list(conn.fetch(ORDERS_CURSOR, "person_id", [1]))


def test_429_and_500_are_retried_with_backoff() -> None:
    with serve(Api(throttle_first=1, fail_first=1)) as api:
        rows = list(HttpConnector(api.url, FAST).fetch(ORDERS_CURSOR, "person_id", [1]))
    assert [r["id"] for r in rows] == _mine(1)


def test_persistent_500_is_an_error_naming_the_template_not_the_person() -> None:
    with serve(Api(always_500=True)) as api:
        conn = HttpConnector(api.url, FAST)
        with pytest.raises(ConnectorError) as err:
            list(conn.fetch(ORDERS_CURSOR, "person_id", ["ann-secret-id"]))
    assert err.value.message == "GET /orders returned 500 (3 attempts)"
    assert len(api.requests) == 3


def test_a_slow_api_times_out() -> None:
    with serve(Api(sleep=0.5)) as api:
        conn = HttpConnector(api.url, {"timeout_seconds": 0.1, "retries": 1, "backoff_seconds": 0})
        with pytest.raises(ConnectorError, match=r"timed out after 0.1 s \(2 attempts\)"):
            list(conn.fetch(ORDERS_CURSOR, "person_id", [1]))


def test_endless_pagination_stops_with_an_error() -> None:
    with serve(Api(forever=True)) as api:
        conn = HttpConnector(api.url, {"max_pages": 5, **FAST})
        with pytest.raises(ConnectorError, match="more than 5 pages"):
            list(conn.fetch(ORDERS_CURSOR, "person_id", [1]))
        with pytest.raises(ConnectorError, match="more than 5 pages"):
            list(conn.fetch(ORDERS_LINK, "person_id", [1]))


def test_rate_limit_spaces_requests() -> None:
    with serve() as api:
        conn = HttpConnector(api.url, {"rate_limit_per_second": 1000})
        list(conn.fetch(ORDERS_CURSOR, "person_id", [1, 2, 3]))
        assert conn._next_slot > 0  # the limiter booked a slot per request
    assert len(api.requests) >= 3


def test_answers_that_are_not_what_the_map_says() -> None:
    with serve() as api:
        conn = HttpConnector(api.url, FAST)
        with pytest.raises(ConnectorError, match="did not answer JSON"):
            list(conn.fetch(_ds({"path": "/not-json"}), "person_id", [1]))
        bad_items = _ds({"path": "/orders", "params": {"person_id": "{value}"}, "items": "next"})
        with pytest.raises(ConnectorError, match="no list of objects"):
            list(conn.fetch(bad_items, "person_id", [1]))
        with pytest.raises(ConnectorError, match="source"):
            list(conn.fetch(_ds({"nope": 1}), "person_id", [1]))


def test_unreachable_api_is_reported() -> None:
    conn = HttpConnector("http://127.0.0.1:9", {"retries": 0, "timeout_seconds": 1})
    assert conn.check() and "cannot reach" in conn.check()[0]
    assert connector_kind("https://api.example.com/v1") == ("http", "https://api.example.com/v1")
