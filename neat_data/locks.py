"""Exclusive write locks: one writer at a time for anything a command writes (a round, a part of a round, a
training output, a run's data root).

The lock is an ``fcntl.flock`` on a small file inside the directory written (``.neat-lock``, or
``.neat-lock-<part>`` for one part of it, e.g. a rank's files). The kernel releases it when the holder exits,
however it ends (``kill -9`` included), so a lock is never stale; the file itself stays and is reused. The holder
writes who it is into the file (pid, host, start time, command), and a second writer fails at once with a
message naming it. A writer that finished what it wrote (a committed round, a finished training run) removes
the file as it releases the lock: a later writer is refused by the finished output itself. Locks are not
re-entrant: a process takes each lock once.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

from .errors import NeatError

LOCK_FILE = ".neat-lock"


def lock_path(directory: str | os.PathLike, part: str | None = None) -> Path:
    return Path(directory) / (f"{LOCK_FILE}-{part}" if part else LOCK_FILE)


def _command() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith((os.path.join("flows", "cli.py"), "neat")):
        argv[0] = "neat"
    return shlex.join(argv)


def _holder(text: str) -> str:
    try:
        h = json.loads(text)
        return f"pid {h['pid']} on {h['host']}, since {h['since']}: {h['command']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"


def _lock_or_fail(fd: int, what: str, wait: float = 0.0) -> None:
    deadline, said = time.monotonic() + wait, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder(os.pread(fd, 65536, 0).decode("utf-8", "replace"))
            if time.monotonic() >= deadline:
                os.close(fd)
                raise NeatError(
                    f"{what} is being written by another process ({holder}); wait for it to finish, or stop it and "
                    "run again (an interrupted write resumes)"
                ) from None
            if not said:
                print(f"waiting up to {wait:.0f} s for {what} (held by {holder})", file=sys.stderr)
                said = True
            time.sleep(0.2)


def check_unlocked(directory: str | os.PathLike, part: str | None = None, what: str | None = None) -> None:
    """Fail at once, as ``WriteLock`` would, when another process holds the lock; takes and creates nothing."""
    try:
        fd = os.open(lock_path(directory, part), os.O_RDWR)
    except FileNotFoundError:
        return
    _lock_or_fail(fd, what or str(directory))
    os.close(fd)  # releases the probe


class WriteLock:
    """Hold the exclusive write lock of ``directory`` (created if missing), or of one ``part`` of it.

    Use as a context manager, or call ``release()``; the lock also ends with the process (or when the object is
    garbage collected, since that closes the file). ``wait``: seconds to wait for a holder to release it before
    failing (0: fail at once), for locks that are only held briefly.
    """

    def __init__(
        self, directory: str | os.PathLike, part: str | None = None, what: str | None = None, wait: float = 0.0
    ):
        self.path = lock_path(directory, part)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        _lock_or_fail(fd, what or str(directory), wait)
        self._file = os.fdopen(fd, "r+")
        self.holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": _command(),
        }
        self._file.truncate(0)
        self._file.write(json.dumps(self.holder) + "\n")
        self._file.flush()

    def release(self, remove: bool = False) -> None:
        """Release the lock; ``remove`` also deletes the lock file (only once the output is finished)."""
        if not self._file.closed:
            if remove:
                self.path.unlink(missing_ok=True)
            self._file.close()  # closing the descriptor releases the flock

    def __enter__(self) -> WriteLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
