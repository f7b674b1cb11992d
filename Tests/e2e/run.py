#!/usr/bin/env python3
"""End-to-end suite: the real binaries as separate hosts, with real faults.

    python3 Tests/e2e/run.py BIN_DIR          (BIN_DIR holds breakerd, breakerctl, breaker-driver)

Hosts are Linux network namespaces (hb-srv runs breakerd on 10.77.0.1 with token files; hb-a and hb-b run
client processes using SharedCircuitBreaker), joined by a bridge inside hb-srv. Where namespaces cannot be
created, the suite says so in one line and runs the same scenarios over loopback with separate processes
(a partition is then a paused proxy in front of the server). Every scenario prints PASS/FAIL with the figures
it measured; the last line is "N passed, M failed". Needs root for namespaces. HB_E2E_ONLY=name,name runs only
those scenarios (their function names, e.g. leased_propagation).

    python3 Tests/e2e/run.py BIN_DIR --tls    the same scenarios over mutual TLS (issue #18)

With --tls, certificates are made at start with the openssl command (a CA; breakerd's certificate for its
address; one client certificate per host), breakerd runs with --tls-cert/--tls-key/--tls-client-ca, and every
client (breaker-driver, the Python driver, breakerctl, raw reports) speaks TLS and presents its host's
certificate, so the audit log names hosts by their certificates.
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else None
TLS = "--tls" in sys.argv[2:]
TIMEOUT_MS = 100          # the clients' request timeout
SLACK_MS = 100            # how much later than the timeout a call may end
LEASE_MS = 1000           # breakerd's --lease-ms (its default)
TRIPS = 50                # trips measured by the leased propagation scenario
WORK = tempfile.mkdtemp(prefix="hb-e2e-")
CLIENT_TOKEN = "e2e-client-token-0123456789abcdef"
ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"


def now_ms():
    return int(time.time() * 1000)


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class Topology:
    """Where each host runs, and how to cut or heal host B."""

    def __init__(self):
        self.netns = False
        self.reason = ""

    def setup(self):
        try:
            if os.geteuid() != 0:
                raise RuntimeError("not running as root")
            if shutil.which("ip") is None:
                raise RuntimeError("iproute2 (ip) is not installed")
            self.teardown()
            for ns in ("hb-srv", "hb-a", "hb-b"):
                sh("ip", "netns", "add", ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", "hb-srv", "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", "hb-srv", "addr", "add", "10.77.0.1/24", "dev", "br0")
            sh("ip", "-n", "hb-srv", "link", "set", "br0", "up")
            for host, addr in (("a", "10.77.0.2"), ("b", "10.77.0.3")):
                sh("ip", "link", "add", f"hb-{host}-s", "type", "veth", "peer", "name", f"hb-{host}-c")
                sh("ip", "link", "set", f"hb-{host}-s", "netns", "hb-srv")
                sh("ip", "link", "set", f"hb-{host}-c", "netns", f"hb-{host}")
                sh("ip", "-n", "hb-srv", "link", "set", f"hb-{host}-s", "master", "br0")
                sh("ip", "-n", "hb-srv", "link", "set", f"hb-{host}-s", "up")
                sh("ip", "-n", f"hb-{host}", "addr", "add", f"{addr}/24", "dev", f"hb-{host}-c")
                sh("ip", "-n", f"hb-{host}", "link", "set", f"hb-{host}-c", "up")
            for host in ("a", "b"):
                if sh("ip", "netns", "exec", f"hb-{host}", "ping", "-c", "1", "-W", "2", "10.77.0.1", check=False).returncode != 0 \
                        and not self._tcp_reachable(host):
                    raise RuntimeError(f"host {host} cannot reach 10.77.0.1")
            self.netns = True
            print("hosts: network namespaces hb-srv (breakerd 10.77.0.1), hb-a (10.77.0.2), hb-b (10.77.0.3)")
        except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
            detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else str(e)
            self.teardown()
            self.reason = detail
            print(f"network namespaces unavailable ({detail}): running the same scenarios over loopback with separate processes")

    def _tcp_reachable(self, host):
        return True  # ping may be missing; the scenarios fail clearly if TCP does not pass

    def teardown(self):
        for ns in ("hb-srv", "hb-a", "hb-b"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def prefix(self, host):
        """The command prefix that runs a process on `host` ("srv", "a", "b")."""
        return ["ip", "netns", "exec", f"hb-{host}"] if self.netns else []

    @property
    def server_host(self):
        return "10.77.0.1" if self.netns else "127.0.0.1"

    def cut_b(self):
        sh("ip", "-n", "hb-b", "link", "set", "hb-b-c", "down")

    def heal_b(self):
        sh("ip", "-n", "hb-b", "link", "set", "hb-b-c", "up")


TOPO = Topology()


def make_certificates():
    """A CA, breakerd's certificate (for 10.77.0.1 and 127.0.0.1) and a client certificate per host, in WORK."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=WORK, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "30", "-subj", "/CN=hb-e2e-ca")
    for name, san in (("server", "IP:10.77.0.1,IP:127.0.0.1"), ("client-a", ""), ("client-b", "")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}")
        with open(os.path.join(WORK, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "30", "-extfile", f"{name}.ext")


def tls_args(host):
    """The TLS options of a client on `host` ("a" or "b"), empty without --tls."""
    if not TLS:
        return []
    who = "client-b" if host == "b" else "client-a"
    return ["--tls-ca", os.path.join(WORK, "ca.pem"), "--tls-cert", os.path.join(WORK, f"{who}.pem"),
            "--tls-key", os.path.join(WORK, f"{who}.key")]


class Server:
    def __init__(self, port=7433, db=None):
        self.port = port
        self.db = db or os.path.join(WORK, "e2e.sqlite")
        self.proc = None

    def start(self):
        for name, token in (("client", CLIENT_TOKEN), ("admin", ADMIN_TOKEN)):
            with open(os.path.join(WORK, name), "w") as f:
                f.write(token + "\n")
        args = TOPO.prefix("srv") + [
            f"{BIN}/breakerd", "--listen", f"{TOPO.server_host}:{self.port}", "--db", self.db,
            "--client-token-file", os.path.join(WORK, "client"), "--admin-token-file", os.path.join(WORK, "admin"),
            "--lease-ms", str(LEASE_MS), "--log-level", "warning"]
        if TLS:
            args += ["--tls-cert", os.path.join(WORK, "server.pem"), "--tls-key", os.path.join(WORK, "server.key"),
                     "--tls-client-ca", os.path.join(WORK, "ca.pem")]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "breakerd.log"), "a"), text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"breakerd did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def signal(self, sig):
        os.kill(self.proc.pid if not TOPO.netns else self._inner_pid(), sig)

    def _inner_pid(self):
        # `ip netns exec` execs the command, so the pid is breakerd's own.
        return self.proc.pid

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def address(self):
        return f"{TOPO.server_host}:{self.port}"


class Driver:
    """A breaker-driver process on a host; its JSON lines are collected by a thread."""

    def __init__(self, host, args, server_address, token="client"):
        cmd = TOPO.prefix(host) + [f"{BIN}/breaker-driver"] + args + [
            "--server", server_address, "--token-file", os.path.join(WORK, token), "--name", f"host-{host}",
            "--timeout-ms", str(TIMEOUT_MS)] + tls_args(host)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.lines.append(obj)

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def mark(self):
        """How many lines have arrived so far (for `wait_for(since=)` and `since`)."""
        with self.lock:
            return len(self.lines)

    def since(self, mark):
        with self.lock:
            return self.lines[mark:]

    def wait_for(self, predicate, timeout=10, since=0):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                fresh = self.lines[since:]
            for obj in fresh:
                if predicate(obj):
                    return obj
            since += len(fresh)
            time.sleep(0.005)
        return None

    def finish(self, timeout=60):
        self.proc.wait(timeout=timeout)
        self.thread.join(timeout=5)
        return self.snapshot()

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait()


def ctl(*args, host="a"):
    cmd = TOPO.prefix(host) + [f"{BIN}/breakerctl", *args, "--server", SERVER.address,
                               "--token-file", os.path.join(WORK, "admin"), "--json"] + tls_args(host)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"breakerctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def report(resource, outcome, host="a"):
    """A raw report over the protocol (admin token), from `host`."""
    script = (
        "import socket,ssl,sys,json;s=socket.create_connection((sys.argv[1],int(sys.argv[2])));"
        "c=ssl.create_default_context(cafile=sys.argv[6]) if len(sys.argv)>6 else None;"
        "c and c.load_cert_chain(sys.argv[7],sys.argv[8]);s=c.wrap_socket(s,server_hostname=sys.argv[1]) if c else s;"
        "f=s.makefile('r');"
        "s.sendall((json.dumps({'op':'hello','token':sys.argv[3]})+'\\n').encode());f.readline();"
        "s.sendall((json.dumps({'op':'report','resource':sys.argv[4],'outcome':sys.argv[5]})+'\\n').encode());"
        "print(f.readline().strip())")
    r = subprocess.run(TOPO.prefix(host) + [sys.executable, "-c", script, TOPO.server_host, str(SERVER.port), ADMIN_TOKEN,
                                            resource, outcome] + tls_args(host)[1::2], capture_output=True, text=True,
                       timeout=10)
    return json.loads(r.stdout)


RESULTS = []
LEASE_FIGURES = {}
ONLY = set(filter(None, os.environ.get("HB_E2E_ONLY", "").split(",")))  # scenario function names, to run a few


def scenario(number, name):
    def wrap(fn):
        def run():
            start = time.time()
            try:
                figures = fn() or ""
                RESULTS.append(True)
                print(f"PASS scenario {number}: {name} ({figures}) [{time.time() - start:.1f}s]", flush=True)
            except AssertionError as e:
                RESULTS.append(False)
                print(f"FAIL scenario {number}: {name}: {e}", flush=True)
            except Exception as e:  # noqa: BLE001 - a broken scenario is a failure, with its reason
                RESULTS.append(False)
                print(f"FAIL scenario {number}: {name}: {type(e).__name__}: {e}", flush=True)
        run.__name__ = fn.__name__
        return run
    return wrap


def calls_within_timeout(lines, label):
    slow = [l for l in lines if "ms" in l and l["ms"] > TIMEOUT_MS + SLACK_MS]
    assert not slow, f"{label}: {len(slow)} call(s) took longer than {TIMEOUT_MS}+{SLACK_MS} ms, worst {max(l['ms'] for l in slow):.0f} ms"
    return max((l["ms"] for l in lines if "ms" in l), default=0)


# ---------------------------------------------------------------------------------------------------------------

@scenario(1, "failures seen on host A open the circuit for host B")
def propagation():
    ctl("configure", "s1", "--failure-threshold", "5/5", "--cooldown", "60s")
    b = Driver("b", ["calls", "--resource", "s1", "--interval-ms", "20"], SERVER.address)
    assert b.wait_for(lambda l: l.get("result") == "ok"), "host B made no successful call"
    time.sleep(0.2)  # B's watch is in place
    # A fails until the shared circuit rejects it (a call that timed out on a loaded machine counts only locally).
    a = Driver("a", ["fail", "--resource", "s1", "--count", "10"], SERVER.address)
    lines_a = a.finish()
    shared_failures = [l for l in lines_a if l.get("result") == "failed" and not l.get("fallback")]
    assert len(shared_failures) >= 5, f"host A: {lines_a}"
    event = b.wait_for(lambda l: l.get("event") == "closed->open", timeout=5)
    assert event, f"host B's watch got no closed->open event; server: {ctl('status', 's1')[0]['state']}; B's last lines: {b.snapshot()[-3:]}"
    rejected = b.wait_for(lambda l: str(l.get("result", "")).startswith("rejected") and l["t"] >= event["t"], timeout=5)
    b.kill()
    tripping = [l for l in shared_failures if l["t"] <= event["t"]][-1]
    propagation_ms = event["t"] - tripping["t"]
    assert rejected, "host B's next acquire was not rejected"
    assert propagation_ms <= 100, f"propagation took {propagation_ms} ms"
    return (f"propagation {propagation_ms} ms from A's tripping failure to B's event; "
            f"B's next call rejected {rejected['t'] - tripping['t']} ms after it")


@scenario(2, "half-open across hosts: 3 permits in total over all hosts")
def half_open():
    ctl("configure", "s2", "--failure-threshold", "1/1", "--success-threshold", "3/3", "--cooldown", "500ms",
        "--permit-ttl", "30s")
    report("s2", "failure")
    time.sleep(0.6)
    drivers = [Driver(h, ["probe-burst", "--resource", "s2", "--concurrency", "12"], SERVER.address) for h in ("a", "b", "a", "b")]
    permits = [d.finish()[-1]["permits"] for d in drivers]
    status = ctl("status", "s2")[0]
    assert sum(permits) == 3, f"permits granted per process {permits}"
    assert status["state"] == "half_open" and status["half_open"]["permits_out"] == 3, status
    return f"permits per process {permits}, 48 concurrent asks, total {sum(permits)}"


@scenario(3, "the client holding the only probe permit is killed: the circuit leaves half-open within permitTTL + 1 s")
def killed_prober():
    ctl("configure", "s3", "--failure-threshold", "1/1", "--success-threshold", "1/1", "--cooldown", "200ms",
        "--permit-ttl", "2s")
    report("s3", "failure")
    time.sleep(0.3)
    holder = Driver("a", ["hold-permit", "--resource", "s3"], SERVER.address)
    assert holder.wait_for(lambda l: "permit" in l, timeout=10), "host A got no permit"
    holder.kill(signal.SIGKILL)
    killed = now_ms()
    prober = Driver("b", ["probe-until-granted", "--resource", "s3", "--max-seconds", "10"], SERVER.address)
    granted = prober.finish()[-1]
    waited = granted["t"] - killed
    assert granted.get("granted"), "host B never got a probe"
    assert waited <= 3000, f"took {waited} ms (permitTTL 2 s + 1 s)"
    return f"B got a fresh probe {waited} ms after A was killed (permitTTL 2000 ms)"


@scenario(4, "breakerd killed with SIGKILL under load and restarted: nothing acknowledged lost, clients back within 2 s")
def kill_restart():
    global SERVER
    load = [Driver(h, ["calls", "--resource", "s4", "--interval-ms", "10"], SERVER.address) for h in ("a", "b")]
    time.sleep(0.3)
    ctl("configure", "c4", "--failure-threshold", "3/7", "--cooldown", "45s")
    ctl("configure", "f4", "--failure-threshold", "1/2")
    ctl("open", "f4", "--reason", "e2e force", "--for", "30m")
    ctl("configure", "t4", "--failure-threshold", "1/1", "--cooldown", "60s")
    tripped = report("t4", "failure")
    assert tripped["state"] == "open", tripped
    SERVER.kill9()
    killed = now_ms()
    time.sleep(0.5)
    SERVER = Server(port=SERVER.port, db=SERVER.db).start()
    restarted = now_ms()
    back = [d.wait_for(lambda l: l["t"] > restarted and l.get("fallback") is False, timeout=5) for d in load]
    time.sleep(0.2)
    for d in load:
        d.kill()
    f4, c4, t4 = ctl("status", "f4")[0], ctl("status", "c4")[0], ctl("status", "t4")[0]
    assert f4["state"] == "forced_open" and f4["forced"]["reason"] == "e2e force", f4
    assert c4["policy"]["failure_threshold"] == "3/7" and c4["policy"]["cooldown_ms"] == 45000, c4
    assert t4["state"] == "open" and t4["retry_after_ms"] > 50000, t4
    assert all(back), "a client did not come back to the shared circuit within 5 s"
    reconnect = [b["t"] - restarted for b in back]
    assert max(reconnect) <= 2000, f"reconnect times {reconnect} ms"
    worst = max(calls_within_timeout(d.snapshot(), f"host {h}") for d, h in zip(load, "ab"))
    return f"down {restarted - killed} ms; shared again after {reconnect} ms; worst call {worst:.0f} ms; force, configure, trip kept"


@scenario(5, "breakerd paused with SIGSTOP for 5 s: clients fall back, then resume shared mode after SIGCONT")
def pause():
    load = [Driver(h, ["calls", "--resource", "s5", "--interval-ms", "20"], SERVER.address) for h in ("a", "b")]
    assert all(d.wait_for(lambda l: l.get("fallback") is False) for d in load), "no shared call before the pause"
    SERVER.signal(signal.SIGSTOP)
    stopped = now_ms()
    time.sleep(5)
    SERVER.signal(signal.SIGCONT)
    resumed = now_ms()
    back = [d.wait_for(lambda l: l["t"] > resumed and l.get("fallback") is False, timeout=5) for d in load]
    for d in load:
        d.kill()
    during = [[l for l in d.snapshot() if stopped + 300 < l["t"] < resumed and "result" in l] for d in load]
    assert all(during), "no calls during the pause"
    assert all(all(l["fallback"] for l in ls) for ls in during), "a call during the pause was not decided by the fallback"
    assert all(back), "a client did not resume shared mode within 5 s"
    worst = max(calls_within_timeout(d.snapshot(), "pause") for d in load)
    resume_ms = [b["t"] - resumed for b in back]
    return f"{sum(map(len, during))} calls in fallback during the pause, worst {worst:.0f} ms; shared again after {resume_ms} ms"


@scenario(6, "host B partitioned: B falls back to its local breaker, A unaffected; healed, B shared within 2 s")
def partition():
    a = Driver("a", ["calls", "--resource", "s6", "--interval-ms", "20"], SERVER.address)
    proxy = None
    if TOPO.netns:
        b = Driver("b", ["calls", "--resource", "s6", "--interval-ms", "20"], SERVER.address)
    else:
        proxy = Proxy(SERVER.port, delay_ms=0).start()
        b = Driver("b", ["calls", "--resource", "s6", "--interval-ms", "20"], f"127.0.0.1:{proxy.port}")
    assert a.wait_for(lambda l: l.get("fallback") is False) and b.wait_for(lambda l: l.get("fallback") is False)
    cut = now_ms()
    TOPO.cut_b() if TOPO.netns else proxy.pause()
    time.sleep(2)
    TOPO.heal_b() if TOPO.netns else proxy.resume()
    healed = now_ms()
    back = b.wait_for(lambda l: l["t"] > healed and l.get("fallback") is False, timeout=10)
    time.sleep(0.2)
    a.kill()
    b.kill()
    if proxy:
        proxy.stop()
    b_cut = [l for l in b.snapshot() if cut + 300 < l["t"] < healed and "result" in l]
    a_cut = [l for l in a.snapshot() if cut < l["t"] < healed and "result" in l]
    assert b_cut and all(l["fallback"] for l in b_cut), "host B was not in fallback while cut off"
    assert a_cut and not any(l["fallback"] for l in a_cut), "host A fell back although it was not cut off"
    assert back, "host B did not come back within 10 s"
    heal_ms = back["t"] - healed
    assert heal_ms <= 2000, f"B shared again after {heal_ms} ms"
    worst = calls_within_timeout(b.snapshot(), "host B")
    return f"B: {len(b_cut)} fallback calls, worst {worst:.0f} ms; A: {len(a_cut)} shared calls; B shared again {heal_ms} ms after healing"


@scenario(7, "slow network: a 50 ms delay proxy in front of the server; acquire times out into the fallback, never hangs")
def slow_network():
    proxy = Proxy(SERVER.port, delay_ms=50, host="srv").start()
    b = Driver("b", ["calls", "--resource", "s7", "--interval-ms", "20", "--count", "40"], f"{TOPO.server_host}:{proxy.port}")
    lines = [l for l in b.finish(timeout=60) if "result" in l]
    proxy.stop()
    assert len(lines) == 40, f"{len(lines)} calls"
    fallback = sum(1 for l in lines if l["fallback"])
    # 50 ms each way puts the round trip at the 100 ms timeout: a call is answered just in time or falls back,
    # and none waits past the timeout.
    worst = calls_within_timeout(lines, "slow network")
    assert fallback >= 10, f"only {fallback} of 40 calls fell back with a ~100 ms round trip and a 100 ms timeout"
    shared = [l["ms"] for l in lines if not l["fallback"]]
    return (f"{fallback}/40 calls timed out into the fallback, {len(shared)} answered in time "
            f"(slowest {max(shared, default=0):.0f} ms); worst call {worst:.0f} ms (timeout {TIMEOUT_MS} ms)")


# --- leased mode (issue #14) ----------------------------------------------------------------------------------

def leased(resource, *args):
    """`calls` arguments for a leased client of `resource`."""
    return ["calls", "--consistency", "leased", "--resource", resource, *args]


def wait_leases(resource, count, timeout=10):
    """Waits until `count` connections hold a live lease on `resource` (breakerctl status); returns the ms waited."""
    start = now_ms()
    seen = None
    while now_ms() - start < timeout * 1000:
        seen = ctl("status", resource)[0].get("leases", 0)
        if seen == count:
            return now_ms() - start
        time.sleep(0.05)
    raise AssertionError(f"{resource}: {seen} connection(s) hold a lease after {timeout} s, expected {count}")


def percentile(values, q):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)]


def rejected(line):
    return str(line.get("result", "")).startswith("rejected")


def stop_all(*drivers):
    for d in drivers:
        d.kill()


@scenario(8, f"leased: host A's failures trip the circuit; time until host B's leased client rejects, {TRIPS} trips")
def leased_propagation():
    ctl("configure", "l8", "--failure-threshold", "1/1", "--cooldown", "60s")
    fail = os.path.join(WORK, "fail-l8")
    a = Driver("a", leased("l8", "--interval-ms", "5", "--fail-while", fail), SERVER.address)
    b = Driver("b", leased("l8", "--interval-ms", "2"), SERVER.address)
    to_reject, to_event = [], []
    try:
        wait_leases("l8", 2)
        for trip in range(TRIPS):
            time.sleep(0.15)  # three flush intervals after the reset: both clients hold a fresh lease
            ma, mb = a.mark(), b.mark()
            open(fail, "w").close()
            # With 1/1, A's first failure is the one that trips the circuit.
            failed = a.wait_for(lambda l: l.get("result") == "failed", timeout=5, since=ma)
            os.remove(fail)
            assert failed, f"trip {trip}: host A made no failing call; A's last lines {a.snapshot()[-3:]}"
            rejection = b.wait_for(rejected, timeout=5, since=mb)
            event = b.wait_for(lambda l: l.get("event") == "closed->open", timeout=5, since=mb)
            assert rejection and event, f"trip {trip}: host B did not reject; server: {ctl('status', 'l8')[0]['state']}"
            to_reject.append(rejection["t"] - failed["t"])
            to_event.append(event["t"] - failed["t"])
            mb = b.mark()
            ctl("reset", "l8", host="srv")
            assert b.wait_for(lambda l: l.get("result") == "ok", timeout=5, since=mb), f"trip {trip}: B not back"
    finally:
        stop_all(a, b)
    p50, p99 = percentile(to_reject, 50), percentile(to_reject, 99)
    figures = (f"A's tripping failure to B's first rejected call over {len(to_reject)} trips: p50 {p50} ms, "
               f"p99 {p99} ms, max {max(to_reject)} ms; to B's pushed event: p50 {percentile(to_event, 50)} ms, "
               f"p99 {percentile(to_event, 99)} ms")
    LEASE_FIGURES["propagation"] = figures
    assert p99 <= 300, figures
    return figures


@scenario(9, "leased: a force from breakerctl on the server host reaches leased clients on both hosts")
def leased_force():
    bound_ms = 500
    ctl("configure", "l9", "--failure-threshold", "5/10", "--cooldown", "60s")
    clients = [Driver(h, leased("l9", "--interval-ms", "5"), SERVER.address) for h in ("a", "b")]
    try:
        wait_leases("l9", 2)
        marks = [d.mark() for d in clients]
        asked_open = now_ms()
        ctl("open", "l9", "--reason", "e2e leased force", host="srv")
        opened = now_ms()
        seen_open = [d.wait_for(lambda l: l.get("result") == "rejected:forced_open", timeout=5, since=m)
                     for d, m in zip(clients, marks)]
        assert all(seen_open), f"a leased client did not reject after the force: {[d.snapshot()[-2:] for d in clients]}"
        time.sleep(0.3)
        marks_closed = [d.mark() for d in clients]
        asked_close = now_ms()
        ctl("close", "l9", "--reason", "e2e leased force", host="srv")
        closed = now_ms()
        seen_closed = [d.wait_for(lambda l: l.get("result") == "ok", timeout=5, since=m)
                       for d, m in zip(clients, marks_closed)]
        assert all(seen_closed), "a leased client did not allow calls after the force closed"
        # Between the first rejection and the close, nothing went through.
        leaked = [l for d, first, m in zip(clients, seen_open, marks_closed) for l in d.since(0)[:m]
                  if l["t"] > first["t"] and l.get("result") == "ok"]
        time.sleep(0.2)
        assert ctl("status", "l9")[0].get("leases") == 2, "the leases did not survive the forces"
        ctl("release", "l9", host="srv")
    finally:
        stop_all(*clients)
    assert not leaked, f"{len(leaked)} call(s) went through a forced-open circuit: {leaked[:2]}"
    open_ms = [s["t"] - opened for s in seen_open]
    close_ms = [s["t"] - closed for s in seen_closed]
    assert max(open_ms + close_ms) <= bound_ms, f"forced open seen after {open_ms} ms, closed after {close_ms} ms"
    # Measured from when breakerctl started (a process start and a connection, ~tens of ms, are included).
    open_from = [s["t"] - asked_open for s in seen_open]
    close_from = [s["t"] - asked_close for s in seen_closed]
    return (f"forced open: A, B rejected {open_from} ms after breakerctl started (it returned after "
            f"{opened - asked_open} ms); forced closed: allowed after {close_from} ms (returned after "
            f"{closed - asked_close} ms); bound {bound_ms} ms after it returned")


@scenario(10, "leased: host B cut off: its lease lapses, its fallback decides within lease_ms + timeout; A unaffected")
def leased_partition():
    bound_ms = LEASE_MS + TIMEOUT_MS + 500
    ctl("configure", "l10", "--failure-threshold", "5/10", "--cooldown", "60s")
    proxy = None
    a = Driver("a", leased("l10", "--interval-ms", "10"), SERVER.address)
    if TOPO.netns:
        b = Driver("b", leased("l10", "--interval-ms", "10"), SERVER.address)
    else:
        proxy = Proxy(SERVER.port, delay_ms=0).start()
        b = Driver("b", leased("l10", "--interval-ms", "10"), f"127.0.0.1:{proxy.port}")
    try:
        wait_leases("l10", 2)
        time.sleep(0.2)
        ma, mb = a.mark(), b.mark()
        cut = now_ms()
        TOPO.cut_b() if TOPO.netns else proxy.pause()
        fell_back = b.wait_for(lambda l: l.get("fallback") is True, timeout=(bound_ms + 2000) / 1000, since=mb)
        time.sleep(max(0.0, (cut + LEASE_MS + 500 - now_ms()) / 1000))  # B's push window on the server is over
        during = ctl("status", "l10")[0].get("leases", 0)
        time.sleep(0.3)
        TOPO.heal_b() if TOPO.netns else proxy.resume()
        healed = now_ms()
        back_ms = wait_leases("l10", 2, timeout=10)
        back = b.wait_for(lambda l: l["t"] > healed and l.get("fallback") is False, timeout=5, since=mb)
    finally:
        stop_all(a, b)
        if proxy:
            proxy.stop()
    assert fell_back, "host B's fallback never decided while it was cut off"
    lapse_ms = fell_back["t"] - cut
    b_cut = [l for l in b.since(mb) if "result" in l and l["t"] < healed]
    b_local = [l for l in b_cut if l["t"] < fell_back["t"]]
    b_fallback = [l for l in b_cut if l["t"] > fell_back["t"]]
    a_cut = [l for l in a.since(ma) if "result" in l and l["t"] < healed]
    assert lapse_ms <= bound_ms, f"B's fallback decided {lapse_ms} ms after the cut (bound {bound_ms} ms)"
    assert all(l["fallback"] for l in b_fallback), "B left the fallback while still cut off"
    assert a_cut and all(l["result"] == "ok" and not l["fallback"] for l in a_cut), "host A was affected by B's cut"
    assert during == 1, f"{during} connection(s) held a lease while B was cut off (expected A's alone)"
    assert back, "host B did not leave the fallback after healing"
    worst = calls_within_timeout(b_cut, "host B")
    a_median = sorted(l["ms"] for l in a_cut)[len(a_cut) // 2]
    return (f"B: {len(b_local)} calls decided under its lease, fallback from {lapse_ms} ms after the cut (bound "
            f"{bound_ms} ms), {len(b_fallback)} fallback calls, worst {worst:.0f} ms; A: {len(a_cut)} calls ok, "
            f"median {a_median:.2f} ms, 1 lease held during the cut; healed: 2 leases after {back_ms} ms")


@scenario(11, "leased: breakerd SIGKILLed and restarted: leases renew by themselves, an acknowledged force stays")
def leased_kill_restart():
    global SERVER
    ctl("configure", "l11", "--failure-threshold", "5/10", "--cooldown", "60s")
    ctl("configure", "l11f", "--failure-threshold", "5/10", "--cooldown", "60s")
    clients = [Driver(h, leased("l11", "--interval-ms", "10"), SERVER.address) for h in ("a", "b")]
    forced = Driver("b", leased("l11f", "--interval-ms", "10"), SERVER.address)
    try:
        wait_leases("l11", 2)
        wait_leases("l11f", 1)
        mf = forced.mark()
        ctl("open", "l11f", "--reason", "e2e leased kill", "--for", "30m", host="srv")
        acked = now_ms()
        assert forced.wait_for(lambda l: l.get("result") == "rejected:forced_open", timeout=5, since=mf), \
            "the forced client did not reject before the kill"
        SERVER.kill9()
        killed = now_ms()
        time.sleep(0.5)
        SERVER = Server(port=SERVER.port, db=SERVER.db).start()
        restarted = now_ms()
        renewed_ms = wait_leases("l11", 2, timeout=10)
        back = [d.wait_for(lambda l: l["t"] > restarted and l.get("result") == "ok" and l.get("fallback") is False,
                           timeout=5) for d in clients]
        wait_leases("l11f", 1, timeout=5)
        time.sleep(0.3)
        status = ctl("status", "l11f")[0]
    finally:
        stop_all(*clients, forced)
    assert all(back), ("a leased client did not come back to the shared circuit: last lines "
                       f"{[d.snapshot()[-2:] for d in clients]}")
    assert status["state"] == "forced_open" and status["forced"]["reason"] == "e2e leased kill", status
    after_ack = [l for l in forced.since(mf) if "result" in l and l["t"] > acked + 500]
    assert after_ack and all(rejected(l) for l in after_ack), "a call went through the acknowledged force"
    after_restart = [l for l in after_ack if l["t"] > restarted + renewed_ms + 200]
    assert after_restart and all(l["result"] == "rejected:forced_open" for l in after_restart), after_restart[:2]
    return (f"down {restarted - killed} ms; leases renewed {renewed_ms} ms after the restart; "
            f"{len(after_ack)} calls on the forced resource all rejected, before and after")


@scenario(12, "leased: half-open across 4 processes on 2 hosts: exactly half_open_permits probes run")
def leased_half_open():
    slow_ms = 1500
    ctl("configure", "l12", "--failure-threshold", "1/1", "--success-threshold", "3/3", "--half-open-permits", "3",
        "--cooldown", "1s", "--permit-ttl", "30s")
    slow = os.path.join(WORK, "slow-l12")
    clients = [Driver(h, leased("l12", "--interval-ms", "10", "--tasks", "4", "--slow-while", slow,
                                "--slow-ms", str(slow_ms)), SERVER.address) for h in ("a", "b", "a", "b")]
    try:
        wait_leases("l12", 4)
        marks = [d.mark() for d in clients]
        tripped = report("l12", "failure")
        assert tripped["state"] == "open", tripped
        assert all(d.wait_for(lambda l: l.get("event") == "closed->open", timeout=5, since=m)
                   for d, m in zip(clients, marks)), "a client did not hear the trip"
        open(slow, "w").close()  # from now on, a call that runs is a probe, and it holds its permit for slow_ms
        end = time.time() + 5
        status = ctl("status", "l12")[0]
        while time.time() < end and not (status["state"] == "half_open" and status["half_open"]["permits_out"] == 3):
            time.sleep(0.05)
            status = ctl("status", "l12")[0]
        time.sleep(0.3)
        held = ctl("status", "l12")[0]
        os.remove(slow)
        end = time.time() + 10
        while time.time() < end and ctl("status", "l12")[0]["state"] != "closed":
            time.sleep(0.1)
        final = ctl("status", "l12")[0]
    finally:
        stop_all(*clients)
    probes = [l for d, m in zip(clients, marks) for l in d.since(m) if "result" in l and l["ms"] >= slow_ms * 0.9]
    per_process = [sum(1 for l in d.since(m) if "result" in l and l["ms"] >= slow_ms * 0.9)
                   for d, m in zip(clients, marks)]
    asked = sum(1 for d, m in zip(clients, marks) for l in d.since(m) if l.get("result") == "rejected:half_open")
    assert held["state"] == "half_open" and held["half_open"]["permits_out"] == 3, held
    assert len(probes) == 3, f"{len(probes)} probes ran (per process {per_process}); expected 3"
    assert all(l["result"] == "ok" for l in probes), probes
    assert final["state"] == "closed", final
    return (f"probes per process {per_process}, total {len(probes)} of 3 permits; {asked} calls rejected "
            f"half-open meanwhile; closed after the probes")


# --- policies that match real outages (issue #16) ---------------------------------------------------------------

@scenario(13, "quorum: with min_failing_clients 2, host A's failures alone never open the circuit for host B; both do")
def quorum():
    ctl("configure", "q13", "--failure-threshold", "3/10", "--cooldown", "60s", "--min-failing-clients", "2")
    # Host A fails 40 times: every call runs (none rejected) and the circuit stays closed.
    a = Driver("a", ["fail", "--resource", "q13", "--count", "40"], SERVER.address)
    lines_a = a.finish()
    failed_a = [l for l in lines_a if l.get("result") == "failed" and not l.get("fallback")]
    assert len(failed_a) == 40, f"host A: {len(failed_a)} of 40 calls failed through the shared circuit: {lines_a[-3:]}"
    alone = ctl("status", "q13")[0]
    assert alone["state"] == "closed", f"host A's failures alone opened the circuit: {alone}"
    assert alone["window"]["failures"] == 10 and alone["window"]["failing_clients"] == 1, alone["window"]
    # Host B still gets through.
    b = Driver("b", ["calls", "--resource", "q13", "--count", "5", "--interval-ms", "5"], SERVER.address)
    lines_b = [l for l in b.finish() if "result" in l]
    assert [l["result"] for l in lines_b] == ["ok"] * 5 and not any(l["fallback"] for l in lines_b), lines_b
    # One failure from host B: the window's failures now come from two clients, which trips the circuit for both.
    b = Driver("b", ["fail", "--resource", "q13", "--count", "3"], SERVER.address)
    lines_b = b.finish()
    results_b = [l["result"] for l in lines_b]
    both = ctl("status", "q13")[0]
    assert both["state"] == "open", f"failures from A and B did not open the circuit: {both}"
    assert results_b[0] == "failed" and results_b[1:] == ["rejected", "rejected"], f"host B: {lines_b}"
    last = ctl("history", "q13", "--limit", "1")[0]
    assert last["cause"] == "failure_threshold", last
    a = Driver("a", ["calls", "--resource", "q13", "--count", "1"], SERVER.address)
    lines_a = [l for l in a.finish() if "result" in l]
    assert lines_a and lines_a[0]["result"] == "rejected:open", f"host A: {lines_a}"
    return (f"A alone: 40 failures, window {alone['window']['failures']}/{alone['window']['calls']} failed from "
            f"{alone['window']['failing_clients']} client, closed; B's 5 calls ok; one failure from B: open "
            f"(failing clients {both['window']['failing_clients']}), then A and B rejected")

# --- mixed languages (issue #17): the Python client shares circuits with the Swift one --------------------------

PYTHON_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "tests",
                             "driver.py")


class PythonDriver(Driver):
    """clients/python/tests/driver.py (SharedCircuitBreakerPolicy) on a host: the same JSON lines as
    breaker-driver, read by the same methods."""

    def __init__(self, host, args, server_address, token="client"):
        cmd = TOPO.prefix(host) + [sys.executable, PYTHON_DRIVER] + args + [
            "--server", server_address, "--token-file", os.path.join(WORK, token), "--name", f"python-host-{host}",
            "--timeout-ms", str(TIMEOUT_MS)] + tls_args(host)
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def errors(self):
        """The end of what the driver wrote to stderr (its exception, if it died)."""
        self.stderr.seek(0)
        return self.stderr.read()[-600:]


def one_direction(resource, start_failing, watching):
    """Once `watching` has made a call, `start_failing()` starts a client that fails until the shared circuit
    rejects it; returns (ms from its tripping failure to the watcher's event, ms to the watcher's first rejected
    call)."""
    assert watching.wait_for(lambda l: l.get("result") == "ok"), \
        f"{resource}: the watching client made no call {getattr(watching, 'errors', lambda: '')()}"
    time.sleep(0.2)  # its watch is in place
    lines = start_failing().finish()
    shared = [l for l in lines if l.get("result") == "failed" and not l.get("fallback")]
    assert len(shared) >= 3, f"{resource}: the failing client: {lines}"
    assert any(str(l.get("result", "")).startswith("rejected") for l in lines), f"{resource}: never rejected {lines}"
    event = watching.wait_for(lambda l: l.get("event") == "closed->open", timeout=5)
    assert event, (f"{resource}: the other language's client heard no closed->open; "
                   f"last lines {watching.snapshot()[-3:]}")
    rejected = watching.wait_for(
        lambda l: str(l.get("result", "")).startswith("rejected:open") and l["t"] >= event["t"], timeout=5)
    watching.kill()
    assert rejected, f"{resource}: the other language's client was not rejected after the trip"
    tripping = [l for l in shared if l["t"] <= event["t"]][-1]
    return event["t"] - tripping["t"], rejected["t"] - tripping["t"]


@scenario(14, "mixed languages: a Swift client on host A and a Python client on host B share one circuit both ways; "
              "half-open across both grants exactly half_open_permits probes")
def mixed_language():
    ctl("configure", "m14", "--failure-threshold", "3/3", "--cooldown", "60s")
    python_b = PythonDriver("b", ["calls", "--resource", "m14", "--interval-ms", "20"], SERVER.address)
    swift_to_python = one_direction("m14", lambda: Driver("a", ["fail", "--resource", "m14", "--count", "6"],
                                                          SERVER.address), python_b)
    ctl("reset", "m14", host="srv")
    swift_a = Driver("a", ["calls", "--resource", "m14", "--interval-ms", "20"], SERVER.address)
    python_to_swift = one_direction("m14", lambda: PythonDriver("b", ["fail", "--resource", "m14", "--count", "6"],
                                                                SERVER.address), swift_a)
    assert max(swift_to_python + python_to_swift) <= 500, (swift_to_python, python_to_swift)

    ctl("configure", "m14h", "--failure-threshold", "1/1", "--success-threshold", "3/3", "--half-open-permits", "3",
        "--cooldown", "500ms", "--permit-ttl", "30s")
    report("m14h", "failure")
    time.sleep(0.6)
    # Python takes the first probe (its call then lasts 2 s); then 2 x 12 Swift asks and 2 x 12 Python calls come
    # at once. Swift asks without reporting (its permits stay out); Python reports each probe's success.
    first = PythonDriver("b", ["burst", "--resource", "m14h", "--threads", "1", "--hold-ms", "2000"], SERVER.address)
    end = time.time() + 10
    while time.time() < end and ctl("status", "m14h")[0].get("half_open", {}).get("permits_out", 0) < 1:
        time.sleep(0.02)
    swift = [Driver("a", ["probe-burst", "--resource", "m14h", "--concurrency", "12"], SERVER.address)
             for _ in range(2)]
    python = [first] + [PythonDriver("b", ["burst", "--resource", "m14h", "--threads", "12", "--hold-ms", "1500",
                                           *(["--async"] if i == 1 else [])], SERVER.address) for i in range(2)]
    swift_permits = [d.finish()[-1]["permits"] for d in swift]
    python_permits = [d.finish()[-1]["permits"] for d in python]
    status = ctl("status", "m14h")[0]
    total = sum(swift_permits) + sum(python_permits)
    assert total == 3, f"permits: Swift {swift_permits}, Python {python_permits}"
    half = status.get("half_open", {})
    assert status["state"] == "closed" if sum(python_permits) == 3 else (
        status["state"] == "half_open" and half["permits_out"] == sum(swift_permits)
        and half["successes"] == sum(python_permits)), status
    return (f"Swift A's trip to Python B: event {swift_to_python[0]} ms, rejected {swift_to_python[1]} ms; Python B's "
            f"trip to Swift A: event {python_to_swift[0]} ms, rejected {python_to_swift[1]} ms; half-open permits: "
            f"Swift {swift_permits}, Python {python_permits}, total {total} of 3")


PYTHON_SCENARIOS = (mixed_language,)


class Proxy:
    """A TCP proxy in its own process (on `host`), delaying every chunk by `delay_ms` each way.
    SIGSTOP pauses it: connections stay up but nothing passes (a partition on loopback)."""

    def __init__(self, target_port, delay_ms, host=None):
        self.target_port = target_port
        self.delay_ms = delay_ms
        self.host = host
        self.proc = None
        self.port = None

    def start(self):
        prefix = TOPO.prefix(self.host) if self.host else []
        self.proc = subprocess.Popen(prefix + [sys.executable, __file__, "--proxy", TOPO.server_host, str(self.target_port),
                                               str(self.delay_ms)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        return self

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()


def run_proxy(host, target_port, delay_ms):
    """The proxy process: accept, and pump both ways with a delay (one thread per direction)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)

    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay_ms:
                    time.sleep(delay_ms / 1000)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection((host, target_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def main():
    global SERVER
    if len(sys.argv) > 1 and sys.argv[1] == "--proxy":
        run_proxy(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    if not BIN or not os.path.exists(f"{BIN}/breaker-driver"):
        sys.exit("usage: run.py BIN_DIR (with breakerd, breakerctl, breaker-driver built)")
    TOPO.setup()
    if TLS:
        make_certificates()
        print("TLS: every connection is mutual TLS (breakerd --tls-cert/--tls-key/--tls-client-ca)")
    SERVER = Server(port=7433 if TOPO.netns else 0).start()
    try:
        for s in (propagation, half_open, killed_prober, kill_restart, pause, partition, slow_network,
                  leased_propagation, leased_force, leased_partition, leased_kill_restart, leased_half_open,
                  quorum):
            if not ONLY or s.__name__ in ONLY:
                s()
        for s in PYTHON_SCENARIOS:  # the Python client's (clients/python, issue #17)
            if not ONLY or s.__name__ in ONLY:
                s()
    finally:
        SERVER.stop()
        TOPO.teardown()
        shutil.rmtree(WORK, ignore_errors=True)
    passed = sum(RESULTS)
    print(f"{passed} passed, {len(RESULTS) - passed} failed")
    sys.exit(0 if passed == len(RESULTS) else 1)


if __name__ == "__main__":
    main()
