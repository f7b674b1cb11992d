#!/usr/bin/env python3
"""/readyz turns 503 when the database's commits fail (a full disk), and 200 again once one succeeds.

    python3 Tests/http/readyz_diskfull.py BIN_DIR

breakerd's database is on a small tmpfs (mounted here: needs root, as CI runs). The disk is filled with a
file, then new breakers are tripped over TCP (each trip is a transition: committed before its reply) until a
commit fails (their replies say so); /readyz must then
answer 503 with the reason, and after the file is removed and one more change commits, 200 again.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.path.abspath(sys.argv[1])


def readyz(http):
    try:
        with urllib.request.urlopen(f"http://{http}/readyz", timeout=5) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()


def main():
    if os.geteuid() != 0:
        print("FAIL: needs root to mount a tmpfs (CI runs as root)")
        return 1
    mnt = tempfile.mkdtemp(prefix="hb-readyz-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
    proc = None
    try:
        proc = subprocess.Popen(
            [f"{BIN}/breakerd", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
             "--db", f"{mnt}/breakerd.sqlite", "--snapshot-interval", "1h"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        main_line = proc.stdout.readline().strip()
        http_line = proc.stdout.readline().strip()
        port = int(main_line.rsplit(":", 1)[1])
        http = http_line.removeprefix("breakerd http on ")
        status, text = readyz(http)
        print(f"before: /readyz {status} {text!r}")
        if status != 200:
            print("FAIL: not ready at start")
            return 1

        filler = f"{mnt}/filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        print(f"filled the tmpfs: {os.path.getsize(filler)} bytes of filler")

        s = socket.create_connection(("127.0.0.1", port))
        rf = s.makefile("r")
        failed_at = None
        for i in range(50000):
            line = '{"op":"report","resource":"r-%06d-%s","outcome":"failure",' % (i, "x" * 100)
            line += '"policy":{"failure_threshold":"1/1","cooldown_ms":600000}}\n'
            s.sendall(line.encode())
            reply = rf.readline()
            if '"ok":false' in reply:
                failed_at = i
                print(f"commit failed at breaker {i}: {reply.strip()[:160]}")
                break
        if failed_at is None:
            print("FAIL: no commit failed on a full disk")
            return 1
        status, text = readyz(http)
        print(f"disk full: /readyz {status} {text!r}")
        ok = status == 503 and text.startswith("not ready: the last database write failed")

        os.remove(filler)
        s.sendall(b'{"op":"report","resource":"after-the-cleanup","outcome":"failure",'
                  b'"policy":{"failure_threshold":"1/1","cooldown_ms":600000}}\n')
        reply = rf.readline().strip()
        status2, text2 = readyz(http)
        print(f"space freed, one more change ({reply[:60]}): /readyz {status2} {text2!r}")
        ok = ok and status2 == 200 and '"ok":true' in reply
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)


if __name__ == "__main__":
    sys.exit(main())
