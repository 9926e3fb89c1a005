"""Hot-path metrics kept as plain numbers by the event-loop thread, exposed at scrape time.

prometheus-client's ``Counter.inc`` and ``Histogram.observe`` take a ``threading.Lock``
per value and walk the bucket list in Python: about 3–5 µs per checked call in situ,
which is a measurable share of a cache hit's own cost (docs/performance.md, "metrics
cost"). Every per-call update of the sidecar happens on the event-loop thread, and
``/metrics`` is rendered on that same thread (``adapters.inbound.http.health_app``), so
these collectors keep plain Python numbers with no lock and hand prometheus-client
ready-made families when it collects. Exposition (names, labels, buckets, text format)
stays prometheus-client's.

Only call the update methods from the event-loop thread that serves ``/metrics``.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class LoopCounter(Collector):
    """A counter without labels: ``inc()`` adds one (``value`` is the running total)."""

    def __init__(self, name: str, documentation: str) -> None:
        """``name`` without the ``_total`` suffix (prometheus-client adds it)."""
        self._name, self._documentation = name, documentation
        self.value = 0

    def inc(self) -> None:
        self.value += 1

    def collect(self) -> Iterator[Metric]:  # noqa: D102 - prometheus_client protocol
        family = CounterMetricFamily(self._name, self._documentation)
        family.add_metric([], self.value)
        yield family


class LoopHistogram(Collector):
    """A histogram with labels; ``observe(labels, value)`` files one observation.

    ``buckets``: the finite upper bounds (``le``), ascending, in the unit of the
    observations (here seconds); ``+Inf`` is implied. Each label set keeps one count per
    bucket (non-cumulative) and a sum; cumulative counts are built at collect time.
    """

    def __init__(self, name: str, documentation: str, label_names: Sequence[str],
                 buckets: Sequence[float]) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(set(bounds)) or not bounds:
            raise ValueError("buckets must be ascending, distinct and non-empty")
        self._name, self._documentation = name, documentation
        self._label_names = list(label_names)
        self._bounds = bounds
        self._le = [floatToGoString(b) for b in bounds] + ["+Inf"]
        #: label values → [count per bucket …, count above the last bound, sum]
        self._series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            if len(labels) != len(self._label_names):
                raise ValueError(f"expected labels {self._label_names}, got {labels!r}")
            series = self._series[labels] = [0] * (len(self._bounds) + 1) + [0.0]
        series[bisect_left(self._bounds, value)] += 1
        series[-1] += value

    def collect(self) -> Iterator[Metric]:  # noqa: D102 - prometheus_client protocol
        family = HistogramMetricFamily(self._name, self._documentation,
                                       labels=self._label_names)
        for labels, series in self._series.items():
            running, buckets = 0, []
            for le, count in zip(self._le, series):
                running += count
                buckets.append((le, running))
            family.add_metric(list(labels), buckets, series[-1])
        yield family
