"""Prometheus metrics: counters at the pipeline's chokepoints, gauges read from the database.

Counters and the poll histogram count what *this process* did, the Prometheus norm: with
several workers, sum them across instances (``sum by (source) (rate(...[5m]))``).
Gauges that describe shared state (the outbox, cases, SLA breaches, source failures) are
read from the database at scrape time through ``monitor.status.collect``, the reader
behind ``inchannel status``, so every worker and the dashboard report the same numbers.

Each Runtime owns a ``Metrics`` with its own ``CollectorRegistry`` rather than
prometheus_client's global one: two runtimes in one process (the tests, a backfill next
to the dashboard) never add into each other's counts.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import timedelta
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.domain import ActionKind, ActionStatus, CaseState, Decision, Platform
from monitor.hostnames import host_header_name, loopback, named_as_local

if TYPE_CHECKING:
    from collections.abc import Iterable as WSGIBody
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from monitor.runtime import Runtime
    from monitor.status import Status

log = logging.getLogger("inchannel.metrics")

# A poll is one HTTP round trip plus parsing at best; at worst an X sweep reads pages for
# 30 s and then a page and its thread context, each up to twice x.timeout_seconds
# (connect, then read): 70 s at the defaults (x_settings.longest_poll_seconds). A Reddit
# read that times out takes up to 32 s. Buckets to 120 s, so timeouts and slow sweeps are
# told apart instead of all landing in +Inf (histogram_quantile answered 30 for them).
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
DECISION_TYPES = ("reply", "draft", "escalate", "ignore", "none")
ACTION_OUTCOMES = (ActionStatus.SENT.value, ActionStatus.FAILED.value, ActionStatus.DEAD.value)
SLA_KINDS = ("warning", "breached")
SEND_ERROR_REASONS = ("rate_limited", "temporary", "permanent")
# A failed poll is timed too: a timeout or a slow error is where latency hurts, and
# left out it hid behind fast successes. Apart, so a success's quantile stays its own.
POLL_OUTCOMES = ("ok", "failed")
# What became of a message that failed its processing batch alone (monitor.processing).
# brand_post: the brand's own post (or one with no customer) given up on, linked to its
# thread or closed; it needs no answer, so it is no customer nobody sees (no_case).
UNDECIDED_OUTCOMES = ("set_aside", "failed_together", "handed_over", "no_case", "brand_post")


def decision_types(decision: Decision) -> list[str]:
    """The label values one decision counts under: reply, draft, escalate, ignore or none.

    A decision that replies and escalates counts once under each; ``none`` is a decision
    with neither (it may still tag or set a priority)."""
    if decision.ignored:
        return ["ignore"]
    types = []
    if decision.reply is not None:
        types.append("draft" if decision.reply.draft else "reply")
    if decision.escalation is not None:
        types.append("escalate")
    return types or ["none"]


class Metrics:
    """This process's counters; the core calls the small methods below, one line each."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._state: StateCollector | None = None
        # This host's clock less the database server's, as the health job last measured
        # it (monitor.clock_skew); None until then, and always on SQLite.
        self.clock_skew: float | None = None
        r = self.registry
        self.mentions = Counter(
            "inchannel_mentions_ingested", "New messages stored", ["source"], registry=r
        )
        self.polls = Histogram(
            "inchannel_poll_duration_seconds",
            "Duration of polls by outcome (ok, failed)",
            ["source", "outcome"],
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.source_errors = Counter(
            "inchannel_source_errors",
            "Failed polls, and failed listing reads of polls that succeeded, by kind",
            ["source", "kind"],
            registry=r,
        )
        self.decisions = Counter(
            "inchannel_decisions", "Rule decisions by type", ["type"], registry=r
        )
        self.actions = Counter(
            "inchannel_actions", "Outbox send outcomes", ["kind", "outcome"], registry=r
        )
        self.send_errors = Counter(
            "inchannel_send_errors",
            "Failed sends by action kind and reason",
            ["kind", "reason"],
            registry=r,
        )
        self.sla_alerts = Counter(
            "inchannel_sla_alerts", "SLA warnings and breaches raised", ["kind"], registry=r
        )
        self.undecided_messages = Counter(
            "inchannel_undecided_messages",
            "Messages that failed processing: set aside, failed together, handed over, no case, "
            "brand post",
            ["outcome"],
            registry=r,
        )

    def polled(self, source: str, *, new: int, seconds: float) -> None:
        self.mentions.labels(source).inc(new)
        self.polls.labels(source, "ok").observe(seconds)

    def poll_failed(self, source: str, kind: str, *, seconds: float, new: int = 0) -> None:
        """``new``: what a poll that failed part way stored of the part it read."""
        self.mentions.labels(source).inc(new)
        self.source_errors.labels(source, kind).inc()
        self.polls.labels(source, "failed").observe(seconds)

    def read_failed(self, source: str, kind: str) -> None:
        """A read that failed in a poll that succeeded (one Reddit listing of several)."""
        self.source_errors.labels(source, kind).inc()

    def decided(self, decision: Decision) -> None:
        for kind in decision_types(decision):
            self.decisions.labels(kind).inc()

    def action(self, kind: str, outcome: str) -> None:
        self.actions.labels(kind, outcome).inc()

    def send_failed(self, kind: str, reason: str) -> None:
        self.send_errors.labels(kind, reason).inc()

    def sla_alert(self, kind: str) -> None:
        self.sla_alerts.labels(kind).inc()

    def undecided(self, outcome: str) -> None:
        self.undecided_messages.labels(outcome).inc()

    def clock_measured(self, offset: float) -> None:
        self.clock_skew = offset

    def watch(self, rt: Runtime) -> CollectorRegistry:
        """The registry to expose, with the database gauges of ``rt`` added (once)."""
        if self._state is None:
            self._state = StateCollector(rt)
            self.registry.register(self._state)
            self.registry.register(ClockCollector(self, rt.clock_skewed))
            self._start_at_zero(rt.sources)
        return self.registry

    def _start_at_zero(self, sources: Iterable[str]) -> None:
        """Expose every bounded series from the start: one that first appears at 1 is
        invisible to rate() and increase(), so the first dead reply after a restart would
        fire no alert. Poll error kinds are left out: they are many, and each source's own."""
        for source in sources:
            self.mentions.labels(source)
            for outcome in POLL_OUTCOMES:
                self.polls.labels(source, outcome)
        for kind in DECISION_TYPES:
            self.decisions.labels(kind)
        for action_kind in ActionKind:
            for outcome in ACTION_OUTCOMES:
                self.actions.labels(action_kind.value, outcome)
            for reason in SEND_ERROR_REASONS:
                self.send_errors.labels(action_kind.value, reason)
        for sla_kind in SLA_KINDS:
            self.sla_alerts.labels(sla_kind)
        for outcome in UNDECIDED_OUTCOMES:
            self.undecided_messages.labels(outcome)


class ClockCollector:
    """This worker's clock against the database server's, and whether that pauses it
    (monitor.clock_skew): facts of this process, not of the shared database, so they are
    read without it. A paused worker showed only as ``inchannel_healthy`` 0, like any
    problem of any worker, and the skew itself nowhere."""

    def __init__(self, metrics: Metrics, paused: threading.Event) -> None:
        self.metrics, self.paused = metrics, paused

    def collect(self) -> Iterator[Metric]:
        skew = GaugeMetricFamily(
            "inchannel_clock_skew_seconds",
            "This host's clock less the database server's, as last measured (absent until "
            "measured, and on SQLite)",
        )
        # Absent rather than 0 until measured: 0 would claim the clocks agree.
        if self.metrics.clock_skew is not None:
            skew.add_metric([], self.metrics.clock_skew)
        yield skew
        yield GaugeMetricFamily(
            "inchannel_clock_skew_paused",
            "1 while this worker takes no source lease and claims no work, its clock skewed",
            value=int(self.paused.is_set()),
        )


class StateCollector:
    """Gauges read from the database at scrape time; ``inchannel_database_up`` 0 when the
    read fails, so a scrape still answers while the database is away."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        # Scraped every 15 s or so: an outage logs its traceback once, then one line a
        # scrape, and its end.
        self._failing = False

    def collect(self) -> Iterator[Metric]:
        from monitor.status import collect, limits_from

        up = GaugeMetricFamily("inchannel_database_up", "1 if the state gauges could be read")
        try:
            status = collect(self.rt)
        except Exception as exc:  # a scrape must not fail with the database (DESIGN rule 6)
            self._failed(exc)
            up.add_metric([], 0)
            yield up
            return
        if self._failing:
            self._failing = False
            log.info("metrics: the state can be read again")
        up.add_metric([], 1)
        yield up
        limits = limits_from(self.rt.settings)
        yield from state_families(status, limits.stale_after, replying=limits.replying)

    def _failed(self, exc: Exception) -> None:
        if self._failing:
            log.warning("metrics: reading the state still failing (%s)", type(exc).__name__)
            return
        self._failing = True
        log.exception("metrics: reading the state from the database failed")


def state_families(
    status: Status,
    stale: Mapping[str, timedelta],
    *,
    replying: Collection[str] = frozenset(Platform),
) -> Iterator[Metric]:
    outbox = GaugeMetricFamily(
        "inchannel_outbox_actions", "Outbox actions by status", labels=["status"]
    )
    for action_status in ActionStatus:
        outbox.add_metric([action_status.value], status.outbox.get(action_status.value, 0))
    yield outbox
    # By status, `failed` mixes sends backing off after failures (a channel outage) with
    # replies a rate limit's reset holds (the dispatcher doing its job): an alert on it
    # paged about either. These split them as the "outbox backing up" alert does.
    yield GaugeMetricFamily(
        "inchannel_outbox_backlog",
        "Actions due or backing off after failed sends, and stale claims of a dead worker",
        value=status.outbox_backlog,
    )
    yield GaugeMetricFamily(
        "inchannel_outbox_held",
        "Pending and failed actions held for a reset the platform named",
        value=status.outbox_held,
    )
    yield GaugeMetricFamily(
        "inchannel_outbox_oldest_due_seconds",
        "Seconds the oldest due action has been due (0 when none is due)",
        value=oldest_due_seconds(status),
    )
    by_state = GaugeMetricFamily("inchannel_cases", "Cases by state", labels=["state"])
    for state in CaseState:
        by_state.add_metric([state.value], status.cases.get(state.value, 0))
    yield by_state
    yield GaugeMetricFamily(
        "inchannel_sla_breached_open_cases",
        "Open cases whose response SLA (first or next) is breached",
        value=status.sla_breaches_open,
    )
    failures = GaugeMetricFamily(
        "inchannel_source_consecutive_failures",
        "Failed polls in a row, per source",
        labels=["source"],
    )
    last_success = GaugeMetricFamily(
        "inchannel_source_last_success_timestamp_seconds",
        "Unix time of the last successful poll, per source",
        labels=["source"],
    )
    from monitor.status import counted_since, polled_lately  # status imports the runtime

    failing_since = GaugeMetricFamily(
        "inchannel_source_failing_since_timestamp_seconds",
        "Unix time the source's current run of failed polls began to count (absent when "
        "its last poll succeeded)",
        labels=["source"],
    )
    for source in status.sources:
        if not source.configured:
            continue
        failures.add_metric([source.name], source.consecutive_failures)
        if source.last_success_at is not None:
            last_success.add_metric([source.name], source.last_success_at.timestamp())
        since = counted_since(source)
        # As status and the alert count it: failing while polled, not through downtime.
        if since is not None and polled_lately(source, stale.get(source.name), status.at):
            failing_since.add_metric([source.name], since.timestamp())
    yield failures
    yield last_success
    yield failing_since
    yield reply_failures(status, replying)
    yield GaugeMetricFamily(
        "inchannel_healthy", "1 if inchannel status reports healthy", value=int(status.healthy)
    )


def reply_failures(status: Status, in_use: Collection[str]) -> GaugeMetricFamily:
    """Each platform's run of refused replies (monitor.reply_health), its ``@replies:``
    row being no source: only ``inchannel_healthy`` told of it, not which platform.
    Every platform from the start, at 0 while none fails (no row is written until one
    does), so a rule on it sees the first run begin; 0 too for a platform no longer in
    use, whose run nothing would end (reply_health.platforms_in_use)."""
    from monitor import reply_health  # it imports the ingest, which imports the runtime

    family = GaugeMetricFamily(
        "inchannel_reply_consecutive_failures",
        "Replies refused in a row with none posted since, per platform",
        labels=["platform"],
    )
    runs = {reply_health.platform_of(s.name): s.consecutive_failures for s in status.sources}
    for platform in Platform:
        run = runs.get(platform.value, 0) if platform.value in in_use else 0
        family.add_metric([platform.value], run)
    return family


def oldest_due_seconds(status: Status) -> float:
    """The "outbox backing up" alert's other half (alerts.outbox_due_minutes), as a
    duration rather than a timestamp: the earliest next attempt is often ahead (a
    backoff, a reset), and Prometheus would need the same clamp to read it."""
    if status.oldest_due_at is None:
        return 0.0
    return max(0.0, (status.at - status.oldest_due_at).total_seconds())


def cannot_bind_reason(exc: OSError, *, when_taken: str) -> str:
    """Why a listener's socket could not be bound, without the address (the caller names
    it): shared by ``metrics.port`` and the dashboard. ``when_taken`` follows, in
    brackets, only when the port is in use: a bad host or a port below 1024 is no other
    program's doing."""
    hint = f" ({when_taken})" if exc.errno == errno.EADDRINUSE else ""
    # A getaddrinfo code is no errno: macOS and the BSDs number them from 1 (EAI_NONAME
    # is 8, which os.strerror reads as "Exec format error"), glibc below zero.
    if not isinstance(exc, socket.gaierror) and exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno) + hint
    # A host that does not resolve carries a negative getaddrinfo code, which os.strerror
    # reads as "Unknown error -2": its own text says what failed. socket.create_server
    # adds the address it tried to that text, which would name it twice.
    text = exc.strerror or str(exc)
    return text.split(" (while attempting to bind on address", 1)[0] + hint


# The metrics.port listener serves this many connections at once and closes the others
# as they come: prometheus_client's server started a thread per connection, with no
# bound, and it has no authentication. Room for a scraper or two and a person's curl.
SCRAPES_AT_ONCE = 4
# A scraper sends its request at once and reads a few kilobytes: a connection silent
# this long is dropped, and its place freed (none was, and one sending nothing held its
# thread for ever).
SCRAPE_TIMEOUT_SECONDS = 10.0


class _ScrapeHandler(WSGIRequestHandler):
    timeout = SCRAPE_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing: a line on stderr per scrape."""


class _MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        self._places = threading.BoundedSemaphore(SCRAPES_AT_ONCE)
        super().__init__(address, _ScrapeHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._places.acquire(blocking=False):
            self.shutdown_request(request)  # the scraper records a failed scrape
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._places.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._places.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went silent or away; the base printed a traceback on stderr.
        log.debug("metrics: a connection from %s failed", client_address, exc_info=True)


def _one_at_a_time(app: WSGIApplication) -> WSGIApplication:
    """Reads the database gauges for one scrape at a time: the pool counts one
    connection for a metrics scrape (monitor.runtime.OTHER_THREADS)."""
    lock = threading.Lock()

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> WSGIBody[bytes]:
        with lock:
            return app(environ, start_response)

    return serve


def _named_as_local(host: str, app: WSGIApplication) -> WSGIApplication:
    """Answers a loopback client only when it names the listener by an IP address,
    localhost or ``host`` (metrics.host): a web page in a browser on this host, its own
    name re-pointed at 127.0.0.1 (DNS rebinding), read the metrics otherwise. A client
    on another interface (a scraper on the private network) may use any name."""
    configured = (f"http://{host}",)

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> WSGIBody[bytes]:
        named = host_header_name(str(environ.get("HTTP_HOST", "")))
        if loopback(str(environ.get("REMOTE_ADDR", ""))) and not named_as_local(named, configured):
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [_NOT_NAMED]
        return app(environ, start_response)

    return serve


_NOT_NAMED = (
    b"metrics: a local client must address this listener by IP address, localhost or metrics.host\n"
)


def _listen(host: str, port: int, registry: CollectorRegistry) -> _MetricsServer:
    # The address family of the host as given (an IPv6 address, a name), as
    # prometheus_client's start_http_server finds it.
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    server = _MetricsServer((str(address[0]), port), family)
    server.set_app(_named_as_local(host, _one_at_a_time(make_wsgi_app(registry))))
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


class CannotServeMetrics(Exception):
    """The ``metrics.port`` listener's address is taken or not ours to bind."""


def serve_metrics(rt: Runtime) -> WSGIServer | None:
    """``metrics.port``: a plain /metrics listener for workers that run without the
    dashboard, on a daemon thread; returns its server (``shutdown()`` stops it). It has
    no authentication: bind it to localhost or a private network."""
    config = rt.settings.metrics
    if config.port is None:
        return None
    try:
        server = _listen(config.host, config.port, rt.metrics.watch(rt))
    except OSError as exc:
        # Workers started from one config on one host all ask for the same port.
        reason = cannot_bind_reason(
            exc, when_taken="each worker on a host needs a metrics.port of its own"
        )
        raise CannotServeMetrics(
            f"metrics.port: cannot listen on {config.host}:{config.port}: {reason}"
        ) from exc
    log.info("metrics on http://%s:%d/metrics", config.host, config.port)
    return server
