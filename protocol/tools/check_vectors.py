#!/usr/bin/env python3
"""Checks protocol/vectors against the JSON Schemas and a real breakerd, independently of the Swift tests.

For every vector file: each request sent must validate against schema/request.schema.json; the file is
replayed against a fresh `breakerd --listen 127.0.0.1:0`; every line received must validate against
schema/reply.schema.json or schema/event.schema.json and match the vector's expectation ("$any", "$int" and
"$string" stand for values that vary).

usage: check_vectors.py PATH/TO/breakerd
"""
import json
import pathlib
import socket
import subprocess
import sys

try:
    import jsonschema
    from referencing import Registry, Resource
except ImportError:
    sys.exit("check_vectors.py needs jsonschema: pip install jsonschema")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = {p.name: json.loads(p.read_text()) for p in (ROOT / "schema").glob("*.schema.json")}
REGISTRY = Registry().with_resources(
    [(name, Resource.from_contents(s)) for name, s in SCHEMAS.items()]
    + [(s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()]
)


def validator(name):
    return jsonschema.Draft202012Validator(SCHEMAS[name], registry=REGISTRY)


REQUEST, REPLY, EVENT = validator("request.schema.json"), validator("reply.schema.json"), validator("event.schema.json")


def match(expected, actual, path, problems):
    if expected == "$any":
        return
    if expected == "$int":
        if not (isinstance(actual, int) and not isinstance(actual, bool)):
            problems.append(f"{path}: expected an integer")
        return
    if expected == "$string":
        if not isinstance(actual, str):
            problems.append(f"{path}: expected a string")
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


def start(binary):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--db", ":memory:"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("breakerd listening on "):
        proc.kill()
        sys.exit(f"breakerd did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def replay(binary, path):
    failures = []
    proc, port = start(binary)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        reader = sock.makefile("r", encoding="utf-8")
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            if not raw.strip():
                continue
            step = json.loads(raw)
            where = f"{path.name}:{number}"
            if "send" in step:
                sock.sendall((json.dumps(step["send"], separators=(",", ":")) + "\n").encode())
            elif "send_raw" in step:
                sock.sendall((step["send_raw"] + "\n").encode())
            elif "expect" in step:
                line = reader.readline()
                if not line:
                    failures.append(f"{where}: connection closed")
                    break
                actual = json.loads(line)
                schema = EVENT if "event" in actual else REPLY
                for error in schema.iter_errors(actual):
                    failures.append(f"{where}: reply does not fit the schema: {error.message} at {list(error.absolute_path)}")
                problems = []
                match(step["expect"], actual, "$", problems)
                failures += [f"{where}: {p}" for p in problems]
            elif step.get("expect_closed"):
                if reader.readline():
                    failures.append(f"{where}: expected the connection to close")
        sock.close()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    return failures


def check_requests(path):
    """Requests answered with ok:true must validate against the request schema."""
    failures = []
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    for i, step in enumerate(lines):
        if "send" not in step:
            continue
        answer = next((s["expect"] for s in lines[i + 1:] if "expect" in s and "event" not in s["expect"]), None)
        valid = REQUEST.is_valid(step["send"])
        if answer is not None and answer.get("ok") is True and not valid:
            errors = "; ".join(e.message for e in REQUEST.iter_errors(step["send"]))
            failures.append(f"{path.name}: accepted request does not fit request.schema.json: {step['send']}: {errors}")
        if answer is not None and answer.get("ok") is False and valid and answer["error"]["code"] in ("bad_request", "invalid_resource", "unknown_op"):
            failures.append(f"{path.name}: rejected request fits request.schema.json (schema too loose): {step['send']}")
        if answer is None and not step["send"].get("noreply") and not valid:
            failures.append(f"{path.name}: request does not fit the schema: {step['send']}")
    return failures


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    files = sorted((ROOT / "vectors").glob("*.jsonl"))
    failures = []
    for path in files:
        found = check_requests(path) + replay(binary, path)
        print(f"{'ok  ' if not found else 'FAIL'} {path.name}")
        failures += found
    for f in failures:
        print("  " + f)
    print(f"{len(files) - len({f.split(':')[0] for f in failures})} passed, {len({f.split(':')[0] for f in failures})} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
