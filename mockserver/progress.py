"""Progress of long work on stderr, for the commands: click's progress bar on a terminal.
Elsewhere (a CI log, a pipe) click prints only the bar's label, so a line with the count
follows every INTERVAL seconds and when the work is done.

``report`` is a fixtures.Progress: what loading fixtures and generate-fixtures are given,
so that they (and the store) stay free of click.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import click

INTERVAL = 5.0  # seconds between two lines off a terminal
REDRAWS = 200  # a bar is redrawn at most this many times (each step would be slower)


@contextmanager
def report(label: str, total: int, interval: float = INTERVAL) -> Iterator[Callable[[int], None]]:
    """A progress bar for *total* units of work, for the length of the ``with``; its
    value is called with the units of each step done."""
    terminal = sys.stderr.isatty()  # as click decides whether to draw the bar
    done, next_line = 0, time.monotonic() + interval
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                           show_percent=True, update_min_steps=max(1, total // REDRAWS)) as bar:
        def step(size: int) -> None:
            nonlocal done, next_line
            bar.update(size)
            done += size
            if not terminal and time.monotonic() >= next_line:
                click.echo(f"{label}: {done:,} of {total:,}", err=True)
                next_line = time.monotonic() + interval

        yield step
    if not terminal:
        click.echo(f"{label}: done ({total:,})", err=True)
