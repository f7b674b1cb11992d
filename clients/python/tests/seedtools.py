"""Helpers for running the seeds' documented examples: extracting them, and a stand-in `requests` module."""
from __future__ import annotations

import pathlib
import re
import types
from typing import Callable, Dict, List, Optional, Tuple

SEEDS = pathlib.Path(__file__).resolve().parent / "seeds"
SEED_IMPORT = re.compile(r"^from highway_circutbreaker import (.+)$", re.M)


def examples(document: str) -> List[Tuple[str, str]]:
    """(heading, code) of every ```python block of `document`, in order, the heading being the nearest `###`
    (or `##`) above it."""
    text = (SEEDS / document).read_text()
    out = []
    heading = ""
    for part in re.split(r"(^#{2,3} [^\n]*$|```python\n.*?```)", text, flags=re.M | re.S):
        if part.startswith("#"):
            heading = part.lstrip("#").strip()
        elif part.startswith("```python"):
            out.append((heading, part[len("```python\n"):-3]))
    return out


def port(code: str, extra_names: Tuple[str, ...] = ()) -> str:
    """The example with only its import line changed: `highway_circutbreaker` becomes `highway_breaker`
    (adding `extra_names` the example uses without importing them). Asserts nothing else changed."""
    def replace(m: "re.Match[str]") -> str:
        names = [n.strip() for n in m.group(1).split(",")]
        names += [n for n in extra_names if n not in names]
        return "from highway_breaker import " + ", ".join(names)

    ported = SEED_IMPORT.sub(replace, code)
    before = [l for l in code.splitlines() if not SEED_IMPORT.match(l)]
    after = [l for l in ported.splitlines() if not l.startswith("from highway_breaker import ")]
    assert before == after, "only import lines may change"
    return ported


def fake_requests() -> types.ModuleType:
    """A stand-in for the third-party `requests` library (not installed, and the examples' hosts do not
    exist): its `get`/`post` answer from `module.script(method, url, kwargs)`, which returns a status code and
    a JSON payload, or raises. Every call is recorded in `module.calls`."""
    m = types.ModuleType("requests")

    class RequestException(IOError):
        def __init__(self, *args: object, response: Optional["Response"] = None) -> None:
            super().__init__(*args)
            if response is not None:
                self.response = response

    class ConnectionError(RequestException):  # noqa: A001 - the library's name
        pass

    class Timeout(RequestException):
        pass

    class HTTPError(RequestException):
        pass

    class Response:
        def __init__(self, status_code: int, payload: object) -> None:
            self.status_code = status_code
            self._payload = payload

        def raise_for_status(self) -> None:
            if self.status_code >= 400:
                raise HTTPError(f"{self.status_code} error", response=self)

        def json(self) -> object:
            return self._payload

    calls: List[Tuple[str, str, Dict[str, object]]] = []

    def request(method: str) -> Callable[..., Response]:
        def send(url: str, **kwargs: object) -> Response:
            calls.append((method, url, kwargs))
            status, payload = m.script(method, url, kwargs)
            return Response(status, payload)
        return send

    m.RequestException = RequestException
    m.ConnectionError = ConnectionError
    m.Timeout = Timeout
    m.HTTPError = HTTPError
    m.Response = Response
    m.calls = calls
    m.script = lambda method, url, kwargs: (200, {})
    m.get = request("GET")
    m.post = request("POST")
    return m
