"""Waiting on the file system with a deadline: inotify(7) through ctypes
(the standard library has no binding), for a file or socket another process
creates (wait_for_path) or a log it appends to (wait_for_file_line). The
kernel wakes us on each change: nothing here polls."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import time
from pathlib import Path
from typing import Callable

from procs import Timeout

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]

# <sys/inotify.h>
IN_MODIFY = 0x002
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class Inotify:
    """One inotify instance; `wait` returns once any watched change happened."""

    def __init__(self) -> None:
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd

    def watch(self, path: str | os.PathLike, mask: int) -> None:
        if _libc.inotify_add_watch(self.fd, os.fsencode(path), mask) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_add_watch: {os.strerror(err)}", str(path))

    def wait(self, deadline: float) -> bool:
        """Blocks until events arrive (and drains them) or `deadline`
        (time.monotonic()) passes: True on events, False at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], left)
        if not ready:
            return False
        while True:  # drain: each wake-up stands for all changes so far
            try:
                if not os.read(self.fd, 65536):
                    return True
            except BlockingIOError:
                return True

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "Inotify":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for_path(path: str | os.PathLike, timeout: float, what: str | None = None) -> None:
    """Waits until `path` exists (a file, directory or socket that another
    process creates, directly or by rename). Directories on the way that do
    not exist yet are waited for the same way."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    with Inotify() as ino:
        while True:
            # Watch the nearest existing ancestor for new entries, then look:
            # an entry made before the watch is seen by the look, one made
            # after it wakes the wait.
            anc = path.parent
            while not anc.exists():
                anc = anc.parent
            ino.watch(anc, IN_CREATE | IN_MOVED_TO)
            if os.path.lexists(path):
                return
            if not ino.wait(deadline):
                raise Timeout(f"{what or path}: {path} did not appear within {timeout}s")


def file_size(path: str | os.PathLike) -> int:
    """The size of `path`, 0 if it does not exist (a mark for wait_for_file_line)."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def wait_for_file_line(path: str | os.PathLike, pred: Callable[[str], object], timeout: float,
                       since: int = 0, what: str = "line"):
    """Waits for a complete line matching `pred` in the file another process
    appends to, from byte `since` on (see file_size); returns pred's truthy
    result. The file may not exist yet."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    wait_for_path(path, timeout, what=f"{what} (the file)")
    pos, partial, seen = since, b"", []
    with Inotify() as ino:
        ino.watch(path, IN_MODIFY)  # before reading: no append is missed
        while True:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
            pos += len(data)
            *lines, partial = (partial + data).split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                seen.append(line)
                r = pred(line)
                if r:
                    return r
            if not ino.wait(deadline):
                tail = "\n".join(seen[-40:])
                raise Timeout(f"no {what} in {path} within {timeout}s\n--- lines since the mark ---\n{tail}")
