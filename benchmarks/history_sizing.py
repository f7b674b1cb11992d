#!/usr/bin/env python3
"""What history costs: bytes on disk per stored transition, and RSS per transition held in memory.
usage: history_sizing.py BREAKERD   (a release build: swift build -c release --product breakerd)

10,000 breakers get 20 transitions each (force/release with a 40-byte reason): 200,000 transitions. Memory
keeps each breaker's newest 16; the database keeps up to 1,000 per breaker. Prints one JSON object."""
import json, os, signal, socket, subprocess, sys, tempfile

binary = sys.argv[1]
work = tempfile.mkdtemp(prefix="hb-history-")
db = os.path.join(work, "history.sqlite")
BREAKERS, FLIPS = 10_000, 10  # 10 force/release pairs: 20 transitions each


def start():
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--db", db, "--snapshot-interval", "1h",
                          "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    return p, int(line.rsplit(":", 1)[1])


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def pipeline(port, lines):
    s = socket.create_connection(("127.0.0.1", port))
    r = s.makefile("rb")
    for i in range(0, len(lines), 5_000):
        batch = lines[i:i + 5_000]
        s.sendall(b"".join(batch))
        for _ in batch:
            reply = r.readline()
            assert b'"ok":true' in reply, reply
    s.close()


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)


names = [b"svc/%d" % i for i in range(BREAKERS)]
p, port = start()
pipeline(port, [b'{"op":"configure","resource":"%s","policy":{"failure_threshold":"1/2"}}\n' % n for n in names])
rss_before = rss_kib(p.pid)
stop(p)
db_before = os.path.getsize(db)

p, port = start()
rss_restored_empty = rss_kib(p.pid)
reason = b"r" * 40
flips = []
for _ in range(FLIPS):
    flips += [b'{"op":"force","resource":"%s","state":"open","reason":"%s"}\n' % (n, reason) for n in names]
    flips += [b'{"op":"release","resource":"%s"}\n' % n for n in names]
pipeline(port, flips)
rss_after = rss_kib(p.pid)
stop(p)
db_after = os.path.getsize(db)
transitions = BREAKERS * FLIPS * 2
in_memory = BREAKERS * min(16, FLIPS * 2)
print(json.dumps({
    "breakers": BREAKERS, "transitions": transitions,
    "disk_bytes_per_transition": round((db_after - db_before) / transitions, 1),
    "rss_kib_before": rss_restored_empty, "rss_kib_after": rss_after,
    "rss_bytes_per_transition_in_memory": round((rss_after - rss_restored_empty) * 1024 / in_memory, 1),
    "transitions_in_memory": in_memory,
    "db_bytes_before": db_before, "db_bytes_after": db_after,
}))
