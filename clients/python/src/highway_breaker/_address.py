"""Server addresses, tokens and resource names, read and checked as breakerd reads them."""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

from ._errors import ConfigurationError

DEFAULT_PORT = 7433
RESOURCE_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/@-")
MAXIMUM_RESOURCE_BYTES = 200
MINIMUM_TOKEN_BYTES = 16


def parse_server(server: str) -> Tuple[str, int]:
    """``HOST:PORT`` (``[::1]:7433`` for IPv6; the port defaults to 7433) as (host, port)."""
    if not isinstance(server, str) or not server:
        raise ConfigurationError("server", f"expected \"HOST:PORT\", got {server!r}")
    host, port = server, DEFAULT_PORT
    if server.startswith("["):
        end = server.find("]")
        if end < 0:
            raise ConfigurationError("server", f"an IPv6 address needs its closing ']': {server!r}")
        host, rest = server[1:end], server[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ConfigurationError("server", f"expected \"[HOST]:PORT\", got {server!r}")
            port = _port(rest[1:], server)
    elif server.count(":") == 1:
        host, text = server.split(":")
        port = _port(text, server)
    if not host:
        raise ConfigurationError("server", f"no host in {server!r}")
    return host, port


def parse_servers(servers: str) -> List[Tuple[str, int]]:
    """``HOST:PORT[,HOST:PORT…]``: one server, or every replica of a cluster (``breakerd --cluster``)."""
    if not isinstance(servers, str) or not servers:
        raise ConfigurationError("server", f"expected \"HOST:PORT\" or \"HOST:PORT,HOST:PORT,…\", got {servers!r}")
    return [parse_server(part.strip()) for part in servers.split(",")]


def _port(text: str, server: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigurationError("server", f"the port must be 1 to 65535, in {server!r}")
    return int(text)


def resource_problem(name: object) -> Optional[str]:
    """Why `name` is not a valid resource name (1–200 bytes of ``A–Z a–z 0–9 . _ : / @ -``), or None."""
    if not isinstance(name, str):
        return f"the resource name must be a string, got {type(name).__name__}"
    if not name:
        return "the resource name is empty"
    size = len(name.encode())
    if size > MAXIMUM_RESOURCE_BYTES:
        return f"the resource name is {size} bytes; at most {MAXIMUM_RESOURCE_BYTES} are allowed"
    for c in name:
        if c not in RESOURCE_CHARACTERS:
            shown = f"'{c}'" if " " <= c <= "~" else repr(c)
            return f"the resource name has {shown}; allowed are A-Z a-z 0-9 . _ : / @ -"
    return None


def check_resource(name: object, field: str = "resource") -> str:
    problem = resource_problem(name)
    if problem:
        raise ConfigurationError(field, problem)
    return name  # type: ignore[return-value]


def read_token_file(path: str) -> str:
    """The first token of a token file, as breakerd reads them: one per line, spaces and tabs around it dropped,
    blank lines and lines starting with ``#`` skipped, each token at least 16 bytes."""
    try:
        if os.path.isdir(path):
            raise ConfigurationError("token_file", f"{path} is a directory; give a file with one token per line")
        with open(path, "rb") as f:
            data = f.read(1_048_577)
    except OSError as e:
        raise ConfigurationError("token_file", f"{path} cannot be read: {e.strerror}") from None
    if len(data) > 1_048_576:
        raise ConfigurationError("token_file", f"{path} is larger than 1 MiB; put one token per line")
    for raw in data.decode("utf-8", "replace").split("\n"):
        line = raw.rstrip("\r").strip(" \t")
        if not line or line.startswith("#"):
            continue
        if len(line.encode()) < MINIMUM_TOKEN_BYTES:
            raise ConfigurationError("token_file", f"{path}: a token is shorter than {MINIMUM_TOKEN_BYTES} bytes")
        return line
    raise ConfigurationError("token_file", f"{path} holds no token (one per line; # starts a comment)")


def resolve_token(token: Optional[str], token_file: Optional[str]) -> Optional[str]:
    if token is not None and token_file is not None:
        raise ConfigurationError("token", "give token or token_file, not both")
    return read_token_file(token_file) if token_file is not None else token
