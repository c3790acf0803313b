"""Progress of ``memberdw run``'s long steps on one terminal line: files per entity while
landing, dbt nodes while building, with the time since the step began.

Off unless ``memberdw run`` calls ``enable`` with a terminal: the DAG tasks call
``counted`` and ``dbt_callbacks`` wherever they run, and under a scheduler, in tests or in
CI (where stderr is a file or a pipe) they cost nothing and print nothing. The stream is
kept from the moment the command starts, because Airflow redirects ``sys.stderr`` into
the task log while a task runs.
"""

from __future__ import annotations

import threading
import time
from typing import IO, Iterable, Iterator, TypeVar

T = TypeVar("T")
# Redraw at most this often: a line per file would cost more than landing a small file.
REDRAW_SECONDS = 0.1
CLEAR_LINE = "\r\033[K"

_terminal: IO[str] | None = None
_shown = False
_lock = threading.Lock()  # dbt calls back from its worker threads


def enable(stream: IO[str]) -> None:
    """Show progress on ``stream`` if it is a terminal; otherwise stay quiet."""
    global _terminal
    _terminal = stream if stream.isatty() else None


def show(text: str) -> None:
    """Replace the progress line with ``text``."""
    global _shown
    if _terminal is None:
        return
    with _lock:
        _terminal.write(CLEAR_LINE + text)
        _terminal.flush()
        _shown = True


def clear() -> None:
    """Remove the progress line, so that what is printed next starts on a clean line."""
    global _shown
    if _terminal is None or not _shown:
        return
    with _lock:
        _terminal.write(CLEAR_LINE)
        _terminal.flush()
        _shown = False


def counted(items: Iterable[T], label: str, unit: str) -> Iterator[T]:
    """Yield ``items``, showing ``label: done/total unit, elapsed`` as they are taken; the
    last count stays up while the caller finishes with them (the next line replaces it)."""
    if _terminal is None:
        yield from items
        return
    items = list(items)
    started = drawn = time.monotonic()
    for done, item in enumerate(items):
        now = time.monotonic()
        if done == 0 or now - drawn >= REDRAW_SECONDS:
            show(f"  {label}: {done}/{len(items)} {unit}, {now - started:.1f} s")
            drawn = now
        yield item
    show(f"  {label}: {len(items)}/{len(items)} {unit}, {time.monotonic() - started:.1f} s")


def dbt_callbacks(label: str) -> list:
    """Callbacks for ``dbtRunner``: nodes finished out of the nodes dbt said it would run,
    and those running now; the line goes when dbt says the command completed."""
    if _terminal is None:
        return []
    started = time.monotonic()
    state = {"total": None, "done": 0, "running": [], "drawn": 0.0}

    def on_event(event) -> None:
        name = event.info.name
        if name == "LogStartLine":
            state["total"] = event.data.total
            state["running"].append(event.data.node_info.node_name)
        elif name == "NodeFinished":
            state["done"] += 1
            node = event.data.node_info.node_name
            if node in state["running"]:
                state["running"].remove(node)
        elif name == "CommandCompleted":
            clear()
            return
        else:
            return
        now = time.monotonic()
        if now - state["drawn"] < REDRAW_SECONDS:
            return
        state["drawn"] = now
        running = f" ({', '.join(state['running'])})" if state["running"] else ""
        show(f"  {label}: {state['done']}/{state['total'] or '?'} nodes,"
             f" {now - started:.1f} s{running}")

    return [on_event]
