"""Bounded process helpers: every wait has a deadline, every process is reaped."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\n"
            f"exit {self.returncode} after {self.elapsed:.2f}s\n"
            f"--- stdout ---\n{self.stdout}"
            f"--- stderr ---\n{self.stderr}"
        )


class Timeout(AssertionError):
    pass


def run(
    argv: Sequence[str | os.PathLike],
    env: Mapping[str, str],
    timeout: float = 30,
    input: str | None = None,
    cwd: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> Result:
    """Run a command to completion with stdin closed (or fed `input`).

    On timeout the whole process group is killed and Timeout is raised.
    """
    argv = [str(a) for a in argv]
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate(timeout=10)
        res = Result(argv, -9, out or "", err or "", time.monotonic() - start)
        if log:
            log(res.describe())
        raise Timeout(f"command timed out after {timeout}s:\n{res.describe()}")
    res = Result(argv, proc.returncode, out, err, time.monotonic() - start)
    if log:
        log(res.describe())
    return res


def kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the process group of `proc`, then SIGKILL after `grace` s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            proc.terminate()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait(timeout=10)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still "exists": look at /proc
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def wait_exit(pid: int, timeout: float, what: str = "process exit") -> None:
    """Wait until process `pid` (our child or not) has ended: its pidfd
    becomes readable when it does (pidfd_open(2)), an event, not a poll."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        raise Timeout(f"{what} not reached within {timeout}s")


def kill_pid(pid: int, grace: float = 3.0) -> None:
    """SIGTERM a process that is not our child; SIGKILL after `grace` s."""
    if not pid_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait_exit(pid, grace)
        return
    except Timeout:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Background:
    """A long-running process whose stdout/stderr lines are collected by threads.

    Lines are also appended to `log_path` (if given) as they arrive.
    """

    def __init__(
        self,
        argv: Sequence[str | os.PathLike],
        env: Mapping[str, str],
        log_path: Path | None = None,
        name: str | None = None,
        stdin_devnull: bool = True,
        cwd: str | os.PathLike | None = None,
    ):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.log_path = log_path
        self._lock = threading.Condition()
        self.lines: list[tuple[str, str]] = []  # (stream, line)
        self._log = open(log_path, "a", buffering=1) if log_path else None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL if stdin_devnull else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._threads = [
            threading.Thread(target=self._pump, args=("stdout", self.proc.stdout), daemon=True),
            threading.Thread(target=self._pump, args=("stderr", self.proc.stderr), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream: str, fh) -> None:
        try:
            for line in fh:
                with self._lock:
                    self.lines.append((stream, line.rstrip("\n")))
                    if self._log:
                        try:
                            self._log.write(f"[{self.name} {stream}] {line if line.endswith(chr(10)) else line + chr(10)}")
                        except ValueError:
                            pass
                    self._lock.notify_all()
        except (ValueError, OSError):
            pass
        finally:
            with self._lock:
                self._lock.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self, stream: str | None = None) -> str:
        with self._lock:
            return "".join(l + "\n" for s, l in self.lines if stream is None or s == stream)

    def wait_for_line(
        self,
        pred: Callable[[str], object],
        timeout: float,
        streams: Iterable[str] = ("stdout", "stderr"),
        what: str = "line",
        since: int = 0,
    ):
        """Wait for a line matching `pred` (returns pred's truthy result),
        looking from line number `since` on (see line_count)."""
        streams = set(streams)
        deadline = time.monotonic() + timeout
        seen = since
        with self._lock:
            while True:
                while seen < len(self.lines):
                    s, line = self.lines[seen]
                    seen += 1
                    if s in streams:
                        r = pred(line)
                        if r:
                            return r
                exited = self.proc.poll() is not None and not any(t.is_alive() for t in self._threads)
                if exited and seen >= len(self.lines):
                    raise AssertionError(
                        f"{self.name} exited ({self.proc.returncode}) before printing the expected {what}:\n"
                        f"--- output ---\n{self._all_unlocked()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(
                        f"{self.name}: no {what} within {timeout}s\n--- output so far ---\n{self._all_unlocked()}"
                    )
                self._lock.wait(min(left, 0.2))

    def line_count(self) -> int:
        """How many lines (both streams) have arrived: a mark for wait_for_line."""
        with self._lock:
            return len(self.lines)

    def _all_unlocked(self) -> str:
        return "".join(f"[{s}] {l}\n" for s, l in self.lines)

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout(f"{self.name} still running after {timeout}s\n--- output so far ---\n{self.text()}")
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        kill_group(self.proc, grace)
        for t in self._threads:
            t.join(timeout=5)
        if self._log:
            self._log.close()
            self._log = None


def run_concurrently(
    argvs: Sequence[Sequence[str | os.PathLike]],
    env: Mapping[str, str],
    timeout: float = 60,
    log: Callable[[str], None] | None = None,
) -> list[Result]:
    """Start all commands at once (stdin closed) and wait for all of them.

    Every process still running at the deadline is killed and Timeout raised.
    """
    start = time.monotonic()
    procs = []
    try:
        for argv in argvs:
            procs.append(
                subprocess.Popen(
                    [str(a) for a in argv],
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            )
        results = []
        for argv, p in zip(argvs, procs):
            left = max(0.1, timeout - (time.monotonic() - start))
            try:
                out, err = p.communicate(timeout=left)
            except subprocess.TimeoutExpired:
                raise Timeout(f"{' '.join(map(str, argv))} still running after {timeout}s")
            results.append(Result([str(a) for a in argv], p.returncode, out, err, time.monotonic() - start))
    finally:
        for p in procs:
            if p.poll() is None:
                kill_group(p)
                p.communicate(timeout=10)
    if log:
        log("\n".join(r.describe() for r in results))
    return results
