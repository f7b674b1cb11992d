#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium (Debian `chromium`, `chromium-driver`) driven by selenium.

    python3 Tests/dashboard/run.py BIN_DIR          (BIN_DIR holds breakerd)

Starts breakerd with token files (one client token, one admin token) and its HTTP port, creates circuits over
TCP, then checks what issue #15 asks of the page:
  client   the page asks for a token; with the client token it lists every circuit and shows no action buttons
           (and the API refuses a force with that token: 403)
  live     a circuit tripped from another TCP connection reads `open` on the page within 2 s, without a reload
  admin    after a reload, with the admin token, the row's "Force open" button (reason + TTL) forces a circuit;
           `status` over TCP shows it `forced_open` with that reason, `by` = dashboard@…
  filter   the prefix filter shows only the matching circuits, and all of them again when cleared
Each step saves a screenshot in $HB_ARTIFACTS (else a temporary directory) and prints its path. With
HB_UPDATE_DOCS=1 the admin step's screenshot is copied to docs/dashboard.png (the README shows it).
Every step prints PASS/FAIL with what it measured; the last line is "N passed, M failed"; exit 1 on failure.
Needs `pip install selenium`; no network (the driver is /usr/bin/chromedriver, never downloaded).
"""
import json
import os
import select
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "abuse"))
from harness import Failure, Server, check, write_file  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CLIENT_TOKEN = "dashboard-client-token-0123456789abcdef"
ADMIN_TOKEN = "dashboard-admin-token-0123456789abcdef"
POLICY = {"failure_threshold": "3/5", "cooldown_ms": 600000}   # trips after 5 calls with 3 failures; 10 min open
CIRCUITS = ["cache", "db/primary", "db/replica", "inventory", "payments", "search"]
TRIPPED = "payments"        # tripped over TCP while the page watches
FORCED = "search"           # forced open from the page
REASON = "provider outage (dashboard test)"
TTL_S = 600
ACTION_BUTTONS = "button.force-open, button.force-closed, button.release, button.reset"


def http_port(server, timeout=10):
    """Reads breakerd's second stdout line, `breakerd http on HOST:PORT`, and returns the port."""
    line = b""
    deadline = time.monotonic() + timeout
    fd = server.proc.stdout.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        check(left > 0, f"no 'breakerd http on' line within {timeout}s; stderr: {server.log()[-600:]}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)
            check(chunk != b"", f"breakerd closed stdout before its http line; stderr: {server.log()[-600:]}")
            line += chunk
    text = line.decode().strip()
    check(text.startswith("breakerd http on "), f"unexpected second line {text!r}")
    return int(text.rsplit(":", 1)[1])


def request(conn, payload):
    """Sends one request and returns its reply, skipping pushed events."""
    conn.send(payload)
    while True:
        reply = json.loads(conn.readline())
        if "event" not in reply:
            return reply


def ok(conn, payload):
    reply = request(conn, payload)
    check(reply.get("ok") is True, f"{payload['op']} failed: {reply}")
    return reply


def http(port, method, path, token=None, body=None):
    """(status, headers, body bytes) of one HTTP request."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Page:
    """The browser, and what the steps ask of the page."""

    def __init__(self, url, artifacts):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900",
                    "--disable-gpu", "--no-first-run", "--disable-extensions"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.url = url
        self.artifacts = artifacts

    def quit(self):
        self.driver.quit()

    def wait(self, what, condition, timeout=10, poll=0.05):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=poll).until(lambda _: condition())
        except TimeoutException:
            raise Failure(f"{what} not seen within {timeout}s; #status reads {self.text('#status')!r}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def text(self, selector):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", selector)

    def count(self, selector):
        return self.js("return document.querySelectorAll(arguments[0]).length;", selector)

    def state(self, resource):
        cell = self.text(f'tr[data-resource="{resource}"] .state')
        return None if cell is None else cell.strip()

    def resources(self):
        return self.js("return [...document.querySelectorAll('tr[data-resource]')].map(r => r.dataset.resource);")

    def sign_in(self, token, role):
        """Opens (or reloads) the page, enters `token` and waits for `role` and every circuit's row."""
        self.driver.get(self.url)
        self.wait("the token prompt", lambda: self.driver.find_element(By.ID, "token").is_displayed())
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.driver.find_element(By.ID, "use-token").click()
        self.wait(f"role {role}", lambda: (self.text("#role") or "").startswith(role))
        self.wait("every circuit's row", lambda: sorted(self.resources()) == sorted(CIRCUITS))

    def screenshot(self, name):
        path = os.path.join(self.artifacts, name)
        self.driver.save_screenshot(path)
        print(f"  screenshot: {path}")
        return path

    def script_errors(self):
        """Console entries that are errors of the page's own script (the expected 401 is a network entry)."""
        return [e["message"] for e in self.driver.get_log("browser")
                if e.get("level") == "SEVERE" and e.get("source") != "network"]


class Suite:
    def __init__(self, bin_dir):
        self.work = tempfile.mkdtemp(prefix="hb-dashboard-")
        self.artifacts = os.environ.get("HB_ARTIFACTS") or os.path.join(self.work, "artifacts")
        os.makedirs(self.artifacts, exist_ok=True)
        client_file = write_file(os.path.join(self.work, "client.tokens"), CLIENT_TOKEN + "\n")
        admin_file = write_file(os.path.join(self.work, "admin.tokens"), ADMIN_TOKEN + "\n")
        self.server = Server(bin_dir, self.work, "breakerd", args=[
            "--client-token-file", client_file, "--admin-token-file", admin_file,
            "--http-listen", "127.0.0.1:0"]).start()
        self.http = http_port(self.server)
        print(f"breakerd: tcp 127.0.0.1:{self.server.port}, http 127.0.0.1:{self.http}; artifacts in "
              f"{self.artifacts}")
        self.admin = self.server.client(token=ADMIN_TOKEN, client_name="dashboard-setup")
        self.page = None
        self.passed = 0
        self.failed = 0

    def setup_circuits(self):
        """Every colour on the page: closed (some failures), open later, half_open, forced_closed."""
        for name in CIRCUITS:
            ok(self.admin, {"op": "acquire", "resource": name, "policy": POLICY})
        ok(self.admin, {"op": "report", "resource": "db/replica", "successes": 3, "failures": 1})
        ok(self.admin, {"op": "report", "resource": "db/primary", "successes": 4})
        ok(self.admin, {"op": "force", "resource": "cache", "state": "closed", "reason": "cache rebuild"})
        ok(self.admin, {"op": "configure", "resource": "inventory",
                        "policy": {"failure_threshold": "1/1", "cooldown_ms": 1, "half_open_permits": 2}})
        ok(self.admin, {"op": "report", "resource": "inventory", "outcome": "failure"})
        time.sleep(0.01)  # the 1 ms cooldown: the next acquire takes a probe (not a time rule under test)
        reply = ok(self.admin, {"op": "acquire", "resource": "inventory"})
        check(reply.get("state") == "half_open", f"inventory should be half_open: {reply}")

    def step(self, name, body):
        try:
            detail = body()
            self.passed += 1
            print(f"PASS {name}: {detail}")
        except (Failure, WebDriverException, OSError, ValueError, KeyError) as e:
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            if self.page is not None:
                try:
                    self.page.screenshot(f"fail-{name}.png")
                except WebDriverException:
                    pass

    def client_step(self):
        status, headers, body = http(self.http, "GET", "/")
        check(status == 200, f"GET / answered {status}")
        check(headers.get("Content-Type", "").startswith("text/html"), f"GET / is {headers.get('Content-Type')}")
        csp = headers.get("Content-Security-Policy", "")
        check("default-src 'none'" in csp, f"GET / has no strict CSP: {csp!r}")
        self.page.sign_in(CLIENT_TOKEN, "client")
        buttons = self.page.count(ACTION_BUTTONS)
        check(buttons == 0, f"{buttons} action buttons shown to the client role")
        status, _, body = http(self.http, "POST", f"/api/breakers/{FORCED}/force", CLIENT_TOKEN, {"state": "open"})
        code = json.loads(body).get("error", {}).get("code") if body else None
        check(status == 403 and code == "forbidden", f"force with the client token: {status} {body[:200]!r}")
        self.page.screenshot("1-client.png")
        return (f"{len(self.page.resources())} circuits listed, role {self.page.text('#role')!r}, "
                f"0 action buttons; the API refused a force with the client token (403 forbidden)")

    def live_step(self):
        check(self.page.state(TRIPPED) == "closed", f"{TRIPPED} reads {self.page.state(TRIPPED)!r} before")
        tripper = self.server.client(token=CLIENT_TOKEN, client_name="dashboard-tripper")
        sent = None
        for _ in range(10):
            sent = time.monotonic()
            reply = ok(tripper, {"op": "report", "resource": TRIPPED, "outcome": "failure"})
            if reply["state"] == "open":
                break
        check(reply["state"] == "open", f"{TRIPPED} did not trip: {reply}")
        tripper.close()
        self.page.wait(f"{TRIPPED} reading open", lambda: self.page.state(TRIPPED) == "open", timeout=2)
        seen_ms = (time.monotonic() - sent) * 1000
        self.page.wait("the trip in #transitions", lambda: TRIPPED in (self.page.text("#transitions") or ""), 2)
        self.page.screenshot("2-live-open.png")
        return f"{TRIPPED} read open on the page {seen_ms:.0f} ms after the tripping report was sent (limit 2000)"

    def admin_step(self):
        self.page.sign_in(ADMIN_TOKEN, "admin")
        driver = self.page.driver
        row = f'tr[data-resource="{FORCED}"]'
        check(self.page.count(f"{row} button.force-open") == 1, "no Force open button in the admin's row")
        driver.find_element(By.CSS_SELECTOR, f"{row} button.force-open").click()
        self.page.wait("the force form", lambda: driver.find_element(By.ID, "force-reason").is_displayed())
        driver.find_element(By.ID, "force-reason").send_keys(REASON)
        driver.find_element(By.ID, "force-ttl").send_keys(str(TTL_S))
        driver.find_element(By.ID, "force-submit").click()
        self.page.wait(f"{FORCED} reading forced_open", lambda: self.page.state(FORCED) == "forced_open", 5)
        breaker = ok(self.admin, {"op": "status", "resource": FORCED})["breaker"]
        forced = breaker.get("forced") or {}
        check(breaker["state"] == "forced_open", f"status over TCP: {breaker}")
        check(forced.get("reason") == REASON, f"reason over TCP: {forced}")
        check(str(forced.get("by")).startswith("dashboard@"), f"by over TCP: {forced}")
        remaining = forced.get("remaining_ms")
        check(isinstance(remaining, int) and TTL_S * 1000 - 60000 < remaining <= TTL_S * 1000,
              f"remaining_ms over TCP: {forced}")
        self.page.wait("the force in #transitions", lambda: FORCED in (self.page.text("#transitions") or ""), 2)
        self.page.wait("the row's highlight to fade", lambda: self.page.count("tr.flash") == 0, 5)
        path = self.page.screenshot("3-admin-forced.png")
        if os.environ.get("HB_UPDATE_DOCS") == "1":
            docs = os.path.normpath(os.path.join(HERE, "..", "..", "docs"))
            os.makedirs(docs, exist_ok=True)
            shutil.copyfile(path, os.path.join(docs, "dashboard.png"))
            print(f"  copied to {os.path.join(docs, 'dashboard.png')}")
        return (f"status over TCP: {breaker['state']}, reason {forced.get('reason')!r}, by {forced.get('by')!r}, "
                f"remaining_ms {remaining}")

    def filter_step(self):
        driver = self.page.driver
        box = driver.find_element(By.ID, "prefix")
        box.send_keys("db/")
        want = sorted(n for n in CIRCUITS if n.startswith("db/"))
        self.page.wait("only the db/ rows", lambda: sorted(self.page.resources()) == want, 5)
        self.page.screenshot("4-filter.png")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        self.page.wait("every row again", lambda: sorted(self.page.resources()) == sorted(CIRCUITS), 5)
        return f"prefix db/ showed {want}; cleared, all {len(CIRCUITS)} again"

    def console_step(self):
        errors = self.page.script_errors()
        check(not errors, f"script errors in the browser console: {errors}")
        return "no script errors in the browser console"

    def run(self):
        try:
            self.setup_circuits()
            self.page = Page(f"http://127.0.0.1:{self.http}/", self.artifacts)
            self.step("client", self.client_step)
            self.step("live", self.live_step)
            self.step("admin", self.admin_step)
            self.step("filter", self.filter_step)
            self.step("console", self.console_step)
        finally:
            if self.page is not None:
                self.page.quit()
            code = self.server.stop()
            if code != 0:
                self.failed += 1
                print(f"FAIL shutdown: breakerd exited {code}; stderr: {self.server.log()[-600:]}")
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    return Suite(os.path.abspath(sys.argv[1])).run()


if __name__ == "__main__":
    sys.exit(main())
