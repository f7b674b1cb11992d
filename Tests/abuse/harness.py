"""What the abuse suite and the soak share: breakerd as a real process, line clients over real sockets, and
reading a process's memory and CPU time from /proc. Standard library only.

Every blocking call here takes a timeout, so a server that hangs makes a test fail instead of the suite.
"""
import json
import os
import resource
import select
import signal
import socket
import subprocess
import tempfile
import time

CLIENT_TOKEN = "abuse-client-token-0123456789abcdef"
ADMIN_TOKEN = "abuse-admin-token-0123456789abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Failure(AssertionError):
    """A test's expectation did not hold; the message says what was seen."""


def check(condition, message):
    """Fails the running test with `message` unless `condition` holds."""
    if not condition:
        raise Failure(message)


def write_file(path, text, mode=0o600):
    """Writes `text` (str or bytes) to `path` with the given permission bits."""
    data = text.encode() if isinstance(text, str) else text
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def rss_kib(pid):
    """The process's resident set size in KiB (VmRSS), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """User plus system CPU time the process has used so far, in seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime: fields 14 and 15 of stat(5)


def limit_open_files(count):
    """A preexec_fn that sets RLIMIT_NOFILE's soft and hard limits to `count` in the child."""
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    return apply


class Server:
    """One breakerd process. `start()` waits for its 'breakerd listening on HOST:PORT' line; stderr goes to a
    file that tests read (`log()`)."""

    def __init__(self, bin_dir, workdir, name, args=(), db=None, wrap=(), preexec_fn=None):
        self.binary = os.path.join(bin_dir, "breakerd")
        self.workdir = workdir
        self.name = name
        self.db = db if db is not None else os.path.join(workdir, f"{name}.sqlite")
        self.args = list(args)
        self.wrap = list(wrap)  # e.g. ["unshare", "-m", "sh", "-c", "...; exec \"$0\" \"$@\""]
        self.preexec_fn = preexec_fn
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        self.proc = None
        self.port = None
        self.returncode = None

    def command(self):
        return self.wrap + [self.binary, "--listen", "127.0.0.1:0", "--db", self.db] + self.args

    def start(self, timeout=30):
        """Starts breakerd and returns self once it listens; fails with its stderr if it exits instead."""
        self.returncode = None
        self.stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr_file,
            preexec_fn=self.preexec_fn)
        self._http_port = None
        text = self._stdout_line(timeout, "listening")
        check(text.startswith("breakerd listening on "), f"{self.name}: unexpected first line {text!r}")
        self.port = int(text.rsplit(":", 1)[1])
        return self

    def _stdout_line(self, timeout, what):
        """The next line breakerd prints on stdout, stripped; fails (stopping it) if none comes in `timeout`."""
        line = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Failure(f"{self.name}: no '{what}' line within {timeout}s; stderr: {self.log()[-600:]}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1)
                if not chunk:
                    self.proc.wait(timeout=10)
                    raise Failure(f"{self.name}: exited {self.proc.returncode} before printing its '{what}' "
                                  f"line; stderr: {self.log()[-600:]}")
                line += chunk
        return line.decode().strip()

    @property
    def http_port(self):
        """The HTTP port, from the 'breakerd http on HOST:PORT' line that follows the 'listening' one (read the
        first time it is asked for; the server must have been started without --http-listen off)."""
        if self._http_port is None:
            text = self._stdout_line(10, "http on")
            check(text.startswith("breakerd http on "), f"{self.name}: unexpected second line {text!r}")
            self._http_port = int(text.rsplit(":", 1)[1])
        return self._http_port

    def http(self, **kwargs):
        """A new connection to the HTTP port."""
        return HTTPConn(self.http_port, **kwargs)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self):
        return rss_kib(self.pid)

    def cpu_seconds(self):
        return cpu_seconds(self.pid)

    def log(self):
        """Everything breakerd wrote to stderr so far, as text (undecodable bytes replaced)."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.stderr_path)
        except OSError:
            return 0

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and waits for the exit; returns the exit code (killed with SIGKILL past `timeout`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise Failure(f"{self.name}: still running {timeout}s after signal {sig}")
        return self._finish()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        return self._finish()

    def _finish(self):
        self.returncode = self.proc.returncode
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr_file.close()
        return self.returncode

    def connect(self, **kwargs):
        return Conn(self.port, **kwargs)

    def client(self, token=None, client_name=None):
        """A connection that has said hello (with `token` if given) and checked the reply."""
        conn = self.connect()
        if token is not None or client_name is not None:
            hello = {"op": "hello"}
            if token is not None:
                hello["token"] = token
            if client_name is not None:
                hello["client"] = client_name
            reply = conn.request(hello)
            check(reply.get("ok") is True, f"hello failed: {reply}")
        return conn


def run_to_exit(bin_dir, args, timeout=20, wrap=()):
    """Runs breakerd expecting it to refuse to start. Returns (exit code, stdout, stderr). A breakerd that
    starts listening instead (or is still running after `timeout` seconds) is stopped, and reported with exit
    code None."""
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(list(wrap) + [os.path.join(bin_dir, "breakerd")] + list(args),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err_file)
        out = b""
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        code = None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            out += chunk
            if b"listening" in out:
                break
            if ready and not chunk:  # stdout closed: the process is exiting
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                break
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out += proc.stdout.read()
        proc.stdout.close()
        err_file.seek(0)
        err = err_file.read()
    return code, out.decode(errors="replace"), err.decode(errors="replace")


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class Conn:
    """A line-delimited JSON connection to breakerd."""

    def __init__(self, port, rcvbuf=None, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Set before connecting, so the window the kernel advertises is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.buffer = b""

    def send(self, payload):
        """Sends a dict as one JSON line, or bytes as they are."""
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        self.sock.sendall(payload)

    def readline(self, timeout=None):
        """The next line (without its newline) as bytes. Raises Closed at EOF or reset, Failure on timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no reply line within {timeout if timeout is not None else self.timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("end of stream")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def read(self, timeout=None):
        """The next line, parsed."""
        return json.loads(self.readline(timeout))

    def request(self, payload, timeout=None):
        self.send(payload)
        return self.read(timeout)

    def pipeline(self, requests, timeout=60):
        """Sends every request in one write and reads as many replies."""
        self.send(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in requests))
        return [self.read(timeout) for _ in requests]

    def wait_closed(self, timeout):
        """Reads until the server closes; returns everything received. Failure if still open after `timeout`."""
        received = self.buffer
        self.buffer = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"connection still open after {timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return received
            if not chunk:
                return received
            received += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def error_code(reply):
    """The error code of a reply, or None for a success."""
    return (reply.get("error") or {}).get("code") if reply.get("ok") is False else None


# MARK: HTTP

class Response:
    """One HTTP response: `status` (int), `headers` (lower-case name -> value, the last one of a repeated
    name), `body` (bytes) and `raw` (everything the response took on the wire)."""

    def __init__(self, status, reason, headers, body, raw):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw = raw

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<{self.status} {self.reason}: {self.body[:120]!r}>"


def http_request(method, path, headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1"):
    """The bytes of one request: `headers` is a sequence of (name, value) as str or bytes; `Content-Length` is
    added when there is a body; `Host` unless `host` is None (a loopback name: a loopback port without token
    files answers no other); `Content-Type: application/json` for a POST unless `headers` names one."""
    def b(v):
        return v if isinstance(v, bytes) else str(v).encode()
    out = b(method) + b" " + b(path) + b" " + b(version) + b"\r\n"
    if host is not None:
        out += b"Host: " + b(host) + b"\r\n"
    for name, value in headers:
        out += b(name) + b": " + b(value) + b"\r\n"
    if method == "POST" and not any(b(name).lower() == b"content-type" for name, _ in headers):
        out += b"Content-Type: application/json\r\n"
    if body:
        out += b"Content-Length: %d\r\n" % len(body)
    return out + b"\r\n" + b(body)


class HTTPConn:
    """A raw connection to breakerd's HTTP port: send any bytes, read responses framed by Content-Length."""

    def __init__(self, port, timeout=10.0, rcvbuf=None, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, headers=(), body=b"", timeout=None):
        """Sends one request and returns its response (`HEAD` responses are read without a body)."""
        self.send(http_request(method, path, headers, body))
        return self.response(timeout, head=(method == "HEAD"))

    def _fill(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"no {what} within the time allowed; received {self.buffer[:200]!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))
        if not chunk:
            raise Closed(f"end of stream; received {self.buffer[:200]!r}")
        self.buffer += chunk

    def response_head(self, timeout=None):
        """Reads a status line and headers: (status, reason, headers, the head's bytes)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline, "response head")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        check(len(parts) >= 2 and parts[0] == "HTTP/1.1" and parts[1].isdigit(), f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, head + b"\r\n\r\n"

    def response(self, timeout=None, head=False):
        """Reads one whole response (no body when `head`)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        status, reason, headers, raw = self.response_head(max(0.0, deadline - time.monotonic()))
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill(deadline, f"body of {length} bytes")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(status, reason, headers, body, raw + body)

    def wait_for(self, marker, timeout):
        """Reads until `marker` (bytes) is in `buffer`; Failure after `timeout` s, Closed at the end."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            self._fill(deadline, repr(marker))
        return self.buffer

    def closed_within(self, timeout):
        """True when the server closes (EOF or reset) within `timeout` s; the bytes it sent meanwhile are kept
        in `buffer`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._fill(deadline, "close")
            except Closed:
                return True
            except Failure:
                return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
