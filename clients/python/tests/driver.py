#!/usr/bin/env python3
"""A process that uses SharedCircuitBreakerPolicy the way a service would, printing one JSON line per event
(the lines of Swift's breaker-driver, so the same tests read both). For tests; not for production.

    driver.py calls --server H:P --resource R [--count N] [--interval-ms 20] [--fail-while FILE]
              [--pause-while FILE]  (no calls while FILE exists; {"paused": true} once it is seen)
              [--slow-while FILE --slow-ms 1000] [--tasks N] [--async] [--consistency strict|leased]
    driver.py fail --count N         calls that fail, then waits until breakerd has read the reports
    driver.py burst --threads N --hold-ms H [--async]   N concurrent calls at once, each holding its permit H ms

Every line carries "t" (wall-clock ms). Calls: {"call", "result": ok|failed|rejected:<state>, "ms", "fallback"};
transitions from on_state_change: {"event": "closed->open"}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time

if os.environ.get("HB_PY_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from highway_breaker import ProtectedCallError, SharedCircuitBreakerPolicy  # noqa: E402

OUT = threading.Lock()


class DriverFailure(Exception):
    pass


def emit(**fields):
    line = json.dumps({"t": int(time.time() * 1000), **fields})
    with OUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def breaker(args, events=True):
    policy = {}
    if args.failure_threshold:
        policy["failure_threshold"] = args.failure_threshold
    if args.success_threshold:
        policy["success_threshold"] = args.success_threshold
    if args.cooldown_ms is not None:
        policy["cooldown"] = args.cooldown_ms / 1000
    b = SharedCircuitBreakerPolicy(
        args.resource, args.server, token_file=args.token_file, client_name=args.name,
        fallback=args.fallback, consistency=args.consistency, timeout=args.timeout_ms / 1000,
        tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
        on_state_change=(lambda _, old, new: emit(event=f"{old.value}->{new.value}")) if events else None,
        **policy)
    b.wait_connected(10)
    if events:
        b.subscribed(10)
    return b


def result_of(call):
    start = time.perf_counter()
    try:
        call()
        result = "ok"
    except DriverFailure:
        result = "failed"
    except ProtectedCallError as e:
        result = f"rejected:{e.state.value}"
    return result, (time.perf_counter() - start) * 1000


def body(args):
    if args.fail_while and os.path.exists(args.fail_while):
        raise DriverFailure()
    if args.slow_while and os.path.exists(args.slow_while):
        time.sleep(args.slow_ms / 1000)


async def body_async(args):
    if args.fail_while and os.path.exists(args.fail_while):
        raise DriverFailure()
    if args.slow_while and os.path.exists(args.slow_while):
        await asyncio.sleep(args.slow_ms / 1000)


def calls(args):
    b = breaker(args)
    if args.use_async:
        async def async_loop(task):
            protected = b(body_async)
            for i in range(args.count):
                start = time.perf_counter()
                try:
                    await protected(args)
                    result = "ok"
                except DriverFailure:
                    result = "failed"
                except ProtectedCallError as e:
                    result = f"rejected:{e.state.value}"
                extra = {"task": task} if args.tasks > 1 else {}
                emit(call=i, result=result, ms=(time.perf_counter() - start) * 1000, fallback=b.is_in_fallback,
                     **extra)
                await asyncio.sleep(args.interval_ms / 1000)

        async def main():
            await asyncio.gather(*(async_loop(t) for t in range(args.tasks)))

        asyncio.run(main())
        return

    def loop(task):
        for i in range(args.count):
            paused = False
            while args.pause_while and os.path.exists(args.pause_while):
                if not paused:
                    emit(paused=True)
                    paused = True
                time.sleep(0.005)
            result, ms = result_of(lambda: b.execute(body, args))
            extra = {"task": task} if args.tasks > 1 else {}
            emit(call=i, result=result, ms=ms, fallback=b.is_in_fallback, **extra)
            time.sleep(args.interval_ms / 1000)

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(args.tasks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def fail(args):
    b = breaker(args, events=False)

    def failing():
        raise DriverFailure()

    for i in range(args.count):
        result, ms = result_of(lambda: b.execute(failing))
        emit(call=i, result=result, ms=ms, fallback=b.is_in_fallback)
    b.flush()


def burst(args):
    b = breaker(args, events=False)
    hold = args.hold_ms / 1000
    ran = []
    rejected = []
    if args.use_async:
        async def probe():
            await asyncio.sleep(hold)

        async def main():
            protected = b(probe)

            async def one():
                try:
                    await protected()
                    ran.append(1)
                except ProtectedCallError:
                    rejected.append(1)

            await asyncio.gather(*(one() for _ in range(args.threads)))

        asyncio.run(main())
    else:
        barrier = threading.Barrier(args.threads)

        def one():
            barrier.wait()
            try:
                b.execute(time.sleep, hold)
                ran.append(1)
            except ProtectedCallError:
                rejected.append(1)

        threads = [threading.Thread(target=one) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    b.flush()
    emit(ran=len(ran), rejected=len(rejected), permits=len(ran))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["calls", "fail", "burst"])
    parser.add_argument("--server", default="127.0.0.1:7433")
    parser.add_argument("--resource", default="demo")
    parser.add_argument("--token-file")
    parser.add_argument("--name", default="python-driver")
    parser.add_argument("--timeout-ms", type=int, default=100)
    parser.add_argument("--tls-ca")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--fallback", default="local")
    parser.add_argument("--consistency", default="strict")
    parser.add_argument("--failure-threshold")
    parser.add_argument("--success-threshold")
    parser.add_argument("--cooldown-ms", type=int)
    parser.add_argument("--count", type=int, default=sys.maxsize)
    parser.add_argument("--interval-ms", type=int, default=20)
    parser.add_argument("--fail-while")
    parser.add_argument("--pause-while")
    parser.add_argument("--slow-while")
    parser.add_argument("--slow-ms", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--hold-ms", type=int, default=500)
    parser.add_argument("--async", dest="use_async", action="store_true")
    args = parser.parse_args()
    {"calls": calls, "fail": fail, "burst": burst}[args.mode](args)


if __name__ == "__main__":
    main()
