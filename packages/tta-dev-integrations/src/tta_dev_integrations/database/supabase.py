"""``SupabasePrimitive``: a Supabase database through its REST API (PostgREST), over httpx.

Every request carries the ``apikey`` header and ``Authorization: Bearer`` (the key, or
a user's access token so row-level security applies to that user). Names are
validated and filter values encoded in :mod:`.postgrest`; PostgREST's JSON errors
become the typed errors of :mod:`.errors`. The key never appears in errors, spans or
reprs.

::

    async with SupabasePrimitive() as db:     # SUPABASE_URL, SUPABASE_KEY
        page = await db.select("todos", ["id", "title"], filters=[("done", "is", False)],
                               order="id.desc", range=(0, 9), count="exact")
        page.data, page.total                 # ten rows, and how many there are in all
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from tta_dev_integrations.database.dsn import lookup_setting
from tta_dev_integrations.database.errors import (
    DatabaseConnectionError,
    QueryTimeoutError,
    SupabaseError,
)
from tta_dev_integrations.database.postgrest import (
    FilterInput,
    check_name,
    checked_rows,
    columns_param,
    count_preference,
    error_from_body,
    filter_params,
    flag,
    non_negative,
    order_param,
    parse_content_range,
    required_filters,
    return_preference,
)
from tta_dev_integrations.database.telemetry import DatabaseTelemetry
from tta_dev_primitives.core.base import WorkflowPrimitive
from tta_dev_primitives.core.context import WorkflowContext

__all__ = ["Count", "Returning", "SupabasePrimitive", "SupabaseResult"]

Count = Literal["exact", "planned", "estimated"]
Returning = Literal["representation", "minimal"]
_SINGLE = "application/vnd.pgrst.object+json"
_OPERATIONS = ("select", "insert", "upsert", "update", "delete", "rpc")


@dataclass(frozen=True, slots=True)
class SupabaseResult:
    """One PostgREST answer.

    ``data`` is the decoded JSON body: a list of rows, one row (``single=True``), an
    RPC's result, or ``None`` (``returning="minimal"``, 204). ``start``/``end`` are
    the rows' positions from ``Content-Range``, ``total`` the count asked for with
    ``count=`` (``None`` when not asked).
    """

    data: Any
    status: int
    start: int | None = None
    end: int | None = None
    total: int | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """``data`` as a list of rows (one row becomes a list of one; nothing, empty)."""
        if self.data is None:
            return []
        if isinstance(self.data, dict):
            return [self.data]
        return list(self.data)


class SupabasePrimitive(WorkflowPrimitive[Mapping[str, Any], SupabaseResult]):
    """Supabase (PostgREST) tables and functions as a workflow step.

    ``url`` (``https://<project>.supabase.co``) and ``key`` default to the
    ``SUPABASE_URL`` and ``SUPABASE_KEY`` settings. ``access_token`` (a user's JWT)
    replaces the key in ``Authorization``. ``schema`` other than ``public`` is sent
    as ``Accept-Profile``/``Content-Profile``. For a bare PostgREST server, pass
    ``rest_path=""``.

    As a step, the input names the operation and its arguments:
    ``{"op": "select", "table": "todos", "filters": {"id": 3}, "single": True}``.
    A ``select`` whose connection broke is sent once more; writes never are.
    """

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        access_token: str | None = None,
        schema: str = "public",
        rest_path: str = "/rest/v1",
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        name: str | None = None,
    ) -> None:
        base = url if url is not None else lookup_setting("SUPABASE_URL")
        secret = key if key is not None else lookup_setting("SUPABASE_KEY")
        if not base or not secret:
            missing = [n for n, v in (("SUPABASE_URL", base), ("SUPABASE_KEY", secret)) if not v]
            raise ValueError(
                f"SupabasePrimitive needs {' and '.join(missing)}: pass url=/key= or set "
                "them (the project URL and its anon or service-role key, from the "
                "Supabase dashboard's API settings)"
            )
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"SUPABASE_URL must be an http(s) URL, got {base[:80]!r}")
        self.url = base.rstrip("/")
        rest = self.url if self.url.endswith(rest_path) else self.url + rest_path
        self.rest_url = rest.rstrip("/")
        self.schema = check_name(schema, "schema")
        self.timeout_s = timeout_s
        self._key = secret
        self._token = access_token or secret
        self._client = client
        self._own_client = client is None
        if name:
            self.name = name
        attributes: dict[str, str | int] = {"server.address": parts.hostname}
        if parts.port is not None:
            attributes["server.port"] = parts.port
        # PostgREST in front of PostgreSQL: the conventions' system is PostgreSQL.
        self._telemetry = DatabaseTelemetry(
            "supabase", self.schema, attributes, span_system="postgresql"
        )

    def __repr__(self) -> str:
        return f"SupabasePrimitive({self.url!r})"

    # -- lifecycle --------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (unless it was passed in); idempotent."""
        client, self._client = self._client, None
        if client is not None and self._own_client:
            await client.aclose()

    async def __aenter__(self) -> SupabasePrimitive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- as a workflow step -----------------------------------------------------------

    async def _execute_impl(
        self, input_data: Mapping[str, Any], context: WorkflowContext
    ) -> SupabaseResult:
        arguments = dict(input_data)
        op = arguments.pop("op", None)
        if op not in _OPERATIONS:
            raise ValueError(
                f"a Supabase request needs 'op', one of {list(_OPERATIONS)}; got {op!r}"
            )
        method: Callable[..., Awaitable[SupabaseResult]] = getattr(self, op)
        return await method(**arguments)

    # -- operations -------------------------------------------------------------------

    async def select(
        self,
        table: str,
        columns: str | Sequence[str] = "*",
        *,
        filters: FilterInput | Sequence[FilterInput] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        range: tuple[int, int] | None = None,
        count: Count | None = None,
        single: bool = False,
    ) -> SupabaseResult:
        """Rows of ``table`` (``GET``); ``single=True`` wants exactly one row.

        ``single`` raises :class:`NotFoundError` when no row matches. ``range=(0, 9)``
        is sent as ``Range: 0-9``; ``limit``/``offset`` as query parameters.
        """
        params: list[tuple[str, str]] = [("select", columns_param(columns))]
        params += filter_params(filters)
        if order is not None:
            params.append(("order", order_param(order)))
        for label, number in (("limit", limit), ("offset", offset)):
            if number is not None:
                params.append((label, str(non_negative(number, label))))
        headers: dict[str, str] = {}
        if range is not None:
            start, end = range
            if non_negative(start, "range start") > non_negative(end, "range end"):
                raise ValueError(f"range start must not be after its end, got {range}")
            headers.update({"Range-Unit": "items", "Range": f"{start}-{end}"})
        prefer = [count_preference(count)] if count is not None else []
        if flag(single, "single"):
            headers["Accept"] = _SINGLE
        return await self._send(
            "GET", table, "SELECT", params=params, headers=headers, prefer=prefer, retry=True
        )

    async def insert(
        self,
        table: str,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        returning: Returning = "representation",
    ) -> SupabaseResult:
        """Insert one row or many (one statement); the rows back unless ``"minimal"``."""
        return await self._send(
            "POST", table, "INSERT", body=checked_rows(rows), prefer=[return_preference(returning)]
        )

    async def upsert(
        self,
        table: str,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        on_conflict: str | Sequence[str] | None = None,
        ignore_duplicates: bool = False,
        returning: Returning = "representation",
    ) -> SupabaseResult:
        """Insert, or update the rows whose key (or ``on_conflict`` columns) exists."""
        params = []
        if on_conflict is not None:
            params.append(("on_conflict", columns_param(on_conflict, star=False)))
        ignore = flag(ignore_duplicates, "ignore_duplicates")
        resolution = "ignore-duplicates" if ignore else "merge-duplicates"
        return await self._send(
            "POST",
            table,
            "UPSERT",
            params=params,
            body=checked_rows(rows),
            prefer=[f"resolution={resolution}", return_preference(returning)],
        )

    async def update(
        self,
        table: str,
        values: Mapping[str, Any],
        *,
        filters: FilterInput | Sequence[FilterInput] | None = None,
        all_rows: bool = False,
        returning: Returning = "representation",
    ) -> SupabaseResult:
        """Set ``values`` on the rows matching ``filters`` (``PATCH``).

        Without filters it refuses, unless ``all_rows=True``: an update of every row
        is rarely what an agent meant.
        """
        params = required_filters(filters, all_rows, "update")
        body = checked_rows(values)
        return await self._send(
            "PATCH",
            table,
            "UPDATE",
            params=params,
            body=body,
            prefer=[return_preference(returning)],
        )

    async def delete(
        self,
        table: str,
        *,
        filters: FilterInput | Sequence[FilterInput] | None = None,
        all_rows: bool = False,
        returning: Returning = "representation",
    ) -> SupabaseResult:
        """Delete the rows matching ``filters``; refuses none unless ``all_rows=True``."""
        params = required_filters(filters, all_rows, "delete")
        return await self._send(
            "DELETE", table, "DELETE", params=params, prefer=[return_preference(returning)]
        )

    async def rpc(self, function: str, args: Mapping[str, Any] | None = None) -> SupabaseResult:
        """Call a database function (``POST /rpc/<function>``) with named arguments."""
        check_name(function, "function")
        body = dict(args or {})
        for argument in body:
            check_name(argument, "argument")
        return await self._send("POST", f"rpc/{function}", "RPC", body=body)

    # -- the wire -----------------------------------------------------------------------

    def _headers(self, prefer: list[str], method: str) -> dict[str, str]:
        headers = {"apikey": self._key, "Authorization": f"Bearer {self._token}"}
        if prefer:
            headers["Prefer"] = ",".join(prefer)
        if self.schema != "public":
            headers["Accept-Profile" if method == "GET" else "Content-Profile"] = self.schema
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        prefer: list[str] | None = None,
        retry: bool = False,
    ) -> SupabaseResult:
        table = path.removeprefix("rpc/") if operation == "RPC" else check_name(path, "table")
        request_headers = {**self._headers(prefer or [], method), **(headers or {})}
        target = "db.stored_procedure.name" if operation == "RPC" else "db.collection.name"
        extra = {target: table, "http.request.method": method}

        async def call() -> SupabaseResult:
            response = await self._transmit(
                method, path=path, params=params, headers=request_headers, body=body, retry=retry
            )
            return self._result(response, f"{operation.lower()} on {table!r}")

        return await self._telemetry.observe(operation, call, extra=extra)

    async def _transmit(
        self,
        method: str,
        *,
        path: str,
        params: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: Any,
        retry: bool,
    ) -> httpx.Response:
        url = f"{self.rest_url}/{path}"
        attempts = 2 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._http().request(
                    method, url, params=list(params), headers=dict(headers), json=body
                )
            except httpx.TimeoutException as error:
                raise QueryTimeoutError(
                    f"Supabase at {self.url} did not answer within {self.timeout_s} s "
                    f"({type(error).__name__})"
                ) from None
            except httpx.TransportError as error:
                if attempt < attempts:
                    # A dropped connection is re-sent once, at once, and only for reads:
                    # the pool opens a fresh connection; there is nothing to wait for.
                    self._telemetry.count_retry()
                    continue
                raise DatabaseConnectionError(
                    f"cannot reach Supabase at {self.url} ({type(error).__name__}: {error}); "
                    "check SUPABASE_URL and the network",
                    connection_lost=not isinstance(error, httpx.ConnectError),
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _result(response: httpx.Response, what: str) -> SupabaseResult:
        status = response.status_code
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                if status >= 400:
                    raise SupabaseError(
                        f"Supabase {what}: HTTP {status} with a non-JSON body "
                        f"({response.text[:200]!r})",
                        status=status,
                    ) from None
                raise SupabaseError(
                    f"Supabase {what}: the answer is not JSON ({response.text[:200]!r})",
                    status=status,
                ) from None
        if status >= 400:
            raise error_from_body(status, body, what)
        found = parse_content_range(response.headers.get("content-range"))
        return SupabaseResult(body, status, found.start, found.end, found.total)
