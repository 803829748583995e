"""A command on a pseudo-terminal, for command lines run exactly as a user
types them: oidc-gen's no-echo password prompt needs a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import subprocess
import termios
import threading
import time
from pathlib import Path

from procs import Timeout, kill_group


class PtyProc:
    """`argv` with a pty as its controlling terminal (stdin, stdout, stderr)."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, cwd: str | None = None):
        master, slave = pty.openpty()

        def make_controlling_tty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=make_controlling_tty, close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.log_path = log_path
        self.out = b""
        self.pos = 0
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        with open(self.log_path, "ab") as log:
            while True:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                with self.cond:
                    if not data:
                        self.closed = True
                        self.cond.notify_all()
                        return
                    self.out += data
                    log.write(data)
                    log.flush()
                    self.cond.notify_all()

    def text(self) -> str:
        with self.cond:
            return self.out.decode(errors="replace")

    def expect(self, pattern: str, timeout: float = 60) -> re.Match:
        """Waits for `pattern` in the output after the last match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(self.out.decode(errors="replace"), self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise Timeout(f"no {pattern!r} in the output:\n{self.out.decode(errors='replace')[-3000:]}")
                self.cond.wait(left)

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def type_like_a_person(self, text: str, think: float = 3.0, per_key: float = 0.12) -> None:
        """A person at the keyboard: a pause to read the prompt, then one
        key at a time. The pace is the behaviour under test (nothing may
        time out, and a prompt must take keys as they come), not a way to
        wait for the program."""
        time.sleep(think)
        for key in text:
            self.send(key)
            time.sleep(per_key)

    def wait(self, timeout: float = 120) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            raise Timeout(f"still running after {timeout} s:\n{self.text()[-3000:]}")
        with self.cond:
            self.cond.wait_for(lambda: self.closed, timeout=10)
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc)
        try:
            os.close(self.master)
        except OSError:
            pass
