"""A progress bar for commands: on a terminal only, silent into a file or a pipe."""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from contextlib import contextmanager

import click


@contextmanager
def progress(length: int, label: str) -> Generator[Callable[[int], None]]:
    """A progress bar on a terminal; silent when output goes to a file or pipe."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update
