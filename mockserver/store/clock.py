"""Time in an office: its clock (real, shifted or frozen), fixture times relative to it,
and when a repeating reminder is next due."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from .records import ReminderType, Task

WEEKDAY_FLAGS = (ReminderType.Monday, ReminderType.Tuesday, ReminderType.Wednesday,
                 ReminderType.Thursday, ReminderType.Friday, ReminderType.Saturday,
                 ReminderType.Sunday)  # index = date.weekday()

RELATIVE = re.compile(r"now(?:([+-])(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?")


@dataclass(frozen=True, slots=True)
class RelativeTime:
    """A fixture timestamp such as ``now-3d`` or ``now-2h30m``, resolved per office."""

    delta: timedelta
    as_date: bool = False

    @classmethod
    def parse(cls, text: str, as_date: bool = False) -> "RelativeTime | None":
        """Parse ``now``, ``now-3d``, ``now+1d2h``...; None when *text* is not one."""
        m = RELATIVE.fullmatch(text)
        if m is None:
            return None
        sign, days, hours, minutes, seconds = m.groups()
        if sign and not (days or hours or minutes or seconds):
            return None
        try:
            delta = timedelta(days=int(days or 0), hours=int(hours or 0),
                              minutes=int(minutes or 0), seconds=int(seconds or 0))
        except OverflowError:  # beyond timedelta's range: not a usable time
            return None
        return cls(-delta if sign == "-" else delta, as_date)

    def text(self) -> str:
        """The fixture form that ``parse`` reads back: ``now``, ``now-3d4h``, ``now+2h30m5s``."""
        seconds = int(abs(self.delta).total_seconds())
        if not seconds:
            return "now"
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        parts = zip((days, hours, minutes, seconds), "dhms")
        return ("now-" if self.delta < timedelta() else "now+") + "".join(
            f"{n}{unit}" for n, unit in parts if n)

    def resolve(self, now: datetime) -> date | datetime:
        """The absolute value at office time *now*."""
        value = now + self.delta
        return value.date() if self.as_date else value


class Clock:
    """An office's clock: real local time, shifted, or frozen (SPEC §5)."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._frozen: datetime | None = None
        self.listener: Callable[[], None] | None = None  # told of every change (persistence)

    def now(self) -> datetime:
        """Office-local time, whole seconds, no zone (the API's datetime)."""
        t = self._frozen if self._frozen is not None else datetime.now() + self._offset
        return t.replace(microsecond=0)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def set(self, when: datetime | None = None, frozen: bool | None = None) -> None:
        """Move to *when* (if given) and/or freeze or unfreeze at the current time."""
        target = when if when is not None else self.now()
        freeze = self.frozen if frozen is None else frozen
        if freeze:
            self._frozen, self._offset = target, timedelta()
        else:
            self._frozen, self._offset = None, target - datetime.now()
        self._changed()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (or back, for a negative delta)."""
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta
        self._changed()

    def state(self) -> tuple[datetime | None, timedelta]:
        """(frozen time or None, offset from real time): enough to rebuild the clock."""
        return self._frozen, self._offset

    def restore(self, frozen: datetime | None, offset: timedelta) -> None:
        """Set the state returned by ``state()``, without telling the listener."""
        self._frozen, self._offset = frozen, offset

    def _changed(self) -> None:
        if self.listener is not None:
            self.listener()


def _add_months(when: datetime, months: int) -> datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    return when.replace(year=year, month=month,
                        day=min(when.day, calendar.monthrange(year, month)[1]))


def next_due(task: Task) -> datetime:
    """The DateTimeEntry of a reminder's next copy (OD's CopyReminderToNextDueDate)."""
    kind, every, base = ReminderType(task.ReminderType), max(task.ReminderFrequency, 1), task.DateTimeEntry
    if kind & ReminderType.Daily:
        return base + timedelta(days=every)
    if kind & ReminderType.Monthly:
        return _add_months(base, every)
    if kind & ReminderType.Yearly:
        return _add_months(base, 12 * every)
    days = [i for i, flag in enumerate(WEEKDAY_FLAGS) if kind & flag]
    if not days:  # plain Weekly: the same weekday, *every* weeks later
        return base + timedelta(weeks=every)
    later = [d for d in days if d > base.weekday()]
    if later:  # the next chosen day in this week
        return base + timedelta(days=later[0] - base.weekday())
    # wrap to the first chosen day, skipping the weeks in between
    return base + timedelta(days=7 - base.weekday() + days[0], weeks=every - 1)
