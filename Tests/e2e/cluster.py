#!/usr/bin/env python3
"""Cluster end-to-end suite (issue #19): 3 etcd members and 3 breakerd replicas, each on a host of its own,
with clients on two more hosts, and real faults.

    python3 Tests/e2e/cluster.py BIN_DIR [--rounds 20]     (as root: network namespaces)

Hosts are Linux network namespaces joined by a bridge: e1-e3 (etcd, 10.79.0.11-13), r1-r3 (breakerd
--cluster, 10.79.0.21-23, --leader-lease 2s) and a, b (clients, 10.79.0.31-32). Clients are breaker-driver
processes (SharedCircuitBreaker given all three replicas), breakerctl, and a checker process on host a that asks
every replica in turn and records every decision it gets. Scenarios:

1. the leader killed with SIGKILL under load, ROUNDS times, with a configure, a force and a trip acknowledged
   right before each kill: how long until a new leader serves and until every client is back on the shared
   circuit (target: lease + 1 s), and nothing acknowledged lost;
2. the leader cut off from etcd (not from clients): it stops serving within its lease, and no client sees two
   leaders' decisions (no generation goes backwards, no permit granted twice, no overlap in time);
3. one etcd member killed: nothing visible to clients;
4. etcd's quorum lost (two members stopped): the leader stops serving, clients fall back; quorum back: they
   recover.

Every scenario prints PASS/FAIL with what it measured; the last line is "N passed, M failed". Needs root, ip
(iproute2), etcd (etcd-server); without namespaces it says so and fails (the scenarios need hosts).
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else None
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 20
LEASE_S = 2.0
WORK = tempfile.mkdtemp(prefix="hb-cluster-e2e-")
ETCD = {"e1": "10.79.0.11", "e2": "10.79.0.12", "e3": "10.79.0.13"}
REPLICAS = {"r1": "10.79.0.21", "r2": "10.79.0.22", "r3": "10.79.0.23"}
CLIENTS = {"a": "10.79.0.31", "b": "10.79.0.32"}
CLIENT_TOKEN = "cluster-e2e-client-token-0123456789"
ADMIN_TOKEN = "cluster-e2e-admin-token-0123456789ab"
SERVERS = ",".join(f"{ip}:7433" for ip in REPLICAS.values())
RESULTS = []
FIGURES = {}


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def ns(host):
    return ["ip", "netns", "exec", f"hb-c{host}"]


class Topology:
    hosts = list(ETCD) + list(REPLICAS) + list(CLIENTS)

    def setup(self):
        self.teardown()
        sh("ip", "netns", "add", "hb-csw")
        sh("ip", "-n", "hb-csw", "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", "hb-csw", "link", "set", "br0", "up")
        addresses = {**ETCD, **REPLICAS, **CLIENTS}
        for host in self.hosts:
            sh("ip", "netns", "add", f"hb-c{host}")
            sh("ip", "-n", f"hb-c{host}", "link", "set", "lo", "up")
            sh("ip", "link", "add", f"hbc-{host}-s", "type", "veth", "peer", "name", f"hbc-{host}-h")
            sh("ip", "link", "set", f"hbc-{host}-s", "netns", "hb-csw")
            sh("ip", "link", "set", f"hbc-{host}-h", "netns", f"hb-c{host}")
            sh("ip", "-n", "hb-csw", "link", "set", f"hbc-{host}-s", "master", "br0")
            sh("ip", "-n", "hb-csw", "link", "set", f"hbc-{host}-s", "up")
            sh("ip", "-n", f"hb-c{host}", "addr", "add", f"{addresses[host]}/24", "dev", f"hbc-{host}-h")
            sh("ip", "-n", f"hb-c{host}", "link", "set", f"hbc-{host}-h", "up")

    def teardown(self):
        for host in ["sw"] + self.hosts:
            subprocess.run(["ip", "netns", "del", f"hb-c{host}"], capture_output=True)

    def cut_from_etcd(self, replica):
        for ip in ETCD.values():
            sh(*ns(replica), "ip", "route", "add", "blackhole", f"{ip}/32")

    def heal(self, replica):
        for ip in ETCD.values():
            sh(*ns(replica), "ip", "route", "del", "blackhole", f"{ip}/32", check=False)


TOPO = Topology()


class Etcd:
    def __init__(self, name):
        self.name, self.ip, self.proc = name, ETCD[name], None

    def start(self):
        cluster = ",".join(f"{n}=http://{ip}:2380" for n, ip in ETCD.items())
        self.proc = subprocess.Popen(
            ns(self.name) + ["etcd", "--name", self.name, "--data-dir", os.path.join(WORK, self.name),
                             "--listen-client-urls", f"http://{self.ip}:2379",
                             "--advertise-client-urls", f"http://{self.ip}:2379",
                             "--listen-peer-urls", f"http://{self.ip}:2380",
                             "--initial-advertise-peer-urls", f"http://{self.ip}:2380",
                             "--initial-cluster", cluster, "--initial-cluster-state", "new",
                             "--initial-cluster-token", "hb-cluster-e2e", "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, f"{self.name}.log"), "a"))
        return self

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()


class Replica:
    def __init__(self, name):
        self.name, self.ip, self.proc = name, REPLICAS[name], None

    @property
    def address(self):
        return f"{self.ip}:7433"

    def start(self):
        for role, token in (("client", CLIENT_TOKEN), ("admin", ADMIN_TOKEN)):
            path = os.path.join(WORK, role)
            with open(path, "w") as f:
                f.write(token + "\n")
            os.chmod(path, 0o600)
        self.proc = subprocess.Popen(
            ns(self.name) + [f"{BIN}/breakerd", "--listen", self.address, "--http-listen", f"{self.ip}:7434",
                             "--cluster", "etcd://" + ",".join(f"{ip}:2379" for ip in ETCD.values()),
                             "--cluster-name", "e2e", "--leader-lease", f"{LEASE_S:g}s",
                             "--client-token-file", os.path.join(WORK, "client"),
                             "--admin-token-file", os.path.join(WORK, "admin"), "--log-level", "notice"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, f"{self.name}.log"), "a"), text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"{self.name} did not start: {line!r}")
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def request(host, address, body, token=ADMIN_TOKEN, timeout=3):
    """One request from `host` to `address` (a fresh connection with hello); the reply object, or an error."""
    script = ("import socket,sys,json\n"
              "h,p=sys.argv[1].rsplit(':',1)\n"
              "s=socket.create_connection((h,int(p)),timeout=float(sys.argv[4]));f=s.makefile('r')\n"
              "s.sendall((json.dumps({'op':'hello','token':sys.argv[2]})+'\\n').encode());f.readline()\n"
              "s.sendall((sys.argv[3]+'\\n').encode());print(f.readline().strip())\n")
    r = subprocess.run(ns(host) + [sys.executable, "-c", script, address, token, json.dumps(body), str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 10)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"ok": False, "error": {"code": "unreachable", "message": r.stderr.strip()[-200:]}}


def leader(replicas, host="a", timeout=20):
    """The replica that serves (answers `list`), waiting for one at most `timeout` s; (replica, seconds)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for r in replicas:
            if r.proc and r.proc.poll() is None and request(host, r.address, {"op": "list", "limit": 1}, timeout=1).get("ok"):
                return r, time.monotonic() - start
        time.sleep(0.05)
    return None, time.monotonic() - start


class Driver:
    """A breaker-driver on a host, making calls through the shared breaker; its lines timestamped on arrival."""

    def __init__(self, host, resource):
        cmd = ns(host) + [f"{BIN}/breaker-driver", "calls", "--resource", resource, "--interval-ms", "20",
                          "--server", SERVERS, "--token-file", os.path.join(WORK, "client"), "--name", f"host-{host}",
                          "--timeout-ms", "200", "--fallback", "allow"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            obj["t"] = time.monotonic()
            with self.lock:
                self.lines.append(obj)

    def calls_since(self, t):
        with self.lock:
            return [l for l in self.lines if "call" in l and l["t"] >= t]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def back_on_shared(drivers, since, timeout=20):
    """Seconds from `since` until every driver made a call decided by the shared circuit after its last call
    decided by the fallback (since `since`), waiting at most `timeout`; None when one never did."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        times = []
        for d in drivers:
            calls = d.calls_since(since)
            fell = [c for c in calls if c["fallback"]]
            after = [c for c in calls if not c["fallback"] and (not fell or c["t"] > fell[-1]["t"])]
            if not after or (fell and time.monotonic() - fell[-1]["t"] < 0.3):
                break
            times.append(after[0]["t"] - since)
        else:
            return max(times)
        time.sleep(0.05)
    return None


def settle(drivers, timeout=30):
    """Waits until every driver's last 10 calls were decided by the shared circuit (a scenario starts from a
    quiet cluster, not from the last one's recovery)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(len(c := d.calls_since(0)) >= 10 and not any(x["fallback"] for x in c[-10:]) for d in drivers):
            return True
        time.sleep(0.1)
    return False


def record(name, ok, detail):
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name} ({detail})", flush=True)


def leader_kills(members, replicas, drivers):
    new_leader, back, lost = [], [], []
    for n in range(1, ROUNDS + 1):
        current, _ = leader(replicas)
        if current is None:
            lost.append(f"round {n}: no leader")
            break
        # Acknowledged right before the kill: a configure, a force, and a trip.
        acks = [
            request("a", current.address, {"op": "configure", "resource": f"cfg-{n}",
                                           "policy": {"failure_threshold": "1/4"}}),
            request("a", current.address, {"op": "force", "resource": f"cfg-{n}", "state": "open",
                                           "reason": f"round {n}", "ttl_ms": 3_600_000}),
            request("a", current.address, {"op": "configure", "resource": f"trip-{n}",
                                           "policy": {"failure_threshold": "1/1", "cooldown_ms": 3_600_000}}),
            request("a", current.address, {"op": "report", "resource": f"trip-{n}", "outcome": "failure"}),
        ]
        if not all(a.get("ok") for a in acks) or acks[3].get("state") != "open":
            lost.append(f"round {n}: not acknowledged: {acks}")
            continue
        since = time.monotonic()
        current.kill()
        others = [r for r in replicas if r is not current]
        successor, took = leader(others)
        if successor is None:
            lost.append(f"round {n}: no new leader within 20 s")
            current.start()
            continue
        new_leader.append(took)
        b = back_on_shared(drivers, since)
        back.append(b if b is not None else float("inf"))
        status = request("b", successor.address, {"op": "status", "resource": f"cfg-{n}"}).get("breaker", {})
        trip = request("b", successor.address, {"op": "status", "resource": f"trip-{n}"}).get("breaker", {})
        if status.get("state") != "forced_open" or status.get("forced", {}).get("reason") != f"round {n}" \
                or status.get("policy", {}).get("failure_threshold") != "1/4" or trip.get("state") != "open":
            lost.append(f"round {n}: {status} {trip}")
        current.start()
    target = LEASE_S + 1
    FIGURES["leader_kill"] = {"rounds": len(new_leader), "new_leader_s": new_leader, "clients_back_s": back}
    ok = len(new_leader) == ROUNDS and not lost and max(back, default=99) <= target
    record(f"scenario 1: the leader SIGKILLed under load, {ROUNDS} rounds", ok,
           f"new leader serving after median {statistics.median(new_leader or [0]):.2f} s, max "
           f"{max(new_leader or [0]):.2f} s; every client back on the shared circuit after median "
           f"{statistics.median(back or [0]):.2f} s, max {max(back or [0]):.2f} s (target {target:g} s); "
           f"acknowledged changes lost: {lost or 'none'}")


CHECKER = r"""
import json, socket, sys, time
servers, token, resource, seconds = sys.argv[1].split(","), sys.argv[2], sys.argv[3], float(sys.argv[4])
conns = {}
def connect(a):
    h, p = a.rsplit(":", 1)
    s = socket.create_connection((h, int(p)), timeout=0.5)
    f = s.makefile("r")
    s.sendall((json.dumps({"op": "hello", "token": token}) + "\n").encode()); f.readline()
    return s, f
end = time.monotonic() + seconds
while time.monotonic() < end:
    for a in servers:
        try:
            if a not in conns:
                conns[a] = connect(a)
            s, f = conns[a]
            sent = time.monotonic()
            s.sendall((json.dumps({"op": "acquire", "resource": resource}) + "\n").encode())
            reply = json.loads(f.readline())
            print(json.dumps({"t": sent, "r": time.monotonic(), "server": a, "reply": reply}), flush=True)
        except (OSError, ValueError):
            conns.pop(a, None)
    time.sleep(0.005)
"""


def checker(seconds, resource):
    return subprocess.Popen(ns("a") + [sys.executable, "-c", CHECKER, SERVERS, CLIENT_TOKEN, resource, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def partition(members, replicas, drivers):
    settle(drivers)
    current, _ = leader(replicas)
    setup = [
        request("a", current.address, {"op": "configure", "resource": "perm", "policy": {
            "failure_threshold": "1/1", "cooldown_ms": 0, "half_open_permits": 1, "permit_ttl_ms": 100}}),
        request("a", current.address, {"op": "report", "resource": "perm", "outcome": "failure"}),
    ]
    probe = checker(12, "perm")
    time.sleep(3)
    cut_at = time.monotonic()
    TOPO.cut_from_etcd(current.name)
    out, _ = probe.communicate(timeout=60)
    TOPO.heal(current.name)
    answers = [json.loads(l) for l in out.splitlines() if l.strip()]
    served = [x for x in answers if x["reply"].get("ok")]
    old = [x for x in served if x["server"] == current.address]
    new = [x for x in served if x["server"] != current.address]
    old_last = max((x["r"] for x in old), default=0)
    new_first = min((x["t"] for x in new), default=float("inf"))
    stopped_after = old_last - cut_at
    generations = [x["reply"]["generation"] for x in sorted(served, key=lambda x: x["r"])]
    backwards = sum(1 for a, b in zip(generations, generations[1:]) if b < a)
    permits = [(x["reply"]["generation"], x["reply"]["permit"]) for x in served if "permit" in x["reply"]]
    twice = len(permits) - len(set(permits))
    not_leader = sum(1 for x in answers if x["reply"].get("error", {}).get("code") == "not_leader")
    FIGURES["partition"] = {"old_leader_stopped_after_s": stopped_after, "decisions": len(served),
                            "permits": len(permits), "new_leader_first_after_s": new_first - cut_at}
    ok = setup[0].get("ok") and stopped_after <= LEASE_S and old_last < new_first and not backwards and not twice \
        and len(new) > 0 and len(permits) > 10
    record("scenario 2: the leader cut off from etcd, not from clients", ok,
           f"its last decision {stopped_after:.2f} s after the cut (lease {LEASE_S:g} s); the new leader's first "
           f"{new_first - cut_at:.2f} s after it (no overlap: {old_last < new_first}); {len(served)} decisions, "
           f"{len(permits)} permits, generations backwards {backwards} times, permits granted twice {twice}; "
           f"{not_leader} not_leader answers")
    time.sleep(1)


def etcd_member_killed(members, replicas, drivers):
    settle(drivers)
    view = request("a", leader(replicas)[0].address, {"op": "cluster"})
    raft_leader = next((m["endpoint"] for m in view.get("etcd", []) if m.get("leader")), None)
    victim = next(m for m in members if f"{m.ip}:2379" != raft_leader)
    since = time.monotonic()
    victim.kill()
    time.sleep(5)
    calls = [c for d in drivers for c in d.calls_since(since)]
    fell = [c for c in calls if c["fallback"]]
    record("scenario 3: one etcd member (not etcd's raft leader) killed", calls and not fell,
           f"{victim.name} killed; {len(calls)} calls over 5 s on hosts a and b, {len(fell)} decided by the fallback")
    victim.start()
    time.sleep(2)


def quorum_lost(members, replicas, drivers):
    settle(drivers)
    current, _ = leader(replicas)
    stopped = members[:2]
    since = time.monotonic()
    for m in stopped:
        m.signal(signal.SIGSTOP)
    end = since + LEASE_S + 3
    stopped_after = None
    while time.monotonic() < end:
        if request("a", current.address, {"op": "list", "limit": 1}, timeout=1).get("error", {}).get("code") == "not_leader":
            stopped_after = time.monotonic() - since
            break
        time.sleep(0.05)
    time.sleep(1)
    fell = [c for d in drivers for c in d.calls_since(since) if c["fallback"]]
    back_at = time.monotonic()
    for m in stopped:
        m.signal(signal.SIGCONT)
    successor, took = leader(replicas, timeout=30)
    back = back_on_shared(drivers, back_at, timeout=30)
    FIGURES["quorum"] = {"leader_stopped_after_s": stopped_after, "leader_again_after_s": took,
                         "clients_back_after_s": back}
    ok = stopped_after is not None and stopped_after <= LEASE_S + 0.5 and len(fell) > 0 and successor is not None \
        and back is not None
    record("scenario 4: etcd's quorum lost (2 of 3 members stopped), then back", ok,
           f"the leader stopped serving {stopped_after if stopped_after is None else round(stopped_after, 2)} s "
           f"after; {len(fell)} calls decided by the fallback meanwhile; quorum back: a leader serves after "
           f"{took:.2f} s, every client shared again after {back if back is None else round(back, 2)} s")


def main():
    if not BIN or not os.path.exists(f"{BIN}/breaker-driver"):
        sys.exit("usage: cluster.py BIN_DIR (with breakerd, breakerctl, breaker-driver built)")
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("etcd") is None:
        print("the cluster scenarios need root, ip (iproute2) and etcd (etcd-server) for their hosts")
        print("0 passed, 1 failed")
        sys.exit(1)
    members, replicas, drivers = [], [], []
    try:
        TOPO.setup()
        print("hosts: etcd e1-e3 (10.79.0.11-13), breakerd r1-r3 (10.79.0.21-23), clients a, b (10.79.0.31-32)")
        members = [Etcd(n).start() for n in ETCD]
        time.sleep(2)
        replicas = [Replica(n).start() for n in REPLICAS]
        first, took = leader(replicas, timeout=30)
        print(f"leader {first.name if first else 'none'} serving {took:.2f} s after the replicas started", flush=True)
        drivers = [Driver(h, "load") for h in CLIENTS]
        time.sleep(2)
        only = set(filter(None, os.environ.get("HB_CLUSTER_ONLY", "").split(",")))  # e.g. partition
        for scenario in (leader_kills, partition, etcd_member_killed, quorum_lost):
            if not only or scenario.__name__ in only:
                scenario(members, replicas, drivers)
        print("figures: " + json.dumps(FIGURES), flush=True)
    finally:
        for d in drivers:
            d.kill()
        for r in replicas:
            r.kill()
        for m in members:
            m.kill()
        TOPO.teardown()
        logs = os.environ.get("HB_CLUSTER_LOGS")
        if logs:
            shutil.copytree(WORK, logs, dirs_exist_ok=True)
        shutil.rmtree(WORK, ignore_errors=True)
    passed = sum(RESULTS)
    print(f"{passed} passed, {len(RESULTS) - passed} failed")
    sys.exit(0 if passed == len(RESULTS) and RESULTS else 1)


if __name__ == "__main__":
    main()
