#!/usr/bin/env python3
"""The soak (issue #13): breakerd under a steady mix of good and hostile traffic, its memory sampled every second.

    python3 benchmarks/soak.py BIN_DIR SECONDS       (BIN_DIR holds breakerd; a release build is what counts:
                                                      swift build -c release --product breakerd, then
                                                      BIN_DIR = .build/release)

For SECONDS it runs, all against one breakerd on 127.0.0.1 with token files and a fresh SQLite file:
- 2 well-behaved clients (client token): acquire/report round trips, answers counted per second;
- 4 pipeliners that never read (small receive buffer): `list` and `acquire` requests written as fast as the
  server takes them, each connection replaced every 20-40 s;
- 20 watchers that never read (small receive buffer), each replaced every 20-40 s (breakerd may disconnect
  one sooner: past 8 MiB waiting);
- 50 slowloris peers: a byte a second, never `hello`; breakerd cuts each 10 s after it connected and a new one
  takes its place;
- breaker churn (admin token): configure, force open with a 0.5-3 s TTL and a 700-byte reason, and delete,
  over 1,000 names, up to ~600 operations a second.
Every count is bounded and everything stops by itself. At the end it prints breakerd's RSS at the start, at
minute 1 (1/10 of the run for runs shorter than 10 minutes), at its peak and at the end, the well-behaved
clients' answers per second (min/median), and two verdicts: "flat" when the peak is at most 1.5x the RSS at
the reference point, and whether the well-behaved clients were answered in every second. The exit status is
0 only when both hold and breakerd stopped cleanly.
"""
import json
import os
import random
import select
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "abuse"))
from harness import ADMIN_TOKEN, CLIENT_TOKEN, Conn, Server, write_file  # noqa: E402

WELL_BEHAVED = 2
PIPELINERS = 4
WATCHERS = 20
SLOWLORIS = 50
CHURN_NAMES = 1000
CHURN_BATCH = 60          # requests per pipelined churn batch
CHURN_PAUSE = 0.1         # seconds between churn batches (~600 operations a second at most)
CHURN_REASON = "soak: " + "r" * 700  # force reasons make each watcher's events ~200 KB a second
REQUEST_TIMEOUT = 5.0     # a well-behaved request unanswered this long counts as a stall
SLOW_LINE = b'{"op":"ping","pad":"' + b"x" * 100  # what a slowloris peer sends, a byte a second; never ends


class Run:
    """What every load thread shares: the port, the clock, the stop flag, and the counters."""

    def __init__(self, port, seconds):
        self.port = port
        self.seconds = seconds
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = [[0] * (int(seconds) + 2) for _ in range(WELL_BEHAVED)]
        self.worst_ms = 0.0
        self.stalls = 0
        self.errors = []
        self.counts = dict.fromkeys(["churn_ops", "pipeliner_bytes", "pipeliners_opened", "watchers_opened",
                                     "slowloris_opened", "slowloris_cut"], 0)
        self.slowloris_lifetimes = []

    def elapsed(self):
        return time.monotonic() - self.started

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def note_error(self, text):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(f"{self.elapsed():.1f}s {text}")


def hello(conn, token):
    reply = conn.request({"op": "hello", "token": token})
    if reply.get("ok") is not True:
        raise RuntimeError(f"hello failed: {reply}")


def well_behaved(run, index):
    """Acquire/report round trips on its own ten resources; counts answers per second."""
    rng = random.Random(index)
    conn = None
    i = 0
    while not run.stop.is_set():
        try:
            if conn is None:
                conn = Conn(run.port, timeout=REQUEST_TIMEOUT)
                hello(conn, CLIENT_TOKEN)
            resource = f"good-{index}-{i % 10}"
            outcome = "failure" if rng.random() < 0.05 else "success"
            for request in ({"op": "acquire", "resource": resource},
                            {"op": "report", "resource": resource, "outcome": outcome}):
                sent = time.monotonic()
                reply = conn.request(request)
                took = (time.monotonic() - sent) * 1000
                if "ok" not in reply:
                    raise RuntimeError(f"not a reply: {reply}")
                second = int(run.elapsed())
                with run.lock:
                    if second < len(run.answers[index]):
                        run.answers[index][second] += 1
                    run.worst_ms = max(run.worst_ms, took)
            i += 1
        except Exception as e:  # a stall, a close or a bad reply: counted, then a fresh connection
            with run.lock:
                run.stalls += 1
            run.note_error(f"well-behaved {index}: {type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def churn(run):
    """Configure, force with a short TTL, and delete, over a rotating set of names (admin token)."""
    conn = None
    j = 0
    policy = {"failure_threshold": "3/10", "cooldown_ms": 2000}
    while not run.stop.is_set():
        try:
            if conn is None:
                conn = Conn(run.port, timeout=30)
                hello(conn, ADMIN_TOKEN)
            batch = []
            for _ in range(CHURN_BATCH // 3):
                batch.append({"op": "configure", "resource": f"churn-{j % CHURN_NAMES}", "policy": policy})
                batch.append({"op": "force", "resource": f"churn-{(j - 300) % CHURN_NAMES}", "state": "open",
                              "ttl_ms": 500 + (j * 37) % 2500, "reason": CHURN_REASON})
                batch.append({"op": "delete", "resource": f"churn-{(j - 700) % CHURN_NAMES}"})
                j += 1
            conn.pipeline(batch, timeout=30)
            run.add("churn_ops", len(batch))
        except Exception as e:
            run.note_error(f"churn: {type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
        run.stop.wait(CHURN_PAUSE)
    if conn is not None:
        conn.close()


class Nuisance:
    """One connection of the hostile kinds: it is written to without its replies being read (pipeliners,
    watchers) or fed a byte a second (slowloris), and replaced when its lifetime ends or breakerd closes it."""

    def __init__(self, run, kind, rng):
        self.kind = kind
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind != "slowloris":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", run.port))
        if kind != "slowloris":
            # hello alone first, and its reply read: bytes pipelined behind a hello count against the 16 KiB
            # a connection may send before its hello succeeds.
            self.sock.sendall(json.dumps({"op": "hello", "token": CLIENT_TOKEN}).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = self.sock.recv(1)
                if not chunk:
                    raise OSError("closed before the hello reply")
                reply += chunk
            if b'"ok":true' not in reply:
                raise OSError(f"hello failed: {reply!r}")
        self.sock.setblocking(False)
        self.opened = time.monotonic()
        self.pending = b""
        self.closed = False
        if kind == "pipeliner":
            self.lifetime = rng.uniform(20, 40)
            op = b'{"op":"list","limit":1000}\n' if rng.random() < 0.5 else b'{"op":"acquire","resource":"pipe"}\n'
            self.refill = op * 512
            run.add("pipeliners_opened")
        elif kind == "watcher":
            self.lifetime = rng.uniform(20, 40)
            self.pending = b'{"op":"watch"}\n'
            self.refill = b""
            run.add("watchers_opened")
        else:
            self.lifetime = 60.0  # breakerd should cut it at 10 s
            self.refill = b""
            self.next_byte = time.monotonic()
            self.sent = 0
            run.add("slowloris_opened")

    def expired(self):
        return self.closed or time.monotonic() - self.opened > self.lifetime

    def pump(self, run):
        """Writes what it can without blocking; slowloris peers also read (their lines are tiny)."""
        try:
            if self.kind == "slowloris":
                readable, _, _ = select.select([self.sock], [], [], 0)
                if readable:
                    data = self.sock.recv(4096)
                    if not data:
                        self.closed = True
                        run.add("slowloris_cut")
                        with run.lock:
                            run.slowloris_lifetimes.append(time.monotonic() - self.opened)
                        return
                if time.monotonic() >= self.next_byte:
                    self.sock.send(SLOW_LINE[min(self.sent, len(SLOW_LINE) - 1):][:1])
                    self.sent += 1
                    self.next_byte += 1
                return
            if not self.pending:
                self.pending = self.refill
            while self.pending:
                n = self.sock.send(self.pending)
                if self.kind == "pipeliner":
                    run.add("pipeliner_bytes", n)
                self.pending = self.pending[n:] or self.refill
                if not self.refill:
                    break
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.closed = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def nuisances(run):
    """Keeps the hostile pools full: pipeliners, watchers and slowloris peers."""
    rng = random.Random(7)
    pools = {"pipeliner": PIPELINERS, "watcher": WATCHERS, "slowloris": SLOWLORIS}
    live = []
    while not run.stop.is_set():
        for peer in [p for p in live if p.expired()]:
            peer.close()
            live.remove(peer)
        for kind, size in pools.items():
            for _ in range(size - sum(1 for p in live if p.kind == kind)):
                try:
                    live.append(Nuisance(run, kind, rng))
                except OSError as e:
                    run.note_error(f"{kind} connect: {e}")
                    break
        for peer in live:
            peer.pump(run)
        run.stop.wait(0.1)
    for peer in live:
        peer.close()


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def main():
    if len(sys.argv) != 3 or not os.path.isfile(os.path.join(sys.argv[1], "breakerd")):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    bin_dir, seconds = os.path.abspath(sys.argv[1]), float(sys.argv[2])
    workdir = tempfile.mkdtemp(prefix="hb-soak-")
    client = write_file(os.path.join(workdir, "client.tokens"), CLIENT_TOKEN + "\n")
    admin = write_file(os.path.join(workdir, "admin.tokens"), ADMIN_TOKEN + "\n")
    server = Server(bin_dir, workdir, "soak", args=["--client-token-file", client, "--admin-token-file", admin])
    server.start()
    print(f"soak: {seconds:.0f} s against {server.binary} (pid {server.pid}, port {server.port}, db {server.db})",
          flush=True)
    run = Run(server.port, seconds)
    threads = [threading.Thread(target=well_behaved, args=(run, i), daemon=True) for i in range(WELL_BEHAVED)]
    threads += [threading.Thread(target=churn, args=(run,), daemon=True),
                threading.Thread(target=nuisances, args=(run,), daemon=True)]
    rss = [server.rss_kib()]  # rss[k]: KiB at the start of second k
    for t in threads:
        t.start()
    reference = min(60.0, seconds / 10)
    next_sample = run.started + 1
    while run.elapsed() < seconds and server.alive():
        time.sleep(max(0.0, next_sample - time.monotonic()))
        next_sample += 1
        value = server.rss_kib()
        if value is not None:
            rss.append(value)
        if len(rss) % 10 == 0:
            print(f"  t={run.elapsed():5.0f}s rss={value / 1024 if value else 0:.1f} MiB "
                  f"churn_ops={run.counts['churn_ops']} slowloris_cut={run.counts['slowloris_cut']}", flush=True)
    died = not server.alive()
    run.stop.set()
    for t in threads:
        t.join(timeout=30)
    stats = {}
    if not died:
        try:
            conn = Conn(server.port, timeout=10)
            hello(conn, CLIENT_TOKEN)
            stats = conn.request({"op": "stats"}).get("stats", {})
            conn.close()
        except Exception as e:
            run.note_error(f"final stats: {e}")
    code = server.stop(timeout=60) if not died else server.kill()

    full = int(seconds)
    per_second = [sum(run.answers[i][s] for i in range(WELL_BEHAVED)) for s in range(full)]
    silent = [s for s in range(full) if any(run.answers[i][s] == 0 for i in range(WELL_BEHAVED))]
    at_reference = rss[min(int(reference), len(rss) - 1)]
    peak = max(rss)
    flat = peak <= 1.5 * at_reference
    print("\nsummary")
    print(f"  rss: start {mib(rss[0])}, at {reference:.0f} s {mib(at_reference)}, peak {mib(peak)} "
          f"(at {rss.index(peak)} s), end {mib(rss[-1])}")
    print(f"  well-behaved answers/s (both clients): min {min(per_second)}, median "
          f"{statistics.median(per_second):.0f}, max {max(per_second)}; worst round trip {run.worst_ms:.0f} ms; "
          f"stalls/reconnects {run.stalls}")
    print(f"  load: {run.counts}; slowloris cut after "
          f"{statistics.median(run.slowloris_lifetimes) if run.slowloris_lifetimes else 0:.1f} s (median)")
    if stats:
        print(f"  breakerd stats: connections {stats.get('connections')}, total {stats.get('connections_total')}, "
              f"rejected {stats.get('rejected_connections')}, slow_consumer_disconnects "
              f"{stats.get('slow_consumer_disconnects')}, breakers {stats.get('breakers', {}).get('total')}, "
              f"transitions {stats.get('transitions')}, errors {stats.get('errors')}")
    for error in run.errors[:5]:
        print(f"  note: {error}")
    print(f"  breakerd exit code: {code}{' (it died during the run)' if died else ''}")
    print(f"verdict: {'flat' if flat else 'NOT flat'} (peak {mib(peak)} vs 1.5 x {mib(at_reference)} at "
          f"{reference:.0f} s)")
    print(f"verdict: well-behaved clients answered in every second: "
          f"{'yes' if not silent else 'NO, silent seconds ' + str(silent[:20])}")
    ok = flat and not silent and not died and code == 0
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"(breakerd's database and stderr kept in {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
