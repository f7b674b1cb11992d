"""Live breakerd processes for the tests: the freshly built binary on port 0, with its database in a temporary
directory, stopped (or killed, paused, restarted) by the test."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import tempfile
from typing import List, Optional

CLIENT_TOKEN = "python-client-token-0123456789"
ADMIN_TOKEN = "python-admin-token-0123456789ab"


def find_breakerd() -> Optional[str]:
    """$HB_BREAKERD, else the repository's debug build (swift build --product breakerd)."""
    env = os.environ.get("HB_BREAKERD")
    if env:
        return env
    repo = pathlib.Path(__file__).resolve().parents[3]
    for candidate in (repo / ".build" / "debug" / "breakerd", repo / ".build" / "release" / "breakerd"):
        if candidate.exists():
            return str(candidate)
    return None


class Breakerd:
    """One breakerd process. `start()` listens on 127.0.0.1 port 0 (or the port it had, on a restart) and reads
    the port from its first line, ``breakerd listening on HOST:PORT``."""

    def __init__(self, binary: str, directory: Optional[str] = None, tokens: bool = False,
                 extra: Optional[List[str]] = None) -> None:
        self.binary = binary
        self.directory = directory or tempfile.mkdtemp(prefix="hb-py-")
        self.db = os.path.join(self.directory, "breakerd.sqlite")
        self.tokens = tokens
        self.extra = list(extra or [])
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.log = os.path.join(self.directory, "breakerd.log")

    def start(self) -> "Breakerd":
        args = [self.binary, "--listen", f"127.0.0.1:{self.port}", "--db", self.db, "--http-listen", "off",
                "--log-level", "warning", *self.extra]
        if self.tokens:
            for name, token in (("client", CLIENT_TOKEN), ("admin", ADMIN_TOKEN)):
                path = os.path.join(self.directory, name)
                with open(path, "w") as f:
                    f.write(f"# {name} tokens\n{token}\n")
                os.chmod(path, 0o600)
                args += [f"--{name}-token-file", path]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("breakerd listening on "):
            self.proc.kill()
            raise RuntimeError(f"breakerd did not start: {line!r}; log: {pathlib.Path(self.log).read_text()[-2000:]}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def token_file(self, role: str) -> str:
        return os.path.join(self.directory, role)

    def kill(self) -> None:
        """SIGKILL, and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the connections stay up, nothing is answered. Returns once every thread has stopped."""
        import time
        self.proc.send_signal(signal.SIGSTOP)
        tasks = pathlib.Path(f"/proc/{self.proc.pid}/task")
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
            except OSError:
                states = []
            if states and all(s in ("T", "t") for s in states):
                return
            time.sleep(0.001)
        raise RuntimeError("breakerd did not stop after SIGSTOP")

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


def ask(address: str, request: dict, token: Optional[str] = None) -> dict:
    """One request over a fresh connection (with `hello` first when a token is given); its reply object."""
    import json
    import socket
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        reader = sock.makefile("rb")
        if token is not None:
            sock.sendall(json.dumps({"op": "hello", "token": token}).encode() + b"\n")
            reader.readline()
        sock.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(reader.readline())


class DriverProcess:
    """tests/driver.py in a process of its own; its JSON lines are collected by a thread."""

    def __init__(self, *args: str) -> None:
        import sys
        import threading
        here = pathlib.Path(__file__).resolve().parent
        self.proc = subprocess.Popen([sys.executable, str(here / "driver.py"), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: List[dict] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import json
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.lines.append(obj)

    def snapshot(self) -> List[dict]:
        with self._lock:
            return list(self.lines)

    def wait_for(self, predicate, timeout: float = 10, since: int = 0):
        import time
        end = time.time() + timeout
        while time.time() < end:
            for obj in self.snapshot()[since:]:
                if predicate(obj):
                    return obj
            time.sleep(0.005)
        return None

    def finish(self, timeout: float = 60) -> List[dict]:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self._thread.join(timeout=5)
        if self.proc.returncode != 0:
            raise RuntimeError(f"driver exited {self.proc.returncode}: {self.proc.stderr.read()[-2000:]}")
        return self.snapshot()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
