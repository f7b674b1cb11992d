#!/usr/bin/env python3
"""1,000,000 breakers in breakerd: resident memory, snapshot, and restore time. Prints one JSON object.
usage: million.py BREAKERD WORKDIR"""
import json, os, signal, socket, subprocess, sys, time

binary, work = sys.argv[1], sys.argv[2]
db = os.path.join(work, "million.sqlite")
count = 1_000_000


def start():
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--db", db, "--max-breakers", str(count * 2),
                          "--snapshot-interval", "1h", "--log-level", "info"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return p, int(line.rsplit(":", 1)[1]), time.monotonic() - t0


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


p, port, _ = start()
base = rss_kib(p.pid)
s = socket.create_connection(("127.0.0.1", port))
r = s.makefile("rb")
chunk = 50_000
for start_at in range(0, count, chunk):
    s.sendall(b"".join(b'{"op":"acquire","resource":"svc/%d"}\n' % i for i in range(start_at, start_at + chunk)))
    for _ in range(chunk):
        r.readline()
rss = rss_kib(p.pid)
t0 = time.monotonic()
p.send_signal(signal.SIGTERM)  # graceful: writes a snapshot of all of them
p.wait()
shutdown = time.monotonic() - t0
p2, port2, restart = start()
s2 = socket.create_connection(("127.0.0.1", port2))
s2.sendall(b'{"op":"stats"}\n')
total = json.loads(s2.makefile("r").readline())["stats"]["breakers"]["total"]
restored_line = ""
p2.send_signal(signal.SIGTERM)
_, err = p2.communicate(timeout=120)
restored_line = next((l for l in err.splitlines() if "restored" in l), "")
print(json.dumps({"breakers": total, "rss_kib": rss, "rss_empty_kib": base, "shutdown_with_snapshot_s": round(shutdown, 2),
                  "restart_to_listening_s": round(restart, 2), "restored_log": restored_line,
                  "db_bytes": os.path.getsize(db)}))
