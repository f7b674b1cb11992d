"""TLS for the connection to breakerd (breakerd's ``--tls-cert``/``--tls-key``; ``--tls-client-ca`` for mutual
TLS), through the standard ``ssl`` module.

The session runs over memory buffers (``ssl.MemoryBIO``), as the Swift client's does, so the I/O thread keeps its
own non-blocking socket calls and no caller thread ever blocks on a handshake. Failures are named in an
operator's words: unknown CA, name mismatch, expired, no client certificate.
"""
from __future__ import annotations

import select
import socket
import ssl
import time
from typing import Optional

from ._errors import BreakerError


def client_context(tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                   tls_key: Optional[str] = None) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` for breakerd: TLS 1.2 or later, the server's certificate verified against `tls_ca`
    (the system's CAs when None), and a client certificate with its key when given (mutual TLS).

    Raises ``BreakerError("invalid_value", …)`` naming the file that could not be used.
    """
    if (tls_cert is None) != (tls_key is None):
        raise BreakerError("invalid_value", "tls_cert and tls_key go together (a client certificate needs its key)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if tls_ca is not None:
            context.load_verify_locations(cafile=tls_ca)
        else:
            context.load_default_certs()
    except (OSError, ssl.SSLError) as e:
        raise BreakerError("invalid_value", f"cannot read the CA file {tls_ca}: {e}") from None
    if tls_cert is not None:
        try:
            context.load_cert_chain(tls_cert, tls_key)
        except (OSError, ssl.SSLError) as e:
            raise BreakerError("invalid_value", f"cannot use the certificate {tls_cert} with the key {tls_key}: "
                                                f"{e}") from None
    return context


def describe(error: BaseException) -> str:
    """What failed, in an operator's words, then the library's reason."""
    if isinstance(error, ssl.SSLCertVerificationError):
        code = getattr(error, "verify_code", 0)
        detail = getattr(error, "verify_message", "") or str(error)
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return f"the server's certificate has expired ({detail})"
        if code in (62, 64) or "mismatch" in detail.lower():  # hostname, IP address mismatch
            return f"name mismatch: the server's certificate is not for the name asked for ({detail})"
        if code in (2, 18, 19, 20, 21):
            return f"unknown CA: the server's certificate is not signed by a CA this side trusts ({detail})"
        return f"the server's certificate failed verification: {detail}"
    text = str(error)
    lower = text.lower()
    if "certificate_required" in lower or "certificate required" in lower:
        return "no client certificate: the server requires one; give tls_cert and tls_key"
    if "unknown_ca" in lower or "unknown ca" in lower:
        return f"unknown CA: the server does not trust the CA that signed our certificate ({text})"
    if "certificate_expired" in lower or "certificate expired" in lower:
        return f"the server refused our certificate: it has expired ({text})"
    if "wrong_version_number" in lower or "wrong version number" in lower or "record layer failure" in lower:
        return f"not TLS: the server does not speak TLS on this port ({text})"
    return f"TLS failed: {text}"


class TLSOptions:
    """The TLS options of a policy or admin client: `tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`, or a
    ready `ssl_context`. Hashable, so that every policy of a process with the same options shares one
    connection; the context is made once per set of options."""

    __slots__ = ("ca", "cert", "key", "server_hostname", "_context", "_explicit")

    def __init__(self, ca: Optional[str] = None, cert: Optional[str] = None, key: Optional[str] = None,
                 server_hostname: Optional[str] = None, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.ca, self.cert, self.key, self.server_hostname = ca, cert, key, server_hostname
        self._explicit = ssl_context is not None
        self._context = ssl_context if ssl_context is not None else client_context(ca, cert, key)

    @staticmethod
    def of(tls: bool = False, tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
           tls_key: Optional[str] = None, tls_server_name: Optional[str] = None,
           ssl_context: Optional[ssl.SSLContext] = None) -> "Optional[TLSOptions]":
        """The options, or None when TLS is off (none given and `tls` false)."""
        if not tls and ssl_context is None and tls_ca is None and tls_cert is None and tls_key is None:
            return None
        return TLSOptions(tls_ca, tls_cert, tls_key, tls_server_name, ssl_context)

    def context(self) -> ssl.SSLContext:
        return self._context

    def _key(self) -> "tuple[object, ...]":
        return (self.ca, self.cert, self.key, self.server_hostname, id(self._context) if self._explicit else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TLSOptions) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class TLSChannel:
    """One connection's TLS session over memory buffers. Used only under the connection's lock, or by the I/O
    thread before the connection is installed."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._cipher = bytearray()

    @property
    def unsent(self) -> int:
        """Encrypted bytes not yet taken by the socket."""
        return len(self._cipher)

    def encrypt(self, plaintext: bytes) -> None:
        """Encrypts all of `plaintext` into the bytes to send."""
        view = memoryview(plaintext)
        while view:
            n = self._ssl.write(view)
            view = view[n:]
        self._cipher += self._outgoing.read()

    def send(self, sock: socket.socket) -> None:
        """Sends what the socket takes now (non-blocking)."""
        self._cipher += self._outgoing.read()
        if not self._cipher:
            return
        try:
            sent = sock.send(self._cipher)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # the I/O thread sees the connection end
        del self._cipher[:sent]

    def receive(self, data: bytes) -> "tuple[bytes, Optional[str]]":
        """Decrypts `data` from the network: the plaintext, and why the session ended if it did."""
        self._incoming.write(data)
        out = bytearray()
        while True:
            try:
                chunk = self._ssl.read(65536)
            except ssl.SSLWantReadError:
                return bytes(out), None
            except ssl.SSLZeroReturnError:
                return bytes(out), "the server closed the TLS session"
            except ssl.SSLError as e:
                return bytes(out), f"TLS failed: {describe(e)}"
            if not chunk:
                return bytes(out), "the server closed the TLS session"
            out += chunk

    def handshake(self, sock: socket.socket, timeout: float) -> None:
        """Runs the handshake on a connected non-blocking socket; raises ``OSError`` saying what failed."""
        end = time.monotonic() + timeout
        while True:
            try:
                self._ssl.do_handshake()
                self.send(sock)
                if not self._cipher:
                    return
            except ssl.SSLWantReadError:
                self.send(sock)
            except ssl.SSLError as e:
                self.send(sock)
                raise OSError(0, f"TLS handshake failed: {describe(e)}") from None
            left = end - time.monotonic()
            if left <= 0:
                raise OSError(0, f"TLS handshake failed: no handshake within {timeout * 1000:.0f} ms")
            readable, _, _ = select.select([sock], [sock] if self._cipher else [], [], left)
            if not readable:
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            if not data:
                raise OSError(0, "TLS handshake failed: the server closed the connection (is the port TLS?)")
            self._incoming.write(data)
