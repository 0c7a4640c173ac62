#!/usr/bin/env python3
"""The `micro api --enable_stats` page in a real browser (run by scripts/test.d/57-gateway-stats.sh).

Starts `micro --registry memory api --enable_stats` on a free port, sends known traffic
(3 answered 200, 3 answered 4xx: two 404 for an unknown service, one 413 for a body over
--max_body on /rpc), then:

- reads `/stats` as JSON and `/metrics` (every non-comment line `name{labels} value`) and
  checks their counts;
- loads `/stats` in headless Chromium over the DevTools protocol (the `websockets`
  package), waits for `document.body.dataset.loaded === "1"`, reads the Requests table and
  checks it (Total 6 — the page's own fetches are not traffic —, 20x 3, 30x 0, 40x 3, 50x 0);
- saves a PNG screenshot to the path given by --screenshot.

Usage: gateway_stats_check.py --micro PATH --screenshot PATH [--chromium PATH]
Exits non-zero, saying why, on any mismatch or when the browser cannot start.
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from websockets.sync.client import connect

MAX_BODY = 64


def fail(msg):
    print(f"gateway stats check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def http(method, url, body=None, headers=None):
    """(status, body bytes) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as rsp:
            return rsp.status, rsp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start_gateway(micro):
    proc = subprocess.Popen(
        [micro, "--registry", "memory", "api", "--enable_stats", "--api_address", "127.0.0.1:0",
         "--enable_rpc", "--max_body", str(MAX_BODY)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            fail(f"micro api exited before listening (rc {proc.poll()})")
        m = re.search(r"micro api listening on http://(\S+)", line)
        if m:
            return proc, m.group(1)
    fail("micro api printed no 'listening' line within 20 s")


def traffic(base):
    """The known traffic; each answer's status is checked as it comes."""
    expect = []
    for _ in range(3):
        expect.append(("GET /health", 200, http("GET", base + "/health")[0]))
    for i in range(2):
        expect.append((f"POST /nosuch{i}/call", 404,
                       http("POST", f"{base}/nosuch{i}/call", b"{}", {"Content-Type": "application/json"})[0]))
    big = b'{"pad":"' + b"x" * (MAX_BODY * 4) + b'"}'
    # /rpc reads the body before it looks the service up (the meta handler answers an unknown
    # service's 404 first), so the limit is met there without a backend.
    status, body = http("POST", base + "/rpc", big, {"Content-Type": "application/json"})
    expect.append(("POST /rpc over --max_body", 413, status))
    if status == 413 and str(MAX_BODY).encode() not in body:
        fail(f"the 413 does not name the limit ({MAX_BODY}): {body!r}")
    for what, want, got in expect:
        if want != got:
            fail(f"{what}: status {got}, want {want}")


WANT = {"Total": 6, "20x": 3, "30x": 0, "40x": 3, "50x": 0}


def check_json_and_metrics(base):
    status, body = http("GET", base + "/stats", headers={"Content-Type": "application/json"})
    if status != 200:
        fail(f"/stats as JSON: status {status}")
    snap = json.loads(body)
    got = {"Total": snap["total_reqs"], **snap["totals"]}
    if got != WANT:
        fail(f"/stats JSON totals {got}, want {WANT}")
    bucketed = sum(c["total_reqs"] for c in snap["counters"])
    if bucketed != 6:
        fail(f"/stats JSON buckets add up to {bucketed}, want 6")

    status, body = http("GET", base + "/metrics")
    if status != 200:
        fail(f"/metrics: status {status}")
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')
    codes = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            fail(f"/metrics: not Prometheus text: {line!r}")
        try:
            value = float(m.group(4))
        except ValueError:
            fail(f"/metrics: value not a number: {line!r}")
        c = re.search(r'code="([^"]*)"', m.group(2) or "")
        if m.group(1) == "micro_api_requests_total" and c:
            codes[c.group(1)] = value
    want = {"2xx": 3, "3xx": 0, "4xx": 3, "5xx": 0}
    if codes != want:
        fail(f"/metrics micro_api_requests_total {codes}, want {want}")


class Browser:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self, exe):
        self.dir = tempfile.mkdtemp(prefix="gwstats-chromium-")
        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-extensions", "--disable-sync", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={self.dir}", "--remote-debugging-port=0",
                "--window-size=1200,800", "about:blank"]
        try:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            shutil.rmtree(self.dir, ignore_errors=True)
            fail(f"the browser cannot start ({exe}): {e}")
        deadline = time.time() + 30
        port = None
        while time.time() < deadline and port is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = m.group(1)
        if port is None:
            rest = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.close()
            fail(f"the browser did not start ({exe}): {rest.strip()[-2000:]}")
        # Drain stderr so the browser never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as rsp:
            pages = [t for t in json.load(rsp) if t.get("type") == "page"]
        if not pages:
            fail("the browser has no page target")
        self.conn = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self.ws = self.conn.__enter__()
        self.next_id = 0

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    fail(f"DevTools {method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            fail(f"page script failed: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def close(self):
        if hasattr(self, "conn"):
            self.conn.__exit__(None, None, None)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


READ_TABLE = """JSON.stringify(Object.fromEntries(
  [...document.querySelectorAll('#requests tr')].map(r =>
    [r.querySelector('th').textContent.trim(), r.querySelector('td').textContent.trim()])))"""


def check_page(base, exe, shot):
    b = Browser(exe)
    try:
        b.send("Page.enable")
        b.send("Emulation.setDeviceMetricsOverride", width=1200, height=720, deviceScaleFactor=1, mobile=False)
        b.send("Page.navigate", url=base + "/stats")
        deadline = time.time() + 20
        while b.eval('document.body ? document.body.dataset.loaded || "" : ""') != "1":
            if time.time() > deadline:
                fail("the stats page never rendered (document.body.dataset.loaded != '1' after 20 s)")
            time.sleep(0.1)
        title = b.eval("document.title")
        if title != "Micro Stats":
            fail(f"page title {title!r}")
        table = json.loads(b.eval(READ_TABLE))
        got = {k: int(v) for k, v in table.items()}
        if got != WANT:
            fail(f"the page's Requests table {table}, want {WANT}")
        # The chart's bars add up to the traffic, per class.
        bars = json.loads(b.eval("""JSON.stringify([...document.querySelectorAll('#chart rect.bar')]
            .map(r => [r.dataset.class, r.querySelector('title').textContent.split(': ').pop()]))"""))
        drawn = {}
        for k, n in bars:
            drawn[k] = drawn.get(k, 0) + int(n)
        if drawn != {"20x": 3, "40x": 3}:
            fail(f"the chart's bars add up to {drawn}, want 20x 3 and 40x 3")
        png = base64.b64decode(b.send("Page.captureScreenshot", format="png")["data"])
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        with open(shot, "wb") as f:
            f.write(png)
        print(f"gateway stats check: page table {table}; screenshot {shot} ({len(png)} bytes)")
    finally:
        b.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--micro", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    a = ap.parse_args()
    proc, addr = start_gateway(a.micro)
    base = f"http://{addr}"
    try:
        traffic(base)
        check_json_and_metrics(base)
        check_page(base, a.chromium, a.screenshot)
        # The page's fetches (and the checks' own /stats, /metrics) were not counted.
        check_json_and_metrics(base)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("gateway stats check: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
