"""Recording fakes of the write ports: UsageReporter and EventReporter."""
from __future__ import annotations

from typing import Callable, Sequence

from domain.model.budget import Budget
from domain.model.reports import Event, UsageAck, UsageReport
from ports.errors import UpstreamError
from ports.usage_reporter import EventReporter, UsageReporter


def echo_ack(item: UsageReport, index: int) -> UsageAck:
    """The default answer: a measurement id, the item's identity, no usage values."""
    return UsageAck(measurement_id=f"m-{index}", key=item.key, feature_id=item.feature_id)


class FakeUsageReporter(UsageReporter):
    """Records each mutation (a chunk of items) and answers with ``respond(item, n)``.

    ``n`` counts items across all calls, from 0. ``fail_on_call(i, error)`` makes the
    ``i``-th call (from 0) raise ``error`` instead; the call is still recorded.
    """

    def __init__(self, respond: Callable[[UsageReport, int], UsageAck] = echo_ack) -> None:
        self._respond = respond
        self._failures: dict[int, UpstreamError] = {}
        self.calls: list[list[UsageReport]] = []
        self.budgets: list[Budget] = []
        self._answered = 0

    def fail_on_call(self, index: int, error: UpstreamError) -> None:
        self._failures[index] = error

    @property
    def sent(self) -> list[UsageReport]:
        """Every item of every call, in order."""
        return [item for call in self.calls for item in call]

    async def report(self, items: Sequence[UsageReport], budget: Budget) -> list[UsageAck]:
        index = len(self.calls)
        self.calls.append(list(items))
        self.budgets.append(budget)
        if index in self._failures:
            raise self._failures[index]
        acks = []
        for item in items:
            acks.append(self._respond(item, self._answered))
            self._answered += 1
        return acks


class FakeEventReporter(EventReporter):
    """Records each mutation (a chunk of events); ``fail_on_call`` as for usage."""

    def __init__(self) -> None:
        self._failures: dict[int, UpstreamError] = {}
        self.calls: list[list[Event]] = []
        self.budgets: list[Budget] = []

    def fail_on_call(self, index: int, error: UpstreamError) -> None:
        self._failures[index] = error

    @property
    def sent(self) -> list[Event]:
        return [event for call in self.calls for event in call]

    async def report(self, events: Sequence[Event], budget: Budget) -> None:
        index = len(self.calls)
        self.calls.append(list(events))
        self.budgets.append(budget)
        if index in self._failures:
            raise self._failures[index]
