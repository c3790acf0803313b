"""One ``memberdw run`` per warehouse at a time, and who is holding it.

A run holds an exclusive ``flock`` on ``<warehouse>/.memberdw.lock`` for as long as it
lives; ``memberdw status`` takes a shared one while it reads the working file, so no run
starts under it. The kernel drops a lock when its process ends, however it ends, so a
killed run never leaves the warehouse locked: the OS lock alone decides. The file holds a
small JSON (pid, host, user, command, since) for the messages only: another run can say
who holds the warehouse, and the next run can say it took over from a run that ended
without releasing (its JSON is still there). The file is emptied on release, never
deleted: a process could be about to lock the deleted file while a third creates a new
one, and both would think they hold the warehouse.

DuckDB has a lock of its own on the working file, against any other program (a BI tool
or a ``duckdb`` shell left open on ``warehouse.duckdb``); ``working_file_in_use`` turns
its error into a sentence.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import re
import socket
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

LOCK_FILE = ".memberdw.lock"
# A reader (memberdw status) holds its shared lock for well under a second; a run waits
# this long for it before calling the warehouse busy.
READER_WAIT_SECONDS = 5.0
# DuckDB's words when another process has the file: `Could not set lock on file "…":
# Conflicting lock is held in /usr/bin/duckdb (PID 123) by user ann. See also …`
DUCKDB_CONFLICT = re.compile(r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock'
                             r" is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)"
                             r"(?: by user (?P<user>\S+?))?\.?(?: See also|$)")


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock, as the holder wrote it."""

    pid: int
    host: str
    user: str
    command: str
    since: str  # ISO 8601, with the holder's UTC offset

    @classmethod
    def me(cls, command: str) -> Holder:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, as in some containers
            user = str(os.getuid())
        return cls(os.getpid(), socket.gethostname(), user, command,
                   datetime.now().astimezone().isoformat(timespec="seconds"))

    def running(self) -> bool | None:
        """Whether the pid is alive; None if it ran on another host (unknowable here)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, someone else's
            return True
        return True

    def describe(self) -> str:
        since = datetime.fromisoformat(self.since)
        ago = _duration((datetime.now(since.tzinfo) - since).total_seconds())
        return (f"pid {self.pid} on {self.host}, user {self.user}, `{self.command}`,"
                f" since {since:%Y-%m-%d %H:%M:%S} ({ago} ago)")


class WarehouseLocked(RuntimeError):
    """Another run holds the warehouse; the message names it."""

    def __init__(self, warehouse_dir: Path, holder: Holder | None):
        self.holder = holder
        if holder is None:
            who = "another process (it has not said who it is)"
        else:
            who = f"another memberdw run: {holder.describe()}"
            if holder.running() is False:
                who += "; that pid has ended, so a process it started still holds the lock"
        super().__init__(f"warehouse {warehouse_dir} is in use by {who}; wait for it to finish,"
                         f" or see memberdw status --warehouse {warehouse_dir}")


class WarehouseLock:
    """The exclusive lock of a run; ``stale`` is the holder that died holding it before."""

    def __init__(self, fd: int, stale: Holder | None):
        self._fd = fd
        self.stale = stale

    def release(self) -> None:
        if self._fd < 0:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> WarehouseLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def took_over(self) -> str | None:
        """The one-line note a run prints when it recovered a lock from a run that died."""
        if self.stale is None:
            return None
        return (f"took over the warehouse lock of a run that ended without releasing it"
                f" ({self.stale.describe()})")


def lock_path(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / LOCK_FILE


def acquire(warehouse_dir: Path, command: str,
            reader_wait: float = READER_WAIT_SECONDS) -> WarehouseLock:
    """Take the warehouse for a run, or raise WarehouseLocked at once if a run has it.

    Only while nobody has written a holder (readers never do) is it worth waiting, and
    then only ``reader_wait`` seconds: a reader is about to let go.
    """
    path = lock_path(warehouse_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + reader_wait
    try:
        while not _try_flock(fd, fcntl.LOCK_EX):
            holder = _read_holder(fd)
            if holder is not None or time.monotonic() >= deadline:
                raise WarehouseLocked(Path(warehouse_dir), holder)
            time.sleep(0.05)
        stale = _read_holder(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(Holder.me(command))).encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return WarehouseLock(fd, stale)


@contextmanager
def reading(warehouse_dir: Path):
    """While reading the warehouse: yields None, holding a shared lock so that no run starts
    meanwhile; or, if a run has the warehouse, who it is (then read only what runs never
    hold open, such as the serving file).

    Creates nothing: a warehouse without a lock file has never had a run that locks.
    """
    try:
        fd = os.open(lock_path(warehouse_dir), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    try:
        if _try_flock(fd, fcntl.LOCK_SH):
            yield None
        else:
            holder = _read_holder(fd)
            yield (f"memberdw run: {holder.describe()}" if holder
                   else "a run that has not yet said who it is")
    finally:
        os.close(fd)  # closing drops the shared lock


def last_holder(warehouse_dir: Path) -> Holder | None:
    """The holder written in the lock file: the current run's, or one that died holding it."""
    try:
        fd = os.open(lock_path(warehouse_dir), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def duckdb_conflict(error: str) -> tuple[str, str] | None:
    """(file, who has it open) from DuckDB's error for a file another process holds."""
    match = DUCKDB_CONFLICT.search(error)
    if match is None:
        return None
    user = f", user {match['user']}" if match["user"] else ""
    return match["file"], f"{match['program']}, PID {match['pid']}{user}"


def working_file_in_use(error: str) -> str | None:
    """What a run says when DuckDB's error is that another program has the file open."""
    conflict = duckdb_conflict(error)
    if conflict is None:
        return None
    path, who = conflict
    return (f"the working file {path} is open in another program ({who}); close it and run"
            f" again (BI tools read the serving file marts.duckdb, which no run holds open)")


def _try_flock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _read_holder(fd: int) -> Holder | None:
    text = os.pread(fd, 64 * 1024, 0).decode("utf-8", errors="replace")
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):  # empty (free, or a holder about to write), or damaged
        return None


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
