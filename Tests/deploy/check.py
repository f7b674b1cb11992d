#!/usr/bin/env python3
"""Checks the deploy/ files that CI cannot run (no Docker engine, no systemd as PID 1, no cluster).

    python3 Tests/deploy/check.py [BREAKERD]

- the systemd unit: `systemd-analyze verify` (ExecStart pointed at BREAKERD, when given) where systemd-analyze
  exists, and the hardening the issue asks for, directive by directive;
- every YAML file parses, and the compose file and Kubernetes manifests say what deploy/README.md promises;
- the Dockerfile builds through deploy/docker/build.sh (the script CI runs), runs as a non-root user with a
  volume and a breakerctl health check.
Prints PASS/FAIL per check and "N passed, M failed"; exits 1 on any failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("check.py needs PyYAML: pip install pyyaml (or apt-get install python3-yaml)")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
results = []


def check(name):
    def wrap(fn):
        try:
            detail = fn() or ""
            results.append(True)
            print(f"PASS {name}" + (f" ({detail})" if detail else ""))
        except AssertionError as e:
            results.append(False)
            print(f"FAIL {name}: {e}")
        return fn
    return wrap


def read(*path):
    with open(os.path.join(DEPLOY, *path)) as f:
        return f.read()


@check("systemd unit: hardening and settings")
def unit_settings():
    unit = read("systemd", "breakerd.service")
    lines = {l.split("=", 1)[0].strip(): l.split("=", 1)[1].strip() for l in unit.splitlines() if "=" in l and not l.startswith("#")}
    for key, want in [("DynamicUser", "yes"), ("StateDirectory", "breakerd"), ("ProtectSystem", "strict"),
                      ("NoNewPrivileges", "yes"), ("Restart", "on-failure"), ("KillSignal", "SIGTERM")]:
        assert lines.get(key) == want, f"{key}={lines.get(key)} (want {want})"
    assert int(lines.get("LimitNOFILE", "0")) >= 10_000 + 1_000, "LimitNOFILE must exceed --max-connections (10000)"
    assert "LoadCredential=client-tokens:" in unit and "LoadCredential=admin-tokens:" in unit, "token files as credentials"
    assert "--client-token-file %d/client-tokens" in unit and "--admin-token-file %d/admin-tokens" in unit
    assert "--db /var/lib/breakerd/breakerd.sqlite" in unit
    env = read("systemd", "breakerd.env")
    assert "BREAKERD_LISTEN=" in env and "BREAKERD_OPTIONS=" in env
    return "DynamicUser, StateDirectory, ProtectSystem=strict, NoNewPrivileges, Restart=on-failure, LimitNOFILE, credentials"


@check("systemd unit: systemd-analyze verify")
def unit_verify():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        return "skipped: systemd-analyze is not installed here (apt-get install systemd)"
    binary = sys.argv[1] if len(sys.argv) > 1 else "/bin/true"
    work = tempfile.mkdtemp()
    unit = read("systemd", "breakerd.service").replace("/usr/local/bin/breakerd", os.path.abspath(binary))
    path = os.path.join(work, "breakerd.service")
    with open(path, "w") as f:
        f.write(unit)
    r = subprocess.run([analyze, "verify", "--man=no", path], capture_output=True, text=True)
    # Credentials files and the env file do not exist on a CI machine: those notes are expected.
    problems = [l for l in (r.stdout + r.stderr).splitlines()
                if l.strip() and "breakerd.env" not in l and "credential" not in l.lower() and "/etc/breakerd" not in l]
    shutil.rmtree(work)
    # systemd-analyze exits 0 even for unknown keys and bad values; every line it prints is a finding.
    assert r.returncode == 0 and not problems, "\n".join(problems) or f"exit {r.returncode}"
    return "no findings"


@check("TLS: the openssl recipe issues certificates breakerd serves and clients verify; the systemd drop-in verifies")
def tls_recipe():
    if len(sys.argv) < 2 or not shutil.which("openssl"):
        return "skipped: needs BREAKERD and the openssl command"
    work = tempfile.mkdtemp()
    try:
        script = os.path.join(DEPLOY, "tls", "issue-certificates.sh")
        subprocess.run(["bash", script, work, "breakerd.test,127.0.0.1", "checkout"], check=True, capture_output=True)
        for name in ("server", "checkout"):
            r = subprocess.run(["openssl", "verify", "-CAfile", f"{work}/ca.pem", f"{work}/{name}.pem"],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
        assert oct(os.stat(f"{work}/server.key").st_mode & 0o777) == "0o600", "keys must be 0600"
        proc = subprocess.Popen([sys.argv[1], "--listen", "127.0.0.1:0", "--db", ":memory:", "--http-listen", "off",
                                 "--tls-cert", f"{work}/server.pem", "--tls-key", f"{work}/server.key",
                                 "--tls-client-ca", f"{work}/ca.pem"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        try:
            port = proc.stdout.readline().strip().rsplit(":", 1)[1]
            # The request, then a second's pause before end of input (s_client closes at once on EOF).
            shell = (f"(printf '{{\"op\":\"ping\"}}\\n'; sleep 1) | openssl s_client -connect 127.0.0.1:{port} "
                     f"-CAfile {work}/ca.pem -cert {work}/checkout.pem -key {work}/checkout.key "
                     f"-verify_return_error -quiet -no_ign_eof")
            r = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=20)
            assert '{"ok":true}' in r.stdout, r.stdout + r.stderr
        finally:
            proc.terminate()
            proc.wait()
        analyze = shutil.which("systemd-analyze")
        if analyze:
            unit = read("systemd", "breakerd.service").replace("/usr/local/bin/breakerd", os.path.abspath(sys.argv[1]))
            dropin = read("systemd", "tls.conf").replace("/usr/local/bin/breakerd", os.path.abspath(sys.argv[1]))
            os.makedirs(f"{work}/breakerd.service.d")
            with open(f"{work}/breakerd.service", "w") as f:
                f.write(unit)
            with open(f"{work}/breakerd.service.d/tls.conf", "w") as f:
                f.write(dropin)
            r = subprocess.run([analyze, "verify", "--man=no", f"{work}/breakerd.service"], capture_output=True,
                               text=True, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{work}:"})
            problems = [l for l in (r.stdout + r.stderr).splitlines()
                        if l.strip() and "breakerd.env" not in l and "credential" not in l.lower()
                        and "/etc/breakerd" not in l]
            assert r.returncode == 0 and not problems, "\n".join(problems) or f"exit {r.returncode}"
        patch = yaml.safe_load(read("kubernetes", "tls-patch.yaml"))
        args = patch["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--tls-cert" in args and "--tls-client-ca" in args, args
        return "server and client certificates verify; breakerd answered openssl s_client over mutual TLS"
    finally:
        shutil.rmtree(work, ignore_errors=True)


@check("cluster mode: compose with 3 etcd members and 3 replicas; a StatefulSet of 3 with etcd by address")
def cluster_files():
    compose = yaml.safe_load(read("docker", "compose-cluster.yaml"))["services"]
    etcd = [n for n in compose if n.startswith("etcd-")]
    replicas = [n for n in compose if n.startswith("breakerd-")]
    assert len(etcd) == 3 and len(replicas) == 3, sorted(compose)
    for n in etcd:
        env = compose[n]["environment"]
        assert env["ETCD_NAME"] == n and env["ETCD_AUTO_COMPACTION_MODE"], env
    for n in replicas:
        args = compose[n]["command"]
        assert args[args.index("--cluster") + 1] == "etcd://etcd-1:2379,etcd-2:2379,etcd-3:2379", args
        assert args[args.index("--advertise") + 1] == f"{n}:7433", args
    docs = {d["kind"]: d for d in yaml.safe_load_all(read("kubernetes", "cluster", "breakerd.yaml"))}
    sts = docs["StatefulSet"]["spec"]
    container = sts["template"]["spec"]["containers"][0]
    assert sts["replicas"] == 3 and "--cluster" in container["args"], sts
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert "$(POD_NAME)" in container["args"][container["args"].index("--advertise") + 1]
    assert docs["Service"]["spec"]["clusterIP"] == "None"
    return "3 etcd + 3 replicas in compose; StatefulSet of 3, headless Service, PodDisruptionBudget"


@check("YAML files parse")
def yaml_parses():
    files = []
    for d, _, names in os.walk(DEPLOY):
        for n in names:
            if n.endswith((".yaml", ".yml")):
                with open(os.path.join(d, n)) as f:
                    list(yaml.safe_load_all(f))
                files.append(os.path.relpath(os.path.join(d, n), DEPLOY))
    assert len(files) >= 4, files
    return ", ".join(sorted(files))


@check("compose: the server plus two clients sharing a circuit, tokens as secrets")
def compose():
    c = yaml.safe_load(read("docker", "compose.yaml"))
    services = c["services"]
    assert {"breakerd", "client-a", "client-b"} <= set(services), services.keys()
    assert services["breakerd"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    resources = {s["entrypoint"][s["entrypoint"].index("--resource") + 1] for n, s in services.items() if n.startswith("client")}
    assert len(resources) == 1, f"the clients must share one resource: {resources}"
    assert set(c["secrets"]) == {"client-tokens", "admin-tokens"}
    assert any("/var/lib/breakerd" in v for v in services["breakerd"]["volumes"])


@check("kubernetes: one replica, a claim for the database, probes, a service, the token secret")
def kubernetes():
    docs = {}
    for name in ("statefulset.yaml", "service.yaml", "secret.yaml"):
        for d in yaml.safe_load_all(read("kubernetes", name)):
            docs[d["kind"]] = d
    sts = docs["StatefulSet"]["spec"]
    assert sts["replicas"] == 1, "one writer per database: one replica"
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    container = sts["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"breaker": 7433, "http": 7434}, ports
    assert container["args"][container["args"].index("--http-listen") + 1] == "0.0.0.0:7434"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == "/var/lib/breakerd"
    args = container["args"]
    assert args[args.index("--client-token-file") + 1].startswith(mounts["tokens"])
    secret_name = next(v["secret"]["secretName"] for v in sts["template"]["spec"]["volumes"] if v["name"] == "tokens")
    assert secret_name == docs["Secret"]["metadata"]["name"]
    assert set(docs["Secret"]["stringData"]) == {"client-tokens", "admin-tokens"}
    assert [p["port"] for p in docs["Service"]["spec"]["ports"]] == [7433, 7434]
    assert docs["Service"]["spec"]["selector"] == sts["selector"]["matchLabels"]


@check("Dockerfile: built by deploy/docker/build.sh, non-root, a volume, a /readyz health check")
def dockerfile():
    d = read("docker", "Dockerfile")
    assert re.search(r"^FROM swift:6\.3", d, re.M), "the build stage uses the Swift 6.3 toolchain image"
    assert "RUN bash deploy/docker/build.sh /out" in d, "the build step is the script CI runs"
    assert "libsqlite3-0" in d and re.search(r"^USER breakerd", d, re.M)
    assert 'VOLUME ["/var/lib/breakerd"]' in d and "HEALTHCHECK" in d
    assert '"http://127.0.0.1:7434/readyz"' in d and " curl" in d and "EXPOSE 7433 7434" in d
    script = read("docker", "build.sh")
    assert "--static-swift-stdlib" in script and "-c release" in script


@check("deploy/README.md covers install, upgrade, backup, token rotation, sizing")
def readme():
    r = read("README.md").lower()
    for topic in ("install", "upgrade", "backup", "token rotation", "sizing"):
        assert topic in r, topic


passed = sum(results)
print(f"{passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
