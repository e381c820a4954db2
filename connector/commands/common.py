"""What every command shares: opening the runtime (bad settings -> one line, exit code 2) and
reporting progress (a bar on a terminal, plain log lines otherwise)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from credbridge.connector.runtime import Runtime, open_runtime
from credbridge.connector.settings import SettingsError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_SETTINGS = 2
log = logging.getLogger("credbridge.cli")


def runtime_or_exit() -> Runtime:
    try:
        return open_runtime()
    except SettingsError as exc:
        click.echo(f"credbridge: {exc}", err=True)
        sys.exit(EXIT_BAD_SETTINGS)


def with_runtime(func: F) -> F:
    """Pass an opened :class:`Runtime` as the first argument; close it afterwards."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        runtime = runtime_or_exit()
        try:
            return func(runtime, *args, **kwargs)
        finally:
            runtime.close()

    return wrapper  # type: ignore[return-value]


class Progress:
    """Advance with :meth:`advance`; a rich bar on a TTY, a log line every 10 % otherwise."""

    def __init__(self, description: str, total: int | None, *, force_plain: bool = False) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._tty = sys.stderr.isatty() and not force_plain
        self._bar: Any = None
        self._task: Any = None
        self._last_logged = -1

    def __enter__(self) -> Progress:
        if self._tty:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        else:
            log.info("%s: started%s", self.description, f" ({self.total} items)" if self.total else "")
        return self

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n, description=f"{self.description} {note or ''}".strip())
            return
        if self.total:
            decile = self.done * 10 // self.total
            if decile != self._last_logged:
                self._last_logged = decile
                log.info("%s: %d/%d", self.description, self.done, self.total)

    def report(self, done: int, total: int, stage: str = "") -> None:
        """Absolute progress (done of total at a stage), as long-running services report it."""
        if total and self.total != total:
            self.set_total(total)
        if done > self.done:
            self.advance(done - self.done, note=stage)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            log.info("%s: finished (%d)", self.description, self.done)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Progress]:
    with Progress(description, total) as bar:
        yield bar


def track(items: Iterable[Any], description: str, total: int | None = None) -> Iterator[Any]:
    items = list(items) if total is None else items
    with progress(description, total if total is not None else len(items)) as bar:  # type: ignore[arg-type]
        for item in items:
            yield item
            bar.advance()
