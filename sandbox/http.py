"""The HTTP harness both sandbox CRMs run on: a threaded loopback server, faults, a request log.

A sandbox is a WSGI application (the vendor-specific part) wrapped in two middlewares and served
by Werkzeug's threaded server in a background thread of the current process::

    client ──▶ RequestLogMiddleware ──▶ FaultMiddleware ──▶ vendor app
                (counts every call by    (latency, 429s, 5xx,
                 endpoint + status)       hangs, dropped connections)

Why these pieces live here: tests and benchmarks need the same knobs for both CRMs (start on a
free port, trust a TLS certificate, inject faults deterministically by seed, count calls by
endpoint), and the vendor apps should only have to speak their API.

The vendor app names the endpoint it served by setting ``environ[ENDPOINT_KEY]`` to
``"<METHOD> <route template>"`` (e.g. ``"POST /crm/v3/objects/{objectType}/search"``); the
request log counts by that name. A request the fault middleware answers before the app sees it is
counted under the name ``endpoint_of(environ)`` gives, when the server was given such a function
(:class:`Router` provides one), else under ``"<METHOD> <path>"``.

Werkzeug's server closes the connection after every response (no keep-alive); clients reconnect,
which costs a TCP (and TLS) handshake per request but keeps the server simple and robust.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import random
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = [
    "ENDPOINT_KEY",
    "DailyQuota",
    "FaultConfig",
    "FaultMiddleware",
    "RateDecision",
    "RequestLog",
    "RequestLogMiddleware",
    "RollingWindowLimiter",
    "Router",
    "SandboxServer",
    "WSGIApp",
    "correlation_id",
    "json_response",
]

log = logging.getLogger(__name__)

#: WSGI environ key where a vendor app records the endpoint (method + route template) it served.
ENDPOINT_KEY = "sandbox.endpoint"

StartResponse = Callable[..., Any]


class WSGIApp(Protocol):
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        ...


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response with the content type every CRM API uses."""
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json;charset=utf-8",
    )


# --------------------------------------------------------------------------------------------
# Faults


@dataclass
class FaultConfig:
    """What can go wrong, and how often. Fractions are probabilities per request (0..1).

    The dice are rolled from one RNG seeded by ``seed``, so a single-threaded client sees the
    same faults on every run. ``exempt_paths`` are path prefixes never faulted (e.g. a login
    endpoint a test wants to keep reliable).
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_timeout: float = 0.0
    rate_drop: float = 0.0
    rate_lost: float = 0.0  # the request is carried out, then the connection drops: the answer is lost
    hang_seconds: float = 30.0
    seed: int = 0
    exempt_paths: tuple[str, ...] = ()
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    #: the faults drawn so far, by name: what a test can check really happened
    fired: collections.Counter[str] = field(init=False, repr=False, compare=False,
                                            default_factory=collections.Counter)

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx", "rate_timeout", "rate_drop", "rate_lost"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultConfig.{name} must be between 0 and 1, got {value!r}")
        if self.rate_429 + self.rate_5xx + self.rate_timeout + self.rate_drop + self.rate_lost > 1.0:
            raise ValueError("FaultConfig: the fault rates add up to more than 1")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0 or self.hang_seconds < 0:
            raise ValueError(
                "FaultConfig: latency_ms, latency_jitter_ms and hang_seconds must be >= 0"
            )
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms or self.latency_jitter_ms or self.rate_429 or self.rate_5xx
            or self.rate_timeout or self.rate_drop or self.rate_lost
        )

    def draw(self) -> tuple[float, str | None]:
        """Roll for one request: (latency in seconds, fault or None).

        The fault is one of ``"429"``, ``"5xx"``, ``"timeout"``, ``"drop"``, ``"lost"``.
        """
        with self._lock:
            latency = self.latency_ms
            if self.latency_jitter_ms:
                latency += self._rng.uniform(0.0, self.latency_jitter_ms)
            roll = self._rng.random()
        fault: str | None = None
        edge = 0.0
        for name, rate in (("429", self.rate_429), ("5xx", self.rate_5xx),
                           ("timeout", self.rate_timeout), ("drop", self.rate_drop),
                           ("lost", self.rate_lost)):
            edge += rate
            if roll < edge:
                fault = name
                with self._lock:
                    self.fired[name] += 1
                break
        return latency / 1000.0, fault


def _default_429(request: Request) -> Response:
    body = {"message": "Too many requests (injected fault)"}
    return json_response(body, 429, {"Retry-After": "1"})


def _default_5xx(request: Request) -> Response:
    return json_response({"message": "Service unavailable (injected fault)"}, 503)


class FaultMiddleware:
    """Applies a :class:`FaultConfig` in front of a WSGI app.

    ``on_429`` / ``on_5xx`` build the vendor's own error response, so an injected 429 looks like
    the CRM's. A *timeout* holds the request for ``hang_seconds`` (or until the server stops) and
    then drops the connection; a *drop* closes the socket without answering; a *lost* answer is
    the worst case for a client: the app carries the request out (a record is created), then the
    socket is closed before the answer is sent, so the client cannot tell it happened.
    """

    def __init__(
        self,
        app: WSGIApp,
        faults: FaultConfig,
        stopping: threading.Event,
        on_429: Callable[[Request], Response] = _default_429,
        on_5xx: Callable[[Request], Response] = _default_5xx,
    ) -> None:
        self.app = app
        self.faults = faults
        self.stopping = stopping
        self.on_429 = on_429
        self.on_5xx = on_5xx

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        faults = self.faults
        path = environ.get("PATH_INFO", "")
        if not faults.active or any(path.startswith(p) for p in faults.exempt_paths):
            return self.app(environ, start_response)
        latency, fault = faults.draw()
        if latency:
            self.stopping.wait(latency)
        if fault == "429":
            environ["sandbox.fault"] = fault
            return self.on_429(Request(environ))(environ, start_response)
        if fault == "5xx":
            environ["sandbox.fault"] = fault
            return self.on_5xx(Request(environ))(environ, start_response)
        if fault == "lost":
            environ["sandbox.fault"] = fault
            body = self.app(environ, lambda status, headers, exc_info=None: lambda data: None)
            for _ in body:  # the app has done its work once its body is read
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
            _drop_connection(environ)
            return []
        if fault in ("timeout", "drop"):
            environ["sandbox.fault"] = fault
            if fault == "timeout":
                self.stopping.wait(faults.hang_seconds)
            _drop_connection(environ)
            return []
        return self.app(environ, start_response)


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket so it sees a reset / closed connection with no response."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# Request log


class RequestLog:
    """Thread-safe counts of calls by endpoint (``"<METHOD> <route template>"``) and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: collections.Counter[str] = collections.Counter()
        self._by_status: collections.Counter[tuple[str, int]] = collections.Counter()

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._by_endpoint[endpoint] += 1
            self._by_status[(endpoint, status)] += 1

    def counts(self) -> dict[str, int]:
        """A snapshot: endpoint → number of calls (any status, faulted ones included)."""
        with self._lock:
            return dict(self._by_endpoint)

    def status_counts(self) -> dict[tuple[str, int], int]:
        """A snapshot: (endpoint, HTTP status) → number of calls; status 0 = connection dropped."""
        with self._lock:
            return dict(self._by_status)

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """Calls to one endpoint (or all), optionally only those answered with ``status``."""
        with self._lock:
            return sum(
                n for (ep, st), n in self._by_status.items()
                if (endpoint is None or ep == endpoint) and (status is None or st == status)
            )

    def total(self) -> int:
        with self._lock:
            return sum(self._by_endpoint.values())

    def reset(self) -> dict[str, int]:
        """Clear the counts; returns what they were."""
        with self._lock:
            before = dict(self._by_endpoint)
            self._by_endpoint.clear()
            self._by_status.clear()
            return before


class RequestLogMiddleware:
    """Counts every request in a :class:`RequestLog` under the endpoint the app reports."""

    def __init__(
        self,
        app: WSGIApp,
        log: RequestLog,
        endpoint_of: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        self.app = app
        self.log = log
        self.endpoint_of = endpoint_of

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status_seen: list[int] = []

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_seen.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            endpoint = environ.get(ENDPOINT_KEY)
            if endpoint is None and self.endpoint_of is not None:
                endpoint = self.endpoint_of(environ)
            if endpoint is None:
                endpoint = f"{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '')}"
            self.log.record(endpoint, status_seen[-1] if status_seen else 0)


# --------------------------------------------------------------------------------------------
# Routing


class Router:
    """Method + path-template routing on Werkzeug's ``Map``, naming endpoints for the log.

    Templates use Werkzeug rule syntax (``/crm/v3/objects/<objectType>/<objectId>``); the log
    name is the method plus the template with ``{name}`` placeholders.
    """

    def __init__(self) -> None:
        self._map = Map(strict_slashes=False, merge_slashes=False)
        self._handlers: dict[str, Callable[..., Response]] = {}

    def add(self, method: str, template: str, handler: Callable[..., Response]) -> str:
        """Register a route; returns its endpoint name (``"GET /x/{id}"``)."""
        name = f"{method} {_braces(template)}"
        self._map.add(Rule(template, endpoint=name, methods=[method]))
        self._handlers[name] = handler
        return name

    def match(self, environ: dict[str, Any]) -> tuple[str, Callable[..., Response], dict[str, Any]]:
        """(endpoint name, handler, path args); raises NotFound / MethodNotAllowed."""
        adapter = self._map.bind_to_environ(environ)
        name, args = adapter.match()
        return str(name), self._handlers[str(name)], dict(args)

    def endpoint_of(self, environ: dict[str, Any]) -> str | None:
        try:
            return self.match(environ)[0]
        except (NotFound, MethodNotAllowed, HTTPException):
            return None


def _braces(template: str) -> str:
    out, i = [], 0
    while i < len(template):
        if template[i] == "<":
            j = template.index(">", i)
            out.append("{" + template[i + 1:j].split(":")[-1] + "}")
            i = j + 1
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Rate limits


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # seconds until a slot frees up (0 when allowed)


class RollingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds (a sliding log of timestamps).

    ``clock`` is injectable so tests can move time. Thread-safe.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        if limit <= 0 or window <= 0:
            raise ValueError(
                f"RollingWindowLimiter needs limit > 0 and window > 0, got {limit}, {window}"
            )
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> RateDecision:
        with self._lock:
            now = self._clock()
            hits = self._hits
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return RateDecision(False, self.limit, 0, max(0.0, hits[0] + self.window - now))
            hits.append(now)
            return RateDecision(True, self.limit, self.limit - len(hits), 0.0)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class DailyQuota:
    """A plain counter against a daily total (the sandbox's "day" is the server's lifetime
    unless :meth:`reset` is called)."""

    def __init__(self, total: int) -> None:
        if total <= 0:
            raise ValueError(f"DailyQuota needs total > 0, got {total}")
        self.total = total
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Count one request; False (and nothing counted) when the quota is spent."""
        with self._lock:
            if self.used >= self.total:
                return False
            self.used += 1
            return True

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.used)

    def reset(self, used: int = 0) -> None:
        with self._lock:
            self.used = used


# --------------------------------------------------------------------------------------------
# Server


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its per-request access log on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug("%s: " + message.rstrip(), type, *args)


class SandboxServer:
    """A vendor WSGI app served on loopback in a background thread, with faults and a log.

    ``start()`` binds (``port=0`` picks a free port) and returns self; ``stop()`` shuts down,
    releasing requests held by timeout faults. With ``tls=True`` it serves HTTPS with a
    certificate for ``127.0.0.1``/``localhost`` (plus ``tls_hostnames``) signed by a fresh CA,
    whose PEM file is :attr:`ca_pem` (pass it as ``verify=`` / ``REQUESTS_CA_BUNDLE``).

    ``credentials`` are merged into :meth:`connection_info`; subclasses may override it.
    Mutating :attr:`faults`' fields at run time takes effect on the next request; assign a new
    :class:`FaultConfig` with :meth:`set_faults`.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        faults: FaultConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        tls_hostnames: Iterable[str] = (),
        credentials: Mapping[str, Any] | None = None,
        endpoint_of: Callable[[dict[str, Any]], str | None] | None = None,
        on_429: Callable[[Request], Response] = _default_429,
        on_5xx: Callable[[Request], Response] = _default_5xx,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_hostnames = tuple(tls_hostnames)
        self.credentials = dict(credentials or {})
        self.log = RequestLog()
        self._stopping = threading.Event()
        self._faults = FaultMiddleware(app, faults or FaultConfig(), self._stopping, on_429, on_5xx)
        self._wsgi = RequestLogMiddleware(self._faults, self.log, endpoint_of)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_pem: str | None = None
        self.url = ""

    @property
    def faults(self) -> FaultConfig:
        return self._faults.faults

    def set_faults(self, faults: FaultConfig) -> None:
        self._faults.faults = faults

    def start(self) -> SandboxServer:
        if self._server is not None:
            raise RuntimeError(f"sandbox server already running at {self.url}")
        ssl_context = self._make_tls() if self.tls else None
        self._stopping.clear()
        server = make_server(
            self.host, self.port, self._wsgi, threaded=True,
            request_handler=_QuietHandler, ssl_context=ssl_context,
        )
        self._server = server
        self.port = server.port
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def _make_tls(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", *self.tls_hostnames)
        self._tmp = tempfile.TemporaryDirectory(prefix="leadscore-sandbox-")
        ca_path = Path(self._tmp.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        self.ca_pem = str(ca_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        return context

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.ca_pem = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def connection_info(self) -> dict[str, Any]:
        """What a client needs to connect: ``base_url``, ``ca_cert`` (or None) and credentials."""
        return {"base_url": self.url, "ca_cert": self.ca_pem, **self.credentials}

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def correlation_id() -> str:
    """A fresh id of the kind CRMs put in error bodies so support can find the request."""
    return str(uuid.uuid4())
