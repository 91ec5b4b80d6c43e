"""Read-only connector for HTTP JSON APIs declared in the data map.

The system's URL is the API's base URL. The map's ``connection`` says how to authenticate
(API key header, bearer token, OAuth2 client credentials; the secrets themselves are the
system's encrypted credentials), how fast to go (``rate_limit_per_second``), how long to wait
(``timeout_seconds``) and how often to retry 429 and 5xx answers (with exponential backoff,
honouring ``Retry-After``). Each dataset's ``source`` names the path and query for one value
(``{value}`` is replaced, URL-encoded), where the rows are in the answer, and how it pages
(page number, cursor, or the ``Link: <...>; rel="next"`` header), with ``max_pages`` as a
guard against an API that never stops. Only GET is ever sent (and POST for an OAuth2 token).
Error messages name the path template, never the filled-in URL (it holds the person's data).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferry.collect.datamap import DataMap, DatasetMap, explain
from ferry.connectors.base import ConnectorError, Row

_RETRY = {429, 500, 502, 503, 504}


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["none", "api_key", "bearer", "oauth2"] = "none"
    header: str = "X-API-Key"
    token_url: str = ""
    scope: str = ""


class HttpConnection(BaseModel):
    """``connection:`` of an HTTP system."""

    model_config = ConfigDict(extra="forbid")
    auth: Auth = Field(default_factory=Auth)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    max_backoff_seconds: float = Field(default=30.0, ge=0, le=600)
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    max_pages: int = Field(default=1000, ge=1)


class Pagination(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["none", "page", "cursor", "link"] = "none"
    param: str = "page"
    start: int = 1
    size_param: str | None = None
    size: int = Field(default=100, ge=1)
    cursor_path: str = "next_cursor"


class HttpSource(BaseModel):
    """``source:`` of a dataset served by the API."""

    model_config = ConfigDict(extra="forbid")
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    items: str = ""
    pagination: Pagination = Field(default_factory=Pagination)
    not_found_is_empty: bool = True


def dig(body: object, path: str) -> object:
    """``a.b.c`` inside nested JSON objects; ``""`` is the body itself."""
    for part in [p for p in path.split(".") if p]:
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


class HttpConnector:
    """GETs a person's records from a JSON API; never writes."""

    def __init__(
        self,
        base_url: str,
        connection: dict[str, Any] | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        try:
            self.config = HttpConnection.model_validate(connection or {})
        except ValidationError as err:
            raise ConnectorError(f"connection settings: {explain(err)}") from None
        self.base_url = base_url.rstrip("/")
        self._credentials = dict(credentials or {})
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=self.config.timeout_seconds,
            headers=self.config.headers,
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._token: tuple[str, float] | None = None

    def __repr__(self) -> str:  # never show credentials
        return f"HttpConnector({self.base_url!r})"

    # --- auth -----------------------------------------------------------------------------

    def _secret(self, name: str) -> str:
        value = self._credentials.get(name)
        if not value:
            raise ConnectorError(
                f"the system needs the credential {name!r}; add it with "
                f"`ferry system add ... --credential {name}=...`"
            )
        return value

    def _auth_headers(self, refresh: bool = False) -> dict[str, str]:
        auth = self.config.auth
        if auth.type == "api_key":
            return {auth.header: self._secret("api_key")}
        if auth.type == "bearer":
            return {"Authorization": f"Bearer {self._secret('token')}"}
        if auth.type == "oauth2":
            return {"Authorization": f"Bearer {self._oauth_token(refresh)}"}
        return {}

    def _oauth_token(self, refresh: bool) -> str:
        with self._lock:
            if self._token and not refresh and self._token[1] > time.monotonic() + 5:
                return self._token[0]
        form = {"grant_type": "client_credentials"}
        if self.config.auth.scope:
            form["scope"] = self.config.auth.scope
        basic = (self._secret("client_id"), self._secret("client_secret"))
        url = self.config.auth.token_url or "/oauth/token"
        response = self._send("POST", url, url, data=form, auth=basic)
        if response.status_code != 200:
            raise ConnectorError(f"OAuth2 token request to {url} returned {response.status_code}")
        body = self._json(response, url)
        token = dig(body, "access_token")
        if not isinstance(token, str) or not token:
            raise ConnectorError(f"OAuth2 token answer from {url} has no access_token")
        expires = dig(body, "expires_in")
        ttl = float(expires) if isinstance(expires, int | float) else 300.0
        with self._lock:
            self._token = (token, time.monotonic() + ttl)
        return token

    # --- sending --------------------------------------------------------------------------

    def _wait_turn(self) -> None:
        rate = self.config.rate_limit_per_second
        if not rate:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / rate
        if slot > now:
            time.sleep(slot - now)

    def _send(self, method: str, url: str, template: str, **kwargs: Any) -> httpx.Response:
        """Send with rate limit, timeout and retries; ``template`` is what errors show."""
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            self._wait_turn()
            delay: float | None = None
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                problem = f"timed out after {self.config.timeout_seconds:g} s"
            except httpx.HTTPError as err:
                problem = f"failed ({type(err).__name__})"
            else:
                if response.status_code not in _RETRY:
                    return response
                problem = f"returned {response.status_code}"
                delay = self._retry_after(response)
            if attempt == attempts:
                break
            time.sleep(self._backoff(attempt, delay))
        raise ConnectorError(f"{method} {template} {problem} ({attempts} attempts)")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait: float = self.config.backoff_seconds * 2.0 ** (attempt - 1)
        if retry_after is not None:
            wait = retry_after
        return min(wait, self.config.max_backoff_seconds)

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        try:
            return max(0.0, float(response.headers.get("retry-after", "")))
        except ValueError:
            return None

    @staticmethod
    def _json(response: httpx.Response, template: str) -> object:
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(f"GET {template} did not answer JSON") from None

    def _get(self, url: str, template: str, params: dict[str, str] | None) -> httpx.Response:
        response = self._send("GET", url, template, params=params, headers=self._auth_headers())
        if response.status_code == 401 and self.config.auth.type == "oauth2":
            headers = self._auth_headers(refresh=True)
            response = self._send("GET", url, template, params=params, headers=headers)
        return response

    # --- fetching -------------------------------------------------------------------------

    def source(self, dataset: DatasetMap) -> HttpSource:
        try:
            return HttpSource.model_validate(dataset.source)
        except ValidationError as err:
            raise ConnectorError(f"dataset {dataset.name!r} source: {explain(err)}") from None

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        """One request (and its pages) per value; rows get ``column`` set to that value."""
        source = self.source(dataset)
        for value in dict.fromkeys(str(v) for v in values if v is not None):
            for row in self._pages(dataset, source, value):
                row.setdefault(column, value)
                yield row

    def _pages(self, dataset: DatasetMap, source: HttpSource, value: str) -> Iterator[Row]:
        paging = source.pagination
        url: str | None = source.path.replace("{value}", quote(value, safe=""))
        params: dict[str, str] | None = {
            k: v.replace("{value}", value) for k, v in source.params.items()
        }
        assert params is not None
        if paging.type == "page":
            params[paging.param] = str(paging.start)
        if paging.size_param:
            params[paging.size_param] = str(paging.size)
        seen_cursors: set[str] = set()
        for page in range(1, self.config.max_pages + 2):
            if page > self.config.max_pages:
                raise ConnectorError(
                    f"dataset {dataset.name!r}: GET {source.path} gave more than "
                    f"{self.config.max_pages} pages for one value; if that is real, raise "
                    "connection.max_pages"
                )
            assert url is not None
            response = self._get(url, source.path, params)
            if response.status_code == 404 and source.not_found_is_empty:
                return
            if response.status_code >= 400:
                raise ConnectorError(
                    f"dataset {dataset.name!r}: GET {source.path} returned {response.status_code}"
                )
            body = self._json(response, source.path)
            rows = self._rows(dataset, source, body)
            yield from rows
            url, params = self._next(paging, response, body, params, rows, seen_cursors)
            if url is None:
                return

    def _rows(self, dataset: DatasetMap, source: HttpSource, body: object) -> list[Row]:
        found = dig(body, source.items)
        if found is None:
            return []
        if isinstance(found, dict):
            return [found]
        if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
            raise ConnectorError(
                f"dataset {dataset.name!r}: GET {source.path} answered no list of objects at "
                f"items {source.items!r}"
            )
        return found

    def _next(
        self,
        paging: Pagination,
        response: httpx.Response,
        body: object,
        params: dict[str, str] | None,
        rows: list[Row],
        seen: set[str],
    ) -> tuple[str | None, dict[str, str] | None]:
        params = params or {}
        path = response.request.url.path
        if paging.type == "page":
            if not rows:
                return None, params
            return path, {**params, paging.param: str(int(params[paging.param]) + 1)}
        if paging.type == "cursor":
            cursor = dig(body, paging.cursor_path)
            if cursor in (None, ""):
                return None, params
            if str(cursor) in seen:
                raise ConnectorError(f"the API sent the same cursor twice ({paging.cursor_path})")
            seen.add(str(cursor))
            return path, {**params, paging.param: str(cursor)}
        if paging.type == "link":
            link = response.links.get("next", {}).get("url")
            if not link:
                return None, None
            target = httpx.URL(link)
            if target.host and target.host != self._client.base_url.host:
                raise ConnectorError("the API's Link header points at another host; not followed")
            if link in seen:
                raise ConnectorError("the API's Link header sent the same next page twice")
            seen.add(link)
            return link, None  # the link carries its own query
        return None, params

    def check(self, datamap: DataMap | None = None) -> list[str]:
        """Reachable, and the credentials accepted (OAuth2: a token is granted)."""
        try:
            if self.config.auth.type == "oauth2":
                self._oauth_token(refresh=True)
                return []
            response = self._send("GET", "/", "/", headers=self._auth_headers())
        except ConnectorError as err:
            return [f"cannot reach {self.base_url}: {err.message}"]
        if response.status_code in (401, 403):
            return [f"{self.base_url} refused the credentials ({response.status_code})"]
        return []

    def close(self) -> None:
        self._client.close()
