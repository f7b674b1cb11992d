"""protocol/vectors replayed through the Python codec against a live breakerd.

For every `send`: the codec reads the request (`request_from_wire`) and writes it again (`encode`); what it
writes must be the vector's request, and that is what is sent. A request the codec refuses to write (a
missing or mistyped field, an unknown op) is sent as the vector has it, and the server must refuse it too
(or, in a `lease`, refuse exactly the entries the codec refused). For every `expect`: the line received must
match the vector, and the codec must read it (`decode_reply` for the request it answers, `decode_event`) and
write it back unchanged (`encode_reply`, `to_wire`): nothing a version-1 server says is lost or misread.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import socket
from collections import deque

import pytest

from highway_breaker import BreakerError
from highway_breaker import protocol as p

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "protocol" / "vectors"
FILES = sorted(VECTORS.glob("*.jsonl"))


def match(expected, actual, path, problems):
    """protocol/tools/check_vectors.py's rule: "$any", "$int" and "$string" stand for values that vary."""
    if expected == "$any":
        return
    if expected == "$int":
        if not (isinstance(actual, int) and not isinstance(actual, bool)):
            problems.append(f"{path}: expected an integer, got {actual!r}")
        return
    if expected == "$string":
        if not isinstance(actual, str):
            problems.append(f"{path}: expected a string, got {actual!r}")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append(f"{path}: expected an object")
            return
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            elif key not in expected:
                problems.append(f"{path}.{key}: not expected")
            else:
                match(expected[key], actual[key], f"{path}.{key}", problems)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            problems.append(f"{path}: expected an array of {len(expected)}")
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            match(e, a, f"{path}[{i}]", problems)
        return
    if expected != actual or type(expected) is not type(actual):
        problems.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")


def test_every_vector_file_is_replayed():
    assert [f.name for f in FILES][:8] == ["01-basics.jsonl", "02-half-open.jsonl", "03-operators.jsonl",
                                          "04-watch.jsonl", "05-errors.jsonl", "06-http.jsonl", "07-list.jsonl",
                                          "08-lease.jsonl"]


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_vector(path, breakerd):
    sock = socket.create_connection(("127.0.0.1", breakerd.port), timeout=10)
    reader = sock.makefile("rb")
    awaiting = deque()       # per request that gets a reply: (op or None when the codec refused it, raw request)
    written = refused = 0
    problems = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip():
            continue
        step = json.loads(raw)
        where = f"{path.name}:{number}"
        if "send" in step:
            request = step["send"]
            try:
                rid, typed = p.request_from_wire(request)
            except p.RequestError:
                sock.sendall(json.dumps(request).encode() + b"\n")
                awaiting.append((None, request))
                refused += 1
                continue
            line = p.encode(typed, rid)
            fields = {f.name for f in dataclasses.fields(typed)} | {"id", "op"}
            unknown = {k: v for k, v in request.items() if k not in fields}   # the server ignores them too
            assert {**json.loads(line), **unknown} == request, f"{where}: the codec wrote {line!r}"
            sock.sendall(line)
            written += 1
            if not (typed.op == "report" and typed.noreply):
                awaiting.append((typed.op, request))
        elif "send_raw" in step:
            sock.sendall(step["send_raw"].encode() + b"\n")
            awaiting.append((None, None))
        elif "expect" in step:
            line = reader.readline()
            assert line, f"{where}: the connection closed"
            obj = p.parse_line(line)
            found = []
            match(step["expect"], obj, "$", found)
            problems += [f"{where}: {x}" for x in found]
            if "event" in obj:
                event = p.decode_event(obj)
                assert event is not None and event.to_wire() == obj, f"{where}: event read as {event!r}"
                continue
            op, request = awaiting.popleft()
            if op is None:
                check_refused(request, obj, where)
                continue
            try:
                reply = p.decode_reply(op, obj)
            except BreakerError as error:
                assert error.code == obj["error"]["code"] and not isinstance(error, p.ReplyDecodingError), where
                assert p.encode_reply(error, obj.get("id")) == obj, where
                continue
            assert p.encode_reply(reply, obj.get("id")) == obj, f"{where}: read as {reply!r}"
        elif step.get("expect_closed"):
            assert reader.readline() == b"", f"{where}: expected the connection to close"
    sock.close()
    assert not problems, "\n".join(problems)
    assert written > 0 or path.name == "06-http.jsonl"


def check_refused(request, obj, where):
    """A request the codec would not write: the server refuses it too, or (lease) the entries it refused."""
    if request is not None and request.get("op") == "lease" and obj.get("ok") is True:
        reply = p.decode_reply("lease", obj)
        for entry, slot in zip(request["resources"], reply.leases):
            try:
                p.LeaseEntry.from_wire(entry)
                codec_reads = True
            except p.RequestError:
                codec_reads = False
            assert codec_reads == isinstance(slot, p.LeaseSlot) or (codec_reads and slot.error.code in (
                "invalid_resource", "invalid_policy")), f"{where}: entry {entry} answered {slot}"
        return
    assert obj.get("ok") is False, f"{where}: the codec refused {request}, the server accepted it: {obj}"
    error = p.error_of(obj)
    assert error.code in p.ERROR_CODES and p.encode_reply(error, obj.get("id")) == obj, where
