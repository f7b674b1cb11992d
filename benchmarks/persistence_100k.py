#!/usr/bin/env python3
"""Measures breakerd's persistence with 100,000 breakers on a real file.

1. creates 100,000 breakers (pipelined acquires), 2. asks for a snapshot of all of them (SIGUSR1) while a
second connection times acquire round trips, 3. stops gracefully and restarts, timing the restore.

usage: persistence_100k.py PATH/TO/breakerd [COUNT]
"""
import json, os, signal, socket, subprocess, sys, tempfile, time

binary = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
db = os.path.join(tempfile.mkdtemp(), "bench.sqlite")


def start():
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--db", db, "--snapshot-interval", "1h",
                          "--max-breakers", str(count * 2)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return p, int(line.rsplit(":", 1)[1]), time.monotonic() - t0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s, s.makefile("r")


def ask(conn, obj):
    s, r = conn
    s.sendall((json.dumps(obj) + "\n").encode())
    return json.loads(r.readline())


p, port, _ = start()
s, r = connect(port)
batch = "".join(json.dumps({"op": "acquire", "resource": f"svc/{i}", "policy": {"failure_threshold": "5/20"}}) + "\n"
                for i in range(count)).encode()
t0 = time.monotonic()
s.sendall(batch)
for _ in range(count):
    r.readline()
create_s = time.monotonic() - t0

probe, admin = connect(port), connect(port)
ask(probe, {"op": "acquire", "resource": "hot"})
p.send_signal(signal.SIGUSR1)
worst, trips = 0.0, 0
while True:
    for _ in range(50):
        t = time.monotonic()
        ask(probe, {"op": "acquire", "resource": "hot"})
        worst = max(worst, time.monotonic() - t)
        trips += 1
    snap = ask(admin, {"op": "stats"})["stats"]["snapshot"]
    if snap["count"] >= 1:
        break
p.send_signal(signal.SIGTERM)
p.wait()

p2, port2, restart_s = start()
total = ask(connect(port2), {"op": "stats"})["stats"]["breakers"]["total"]
restored = next((l for l in p2.stderr if "restored" in l), "").strip()
p2.send_signal(signal.SIGTERM)
p2.wait()
print(f"breakers={total} create_s={create_s:.2f} snapshot_rows={snap['rows']} snapshot_ms={snap['duration_ms']} "
      f"worst_acquire_during_snapshot_ms={worst * 1000:.1f} acquires_during_snapshot={trips} "
      f"restart_to_listening_ms={restart_s * 1000:.0f} db_bytes={os.path.getsize(db)}")
print(restored)
