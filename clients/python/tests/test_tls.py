"""TLS through the standard ssl module (issue #18): the shared breaker and BreakerAdmin against a breakerd with
--tls-cert/--tls-key (and --tls-client-ca), with certificates made at test time by the openssl command; every
bad certificate fails with a message that says what failed."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from highway_breaker import BreakerAdmin, BreakerError, SharedCircuitBreakerPolicy
from highway_breaker._connection import Connection
from live import Breakerd

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA; a server certificate for 127.0.0.1 and breakerd.test; a client certificate (CN client-py); a
    second CA with a client certificate of its own. (The expired case is the Swift suites'.)"""
    d = str(tmp_path_factory.mktemp("certs"))

    def ca(name: str) -> None:
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 f"{name}.key", "-out", f"{name}.pem", "-days", "3650", "-subj", f"/CN={name}", cwd=d)

    def leaf(name: str, ca_name: str, cn: str, san: str = "") -> None:
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        ext = os.path.join(d, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.pem", "-CAkey", f"{ca_name}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-extfile", ext, "-days", "365", cwd=d)

    ca("ca")
    ca("other-ca")
    leaf("server", "ca", "breakerd", "IP:127.0.0.1,DNS:breakerd.test")
    leaf("client", "ca", "client-py")
    leaf("foreign-client", "other-ca", "intruder")
    paths = {name: (os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key"))
             for name in ("server", "client", "foreign-client")}
    paths["ca"] = os.path.join(d, "ca.pem")
    paths["other-ca"] = os.path.join(d, "other-ca.pem")
    return paths


@pytest.fixture
def tls_breakerd(breakerd_binary, tmp_path, certs):
    cert, key = certs["server"]
    (tmp_path / "tls").mkdir()
    server = Breakerd(breakerd_binary, str(tmp_path / "tls"), extra=["--tls-cert", cert, "--tls-key", key]).start()
    yield server
    server.stop()


@pytest.fixture
def mutual_breakerd(breakerd_binary, tmp_path, certs):
    cert, key = certs["server"]
    (tmp_path / "mutual").mkdir()
    server = Breakerd(breakerd_binary, str(tmp_path / "mutual"),
                      extra=["--tls-cert", cert, "--tls-key", key, "--tls-client-ca", certs["ca"]]).start()
    yield server
    server.stop()


def _failure(admin_kwargs: dict, address: str) -> str:
    """What connecting an admin with these TLS options ends in (the message of its error)."""
    admin = BreakerAdmin(address, timeout=1.5, **admin_kwargs)
    try:
        admin.ping()
        return "connected"
    except BreakerError as error:
        return f"{error.message} / {admin._conn._last_problem}"
    finally:
        admin.close()


def test_the_shared_breaker_trips_over_tls(tls_breakerd, certs):
    breaker = SharedCircuitBreakerPolicy("tls-py", tls_breakerd.address, tls_ca=certs["ca"], failure_threshold="1/2",
                                         timeout=2, fallback="reject")

    @breaker
    def fail():
        raise ValueError("down")

    for _ in range(2):
        with pytest.raises(ValueError):
            fail()
    admin = BreakerAdmin(tls_breakerd.address, tls_ca=certs["ca"])
    try:
        assert admin.status("tls-py").state.value == "open"
    finally:
        admin.close()


def test_the_name_may_be_the_certificates_dns_name(tls_breakerd, certs):
    assert _failure({"tls_ca": certs["ca"], "tls_server_name": "breakerd.test"}, tls_breakerd.address) == "connected"


def test_each_bad_certificate_says_what_failed(tls_breakerd, mutual_breakerd, breakerd, certs):
    assert "unknown CA" in _failure({"tls_ca": certs["other-ca"]}, tls_breakerd.address)
    assert "name mismatch" in _failure({"tls_ca": certs["ca"], "tls_server_name": "elsewhere.test"},
                                       tls_breakerd.address)
    assert "not TLS" in _failure({"tls_ca": certs["ca"]}, breakerd.address) \
        or "closed the connection" in _failure({"tls_ca": certs["ca"]}, breakerd.address)
    assert "no client certificate" in _failure({"tls_ca": certs["ca"]}, mutual_breakerd.address)
    cert, key = certs["foreign-client"]
    assert "unknown CA" in _failure({"tls_ca": certs["ca"], "tls_cert": cert, "tls_key": key},
                                    mutual_breakerd.address)
    cert, key = certs["client"]
    assert _failure({"tls_ca": certs["ca"], "tls_cert": cert, "tls_key": key}, mutual_breakerd.address) == "connected"


def test_mutual_tls_names_the_client_in_the_audit_log(mutual_breakerd, certs):
    cert, key = certs["client"]
    admin = BreakerAdmin(mutual_breakerd.address, client_name=None, tls_ca=certs["ca"], tls_cert=cert, tls_key=key)
    try:
        admin.configure("audited", failure_threshold="1/2")
        admin.force("audited", "open", reason="drill")
        assert admin.history("audited", limit=1)[0].by == "client-py"
    finally:
        admin.close()


def test_bad_files_are_errors_at_once(certs):
    with pytest.raises(BreakerError) as missing:
        SharedCircuitBreakerPolicy("x", "127.0.0.1:1", tls_ca="/nonexistent/ca.pem")
    assert "/nonexistent/ca.pem" in missing.value.message
    with pytest.raises(BreakerError) as half:
        SharedCircuitBreakerPolicy("x", "127.0.0.1:1", tls_ca=certs["ca"], tls_cert=certs["client"][0])
    assert "tls_cert and tls_key go together" in half.value.message


def test_policies_with_the_same_options_share_one_connection(tls_breakerd, certs):
    a = SharedCircuitBreakerPolicy("a", tls_breakerd.address, tls_ca=certs["ca"])
    b = SharedCircuitBreakerPolicy("b", tls_breakerd.address, tls_ca=certs["ca"])
    plain = SharedCircuitBreakerPolicy("c", tls_breakerd.address)
    assert a._conn is b._conn and isinstance(a._conn, Connection) and plain._conn is not a._conn
