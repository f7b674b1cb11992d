#!/usr/bin/env python3
"""breakerd scraped by a real Prometheus (Debian `prometheus`), checked through Prometheus's HTTP API.

    python3 Tests/prometheus/run.py BIN_DIR          (BIN_DIR holds breakerd)

Starts breakerd with token files and its HTTP port, and Prometheus with a generated config that scrapes
breakerd's /metrics every second with the client token (so /metrics' bearer auth is exercised too). Creates a
circuit over TCP, waits for two scrapes, samples the series; trips the circuit, waits for two scrapes that began
after the trip, samples again; then checks:
  target      the scrape target's health is "up" and its lastError is empty (the exposition parsed)
  open        highway_breaker_breakers{state="open"} is 0 before and 1 after the trip
  transitions sum(highway_breaker_transitions_total) rose across the trip
Prints what it measured, PASS/FAIL per check and "N passed, M failed" last; exit 1 on failure.
"""
import datetime
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "abuse"))
from harness import Failure, Server, check, write_file  # noqa: E402

CLIENT_TOKEN = "prometheus-client-token-0123456789abcdef"
ADMIN_TOKEN = "prometheus-admin-token-0123456789abcdef"
RESOURCE = "orders"
POLICY = {"failure_threshold": "3/5", "cooldown_ms": 600000}   # stays open for the whole test
JOB = "breakerd"


def http_port(server, timeout=10):
    """Reads breakerd's second stdout line, `breakerd http on HOST:PORT`, and returns the port."""
    line = b""
    deadline = time.monotonic() + timeout
    fd = server.proc.stdout.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        check(left > 0, f"no 'breakerd http on' line within {timeout}s; stderr: {server.log()[-600:]}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)
            check(chunk != b"", f"breakerd closed stdout before its http line; stderr: {server.log()[-600:]}")
            line += chunk
    text = line.decode().strip()
    check(text.startswith("breakerd http on "), f"unexpected second line {text!r}")
    return int(text.rsplit(":", 1)[1])


def free_port():
    """A loopback port that was free a moment ago (Prometheus cannot listen on port 0 and say which it got)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rfc3339_seconds(text):
    """Unix seconds of Prometheus's RFC 3339 time with up to nanoseconds (Python parses only microseconds)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    check(m is not None, f"unexpected time {text!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.datetime.fromisoformat(m.group(1) + zone).timestamp()
    return whole + (float("0." + m.group(2)) if m.group(2) else 0.0)


class Prometheus:
    def __init__(self, work, target_port, token):
        self.work = work
        self.port = free_port()
        credentials = write_file(os.path.join(work, "scrape.token"), token)
        self.config = os.path.join(work, "prometheus.yml")
        # JSON is YAML: the config is written with json.dumps so that paths need no quoting rules.
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": JOB,
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials_file": credentials},
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }],
        }
        write_file(self.config, json.dumps(config, indent=2) + "\n", mode=0o644)
        self.log_path = os.path.join(work, "prometheus.log")
        self.proc = None

    def start(self, timeout=60):
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config}", f"--storage.tsdb.path={os.path.join(self.work, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"prometheus exited {self.proc.returncode}: {self.log()[-800:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as res:
                    if res.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise Failure(f"prometheus not ready within {timeout}s: {self.log()[-800:]}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log_file.close()

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as res:
            reply = json.loads(res.read())
        check(reply.get("status") == "success", f"{path}: {reply}")
        return reply["data"]

    def target(self):
        """breakerd's scrape target (health, lastError, lastScrape...), or None before discovery."""
        for t in self.api("targets", state="active")["activeTargets"]:
            if t["labels"].get("job") == JOB:
                return t
        return None

    def query(self, expr):
        """The instant vector of `expr` now, as a list of (labels, float)."""
        data = self.api("query", query=expr)
        check(data["resultType"] == "vector", f"{expr}: {data}")
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def scalar(self, expr):
        """The single value of `expr`, or None when it has no series."""
        result = self.query(expr)
        check(len(result) <= 1, f"{expr} has {len(result)} series: {result}")
        return result[0][1] if result else None

    def wait_scrapes(self, after, count=2, timeout=30):
        """Waits until `count` scrapes that began after Unix time `after` have completed; returns the target."""
        seen = set()
        deadline = time.monotonic() + timeout
        target = None
        while time.monotonic() < deadline:
            target = self.target()
            if target is not None and target.get("lastScrape"):
                at = rfc3339_seconds(target["lastScrape"])
                if at > after:
                    seen.add(at)
                    if len(seen) >= count:
                        return target
            time.sleep(0.1)
        raise Failure(f"{len(seen)} of {count} scrapes after the mark within {timeout}s; target: {target}; "
                      f"prometheus log: {self.log()[-600:]}")


def ok(conn, payload):
    reply = conn.request(payload)
    while "event" in reply:
        reply = conn.read()
    check(reply.get("ok") is True, f"{payload['op']} failed: {reply}")
    return reply


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    work = tempfile.mkdtemp(prefix="hb-prometheus-")
    client_file = write_file(os.path.join(work, "client.tokens"), CLIENT_TOKEN + "\n")
    admin_file = write_file(os.path.join(work, "admin.tokens"), ADMIN_TOKEN + "\n")
    server = Server(os.path.abspath(sys.argv[1]), work, "breakerd", args=[
        "--client-token-file", client_file, "--admin-token-file", admin_file, "--http-listen", "127.0.0.1:0"])
    prometheus = None
    passed = failed = 0

    def result(name, good, detail):
        nonlocal passed, failed
        passed += good
        failed += not good
        print(f"{'PASS' if good else 'FAIL'} {name}: {detail}")

    try:
        server.start()
        port = http_port(server)
        prometheus = Prometheus(work, port, CLIENT_TOKEN).start()
        print(f"breakerd: tcp 127.0.0.1:{server.port}, http 127.0.0.1:{port}; prometheus 127.0.0.1:"
              f"{prometheus.port} ({prometheus.config})")
        conn = server.client(token=CLIENT_TOKEN, client_name="prometheus-test")
        ok(conn, {"op": "acquire", "resource": RESOURCE, "policy": POLICY})
        prometheus.wait_scrapes(after=time.time())
        open_before = prometheus.scalar(f'highway_breaker_breakers{{state="open"}}')
        transitions_before = prometheus.scalar("sum(highway_breaker_transitions_total)")
        print(f"before the trip: breakers{{state=open}} = {open_before}, "
              f"sum(transitions_total) = {transitions_before}")

        tripped_at = time.time()
        for _ in range(10):
            reply = ok(conn, {"op": "report", "resource": RESOURCE, "outcome": "failure"})
            if reply["state"] == "open":
                break
        check(reply["state"] == "open", f"{RESOURCE} did not trip: {reply}")
        target = prometheus.wait_scrapes(after=tripped_at)
        open_after = prometheus.scalar(f'highway_breaker_breakers{{state="open"}}')
        transitions_after = prometheus.scalar("sum(highway_breaker_transitions_total)")
        up = prometheus.scalar(f'up{{job="{JOB}"}}')
        server_up = prometheus.scalar("highway_breaker_up")
        by_cause = {m.get("cause"): v for m, v in prometheus.query("highway_breaker_transitions_total") if v}
        print(f"after the trip (2 scrapes): breakers{{state=open}} = {open_after}, sum(transitions_total) = "
              f"{transitions_after} {by_cause}, up = {up}, highway_breaker_up = {server_up}, last scrape took "
              f"{target.get('lastScrapeDuration', 0) * 1000:.1f} ms")

        result("target", target["health"] == "up" and target["lastError"] == "" and up == 1,
               f"health {target['health']!r}, lastError {target['lastError']!r}, up {up}, "
               f"scrapeUrl {target.get('scrapeUrl')}")
        result("open", (open_before or 0) == 0 and open_after == 1,
               f'highway_breaker_breakers{{state="open"}} {open_before} -> {open_after}')
        rose = transitions_after is not None and transitions_after > (transitions_before or 0)
        result("transitions", rose, f"sum(highway_breaker_transitions_total) {transitions_before} -> "
               f"{transitions_after}")
        conn.close()
    except (Failure, OSError, ValueError, KeyError) as e:
        result("run", False, f"{type(e).__name__}: {e}")
    finally:
        if prometheus is not None:
            prometheus.stop()
        if server.proc is not None:
            code = server.stop()
            if code != 0:
                result("shutdown", False, f"breakerd exited {code}; stderr: {server.log()[-600:]}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
