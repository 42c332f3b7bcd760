"""Prometheus metrics every service exposes on `/metrics`: requests by route and status, latency,
outbox backlog and age, consumer lag and dead letters (the last three read when scraped)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.shared.events.bus import stream_name
from tongban.shared.events.outbox import Outbox

if TYPE_CHECKING:
    from tongban.shared.service import Runtime

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Probe:
    """A service's own gauge, read on each scrape with a database session (never on a timer)."""

    name: str
    help: str
    read: Callable[[AsyncSession], Awaitable[float]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.probes: dict[str, Gauge] = {}
        self._own: dict[str, Counter] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=BUCKETS, registry=self.registry)
        self.outbox_backlog = Gauge("outbox_backlog", "Events not yet published", registry=self.registry)
        self.outbox_age = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished event",
                                registry=self.registry)
        self.consumer_lag = Gauge("consumer_lag", "Messages not yet delivered to a durable consumer", ["consumer"],
                                  registry=self.registry)
        self.consumer_unacked = Gauge("consumer_ack_pending", "Messages delivered but not acked", ["consumer"],
                                      registry=self.registry)
        self.dead_letters = Gauge("dead_letters", "Events given up on, per consumer", ["consumer"],
                                  registry=self.registry)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        """A service's own counter in the same registry (made once, then the same one)."""
        existing = self._own.get(name)
        if existing is None:
            existing = self._own[name] = Counter(name, documentation, list(labels), registry=self.registry)
        return existing

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children, found once per (method, route template, status): `labels()` takes
        # the metric's lock and builds its key on every call. Routes are templates, so few.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    async def refresh(self, runtime: "Runtime") -> None:
        """Read the backlog, the lag and the dead letters now (on scrape, not on a timer)."""
        d = runtime.definition
        async with runtime.sessionmaker() as session:
            if d.publishes:
                count, age = await Outbox(d.tables.outbox).backlog(session)
                self.outbox_backlog.set(count)
                self.outbox_age.set(age)
            for probe in d.probes:
                if probe.name not in self.probes:
                    self.probes[probe.name] = Gauge(probe.name, probe.help, registry=self.registry)
                self.probes[probe.name].set(await probe.read(session))
            dl = d.tables.dead_letter
            for consumer, n in (await session.execute(
                    select(dl.c.consumer, func.count()).group_by(dl.c.consumer))).all():
                self.dead_letters.labels(consumer).set(n)
        if runtime.nc is not None and runtime.nc.is_connected:
            js = runtime.js()
            for sub in d.subscriptions:
                try:
                    info = await js.consumer_info(stream_name(sub.source), sub.durable, timeout=1.0)
                except Exception:  # noqa: BLE001 - a consumer not yet created has no lag to report
                    continue
                self.consumer_lag.labels(sub.durable).set(info.num_pending or 0)
                self.consumer_unacked.labels(sub.durable).set(info.num_ack_pending or 0)


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's template (/api/v1/catalog/items/{item_id}), never the raw path."""
    fmt = getattr(scope.get("route"), "path_format", None)
    if fmt is None:
        return "unmatched"
    # The route knows only its own part of the path; the router prefix is what precedes it.
    try:
        own = fmt.format(**{k: str(v) for k, v in scope.get("path_params", {}).items()})
    except (KeyError, IndexError, ValueError):
        return fmt
    path = scope.get("path", "")
    return path[: len(path) - len(own)] + fmt if path.endswith(own) else fmt


def install_metrics_endpoint(app: FastAPI, metrics: Metrics) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        runtime = getattr(app.state, "runtime", None)
        if runtime is not None:
            await metrics.refresh(runtime)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
