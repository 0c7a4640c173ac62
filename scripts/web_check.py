#!/usr/bin/env python3
"""`micro web`'s dashboard in a real browser (run by scripts/test.d/58-web.sh, inside scripts/netns.sh).

Starts live services on mDNS — the Rust greeter (target/debug/server), a go-micro v5.30.0
service (tests/interop/go/bin/gm5 serve) and, when given, the Python greeter
(examples/python/greeter/server.py) and a Node greeter — then `micro web` on a free port,
and drives Debian's headless Chromium over the DevTools protocol (the `websockets` package):

1. the services page lists every service;
2. the go-micro service's page: fill the form generated from Greeter.Hello's request shape
   (typed with DevTools' Input.insertText), call, read the reply on the page;
3. Greeter.Fail through the raw JSON box: the page shows go-micro's error (id, code, detail);
4. every other greeter called through its raw JSON box;
5. the terminal page runs `list services`; the registry view shows every service's nodes and
   the API page documents the go-micro service's endpoints and fields;
6. with the services page open, the go-micro service is stopped (SIGTERM: deregister and mDNS
   goodbye) and leaves the page with no reload (a marker set on the page survives);
7. a phone-sized window: the service page has no horizontal overflow;
8. `micro server` (auth on, its default): the dashboard sends the browser to the sign-in
   page, a wrong password is refused there with a message, the admin signs in and (from the
   page) adds a rule asking for a scope on the Rust greeter and an account without it;
9. signed in as that account, the Rust greeter's call form shows the 403 from go.micro.auth.

A screenshot is kept at each step: <artifacts>/web-<n>-<what>.png.

Usage: web_check.py --micro PATH --greeter PATH --gm5 PATH --artifacts DIR
                    [--python PATH --node-package DIR] [--chromium PATH]
Exits non-zero, saying why, on any mismatch.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from websockets.sync.client import connect

WAIT = 30  # seconds any one page state may take to appear


def fail(msg):
    print(f"web check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def say(msg):
    print(f"web check: {msg}", flush=True)


class Proc:
    """A child whose stdout lines are read on a thread; waits on a line by pattern."""

    def __init__(self, what, args, env=None):
        self.what = what
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=full_env)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines.append(None)
            self.cv.notify_all()

    def wait_for(self, pattern):
        rx = re.compile(pattern)
        deadline = time.time() + WAIT
        seen = 0
        with self.cv:
            while True:
                for line in self.lines[seen:]:
                    if line is None:
                        fail(f"{self.what} exited (rc {self.p.poll()}) before printing /{pattern}/")
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                left = deadline - time.time()
                if left <= 0:
                    fail(f"{self.what} printed no /{pattern}/ within {WAIT} s")
                self.cv.wait(left)

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Browser:
    """Headless Chromium driven over the DevTools protocol (as gateway_stats_check.py)."""

    def __init__(self, exe):
        self.dir = tempfile.mkdtemp(prefix="web-chromium-")
        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-extensions", "--disable-sync", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={self.dir}", "--remote-debugging-port=0",
                "--window-size=1200,900", "about:blank"]
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
            self.close()
            fail(f"the browser did not start ({exe})")
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
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"page script failed: {r['exceptionDetails']}\n{expr}")
        return r.get("result", {}).get("value")

    def until(self, expr, what):
        """Polls the page until `expr` is truthy (the page's own state, not a fixed wait)."""
        deadline = time.time() + WAIT
        # An element does not cross DevTools by value (it comes back as {}): say true instead.
        # Mid-navigation the document may not be there yet: not yet, rather than a failure.
        probe = f"(() => {{ try {{ const v = ({expr}); return v instanceof Node ? true : v; }} catch (e) {{ return false; }} }})()"
        while True:
            v = self.eval(probe)
            if v:
                return v
            if time.time() > deadline:
                state = self.eval("JSON.stringify({url: location.href, live: (document.getElementById('live') || {})"
                                  ".textContent, page: ((document.getElementById('main') || {}).innerText || '')"
                                  ".slice(0, 600)})")
                fail(f"{what}: not seen within {WAIT} s; the page: {state}")
            time.sleep(0.1)

    def goto(self, url):
        self.send("Page.navigate", url=url)
        self.until("document.readyState === 'complete' && document.body && document.body.dataset.loaded === '1'",
                   f"{url} loaded and live")

    def shot(self, path):
        png = base64.b64decode(self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])
        with open(path, "wb") as f:
            f.write(png)
        say(f"screenshot {path} ({len(png)} bytes)")

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


def js(v):
    return json.dumps(v)


def form(service, endpoint):
    return f"document.querySelector('form.call[data-service={js(service)}][data-endpoint={js(endpoint)}]')"


def call_raw(b, service, endpoint, request):
    """Puts `request` in the form's raw JSON box, submits, waits for the outcome."""
    f = form(service, endpoint)
    b.until(f, f"the {service} {endpoint} form")
    b.eval(f"(() => {{ const f = {f}; f.dataset.state = ''; f.querySelector('textarea').value = {js(request)};"
           f" f.querySelector('button[type=submit]').click(); }})()")
    return b.until(f"(() => {{ const s = {f}.dataset.state; return s === 'done' || s === 'error' ? s : ''; }})()",
                   f"{service} {endpoint} answered on the page")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--micro", required=True)
    ap.add_argument("--greeter", required=True)
    ap.add_argument("--gm5", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--python")
    ap.add_argument("--node-package")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    a = ap.parse_args()
    os.makedirs(a.artifacts, exist_ok=True)
    pid = os.getpid()
    names = {"go": f"webt.go.{pid}", "rust": f"webt.rust.{pid}"}
    procs = []
    try:
        go = Proc("gm5 serve", [a.gm5, "serve", "--name", names["go"]])
        procs.append(go)
        rust = Proc("the Rust greeter", [a.greeter], {"MICRO_SERVER_NAME": names["rust"]})
        procs.append(rust)
        go.wait_for(r'"event":"ready"')
        rust.wait_for(r"listening on")
        if a.python:
            names["python"] = f"webt.python.{pid}"
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            py = Proc("the Python greeter", [a.python, os.path.join(root, "examples/python/greeter/server.py"),
                                             names["python"]])
            procs.append(py)
        if a.node_package:
            names["node"] = f"webt.node.{pid}"
            src = ("const micro = require(process.env.MICRO_TEST_NODE_PACKAGE);"
                   "const svc = new micro.Service(process.argv[1]);"
                   "svc.handle('Greeter.Hello', async (req) => ({ message: `Hello ${req.name}` }));"
                   "process.once('SIGTERM', () => svc.close());"
                   "svc.start().then(() => console.log('node greeter ready'));")
            node = Proc("the Node greeter", ["node", "-e", src, names["node"]],
                        {"MICRO_TEST_NODE_PACKAGE": a.node_package})
            procs.append(node)
            node.wait_for("node greeter ready")
        web = Proc("micro web", [a.micro, "web", "--web_address", "127.0.0.1:0"])
        procs.append(web)
        base = "http://" + web.wait_for(r"micro web listening on http://(\S+)").group(1)
        say(f"micro web at {base}; services {sorted(names.values())}")

        b = Browser(a.chromium)
        try:
            b.send("Page.enable")
            b.send("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
            art = lambda n, what: os.path.join(a.artifacts, f"web-{n}-{what}.png")

            # 1. Every service on the services page (mDNS answers may take a moment: the page
            #    fills in from the live registry feed as they come).
            b.goto(base + "/")
            if b.eval("document.title") != "Micro Web":
                fail(f"title {b.eval('document.title')!r}")
            for n in names.values():
                b.until(f"document.querySelector('#services li[data-service={js(n)}]')", f"{n} on the services page")
            b.shot(art(1, "services"))

            # 2. The go-micro service's page, its generated form, typed in and called.
            b.eval(f"document.querySelector('#services li[data-service={js(names['go'])}] a').click()")
            b.until(f"location.search.includes({js(names['go'])}) && document.body.dataset.loaded === '1'",
                    "the service page")
            f = form(names["go"], "Greeter.Hello")
            b.until(f"{f} && {f}.querySelector('input[data-path]')", "Greeter.Hello's generated field")
            b.eval(f"{f}.querySelector('input[name=name]').focus()")
            b.send("Input.insertText", text="Browser")
            raw = b.eval(f"{f}.querySelector('textarea').value")
            if json.loads(raw) != {"name": "Browser"}:
                fail(f"the form did not fill the raw JSON box: {raw!r}")
            b.eval(f"{f}.querySelector('button[type=submit]').click()")
            b.until(f"{f}.dataset.state === 'done' || {f}.dataset.state === 'error'", "the form's reply")
            reply = b.eval(f"({f}.querySelector('.reply') || {{}}).textContent || ''")
            if "Hello Browser" not in reply:
                fail(f"reply on the page {reply!r}, state {b.eval(f + '.dataset.state')}")
            say(f"form call to {names['go']} Greeter.Hello: {reply.strip()!r}")
            b.eval(f"{f}.scrollIntoView()")
            b.shot(art(2, "form-reply"))

            # 3. go-micro's error shown with its id, code and detail.
            state = call_raw(b, names["go"], "Greeter.Fail", '{"code": 409, "detail": "taken by browser"}')
            ff = form(names["go"], "Greeter.Fail")
            err = b.eval(f"[...{ff}.querySelectorAll('.err-id, .err-code, .err-detail')].map(e => e.textContent)")
            if state != "error" or err != ["go.greeter", "409", "taken by browser"]:
                fail(f"Greeter.Fail on the page: state {state}, error {err}")
            say(f"go-micro error on the page: {err}")
            b.eval(f"{ff}.scrollIntoView()")
            b.shot(art(3, "error"))

            # 4. Every other greeter through its raw JSON box (they register no request shape).
            for lang in [k for k in names if k != "go"]:
                b.goto(base + "/registry?service=" + names[lang])
                state = call_raw(b, names[lang], "Greeter.Hello", '{"name": "Page"}')
                reply = b.eval(f"({form(names[lang], 'Greeter.Hello')}.querySelector('.reply') || {{}}).textContent")
                if state != "done" or "Hello Page" not in (reply or ""):
                    fail(f"{lang} greeter through the page: state {state}, reply {reply!r}")
                say(f"{lang} greeter through the page: {reply.strip()!r}")
            b.shot(art(4, "greeter-call"))

            # 5. The terminal.
            b.goto(base + "/terminal")
            b.eval("document.getElementById('term-in').focus()")
            b.send("Input.insertText", text="list services")
            b.eval("document.querySelector('form.term-form button').click()")
            b.until("document.querySelector('form.term-form').dataset.state === 'done'", "the terminal's answer")
            out = b.eval("document.getElementById('term-out').textContent")
            for n in names.values():
                if n not in out:
                    fail(f"`list services` on the terminal page does not list {n}: {out!r}")
            b.shot(art(5, "terminal"))

            # 5b. The registry view (every node) and the API page (every endpoint documented).
            b.goto(base + "/registry")
            for n in names.values():
                b.until(f"document.querySelector('#registry tr[data-service={js(n)}]')", f"{n} in the registry view")
            b.shot(art("5b", "registry"))
            b.goto(base + "/api")
            b.until(f"document.querySelector('#api section[data-service={js(names['go'])}] "
                    f"[data-endpoint=\"Greeter.Hello\"]')", "Greeter.Hello documented on the API page")
            doc = b.eval(f"document.querySelector('#api section[data-service={js(names['go'])}]').innerText")
            for want in ["Greeter.Fail", "code", "int32", "message", "/rpc"]:
                if want not in doc:
                    fail(f"the API page's {names['go']} section lacks {want!r}: {doc!r}")
            b.shot(art("5c", "api"))

            # 6. A service that stops leaves the open page, with no reload.
            b.goto(base + "/")
            b.until(f"document.querySelector('#services li[data-service={js(names['go'])}]')", "the go service listed")
            b.eval("window.__noReload = 'still here'")
            go.signal(signal.SIGTERM)
            b.until(f"!document.querySelector('#services li[data-service={js(names['go'])}]')",
                    f"{names['go']} gone from the open page")
            if b.eval("window.__noReload") != "still here":
                fail("the page was reloaded")
            if not b.eval(f"!!document.querySelector('#services li[data-service={js(names['rust'])}]')"):
                fail("the Rust greeter left the page too")
            say(f"{names['go']} stopped and left the open page without a reload")
            b.shot(art(6, "service-gone"))

            # 7. Phone width.
            b.send("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
            b.goto(base + "/registry?service=" + names["rust"])
            b.until(form(names["rust"], "Greeter.Hello"), "the form at phone width")
            over = b.eval("document.documentElement.scrollWidth - window.innerWidth")
            if over > 1:
                fail(f"the service page is {over}px wider than a phone's window")
            b.shot(art(7, "phone"))

            # 8. `micro server` signs callers in: the dashboard sends a browser to the sign-in
            #    page, a wrong password is refused on the page, the admin gets in, and an
            #    account without the scope a rule asks for sees the 403 on the call form.
            b.send("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
            auth_dir = tempfile.mkdtemp(prefix="web-auth-")
            admin_pw = f"admin-{pid}-browser"
            srv = Proc("micro server", [a.micro, "server", "--server_address", "127.0.0.1:0", "--auth_dir", auth_dir],
                       {"MICRO_ADMIN_PASSWORD": admin_pw})
            procs.append(srv)
            base2 = "http://" + srv.wait_for(r"micro server listening on http://(\S+) .*auth on").group(1)
            say(f"micro server (auth on) at {base2}")
            b.send("Page.navigate", url=base2 + "/")
            b.until("location.pathname === '/auth/login' && document.getElementById('password')",
                    "the sign-in page instead of the dashboard")

            def sign_in(user, password, what):
                b.until("document.readyState === 'complete' && document.getElementById('password')", "the sign-in form")
                b.eval(f"document.getElementById('id').value = {js(user)};"
                       f" document.getElementById('password').value = {js(password)};"
                       " document.querySelector('form.card button[type=submit]').click()")
                b.until(f"document.readyState === 'complete' && ({what})", f"{user} signed in or refused")

            sign_in("admin", "not-the-password", "document.querySelector('p.error[role=alert]')")
            msg = b.eval("document.querySelector('p.error[role=alert]').textContent")
            if "password" not in msg.lower() and "account" not in msg.lower():
                fail(f"the sign-in page's message for a wrong password: {msg!r}")
            say(f"wrong password refused on the page: {msg.strip()!r}")
            b.shot(art(8, "wrong-password"))

            sign_in("admin", admin_pw, "document.body && document.body.dataset.loaded === '1'")
            b.until(f"document.querySelector('#services li[data-service={js(names['rust'])}]')",
                    "the Rust greeter on the signed-in dashboard")
            # As the admin, from the page (its own origin and cookie): a rule that asks for the
            # scope `locked` on the Rust greeter, and an account without it.
            made = b.eval(
                "(async () => { const post = (u, b) => fetch(u, {method: 'POST', headers: {'content-type':"
                " 'application/json', accept: 'application/json'}, body: JSON.stringify(b)}).then(r => r.status);"
                f" return [await post('/auth/rules', {{resource: {js(names['rust'])}, scopes: 'locked'}}),"
                f" await post('/auth/users', {{id: 'viewer', password: {js(admin_pw + '-viewer')}, role: 'user'}})]; }})()")
            if made[0] not in (200, 201) or made[1] not in (200, 201):
                fail(f"the admin could not add the rule and the account from the page: {made}")
            b.send("Page.navigate", url=base2 + "/auth/logout")
            b.send("Page.navigate", url=base2 + "/registry?service=" + names["rust"])
            b.until("location.pathname === '/auth/login'", "signed out: the sign-in page again")
            sign_in("viewer", admin_pw + "-viewer", "document.body && document.body.dataset.loaded === '1'")
            state = call_raw(b, names["rust"], "Greeter.Hello", '{"name": "Viewer"}')
            fr = form(names["rust"], "Greeter.Hello")
            err = b.eval(f"[...{fr}.querySelectorAll('.err-id, .err-code, .err-detail')].map(e => e.textContent)")
            if state != "error" or err[:2] != ["go.micro.auth", "403"] or "locked" not in err[2]:
                fail(f"a call outside the viewer's scopes: state {state}, error on the page {err}")
            say(f"a call outside the viewer's scopes is refused on the page: {err}")
            b.eval(f"{fr}.scrollIntoView()")
            b.shot(art(9, "forbidden"))
            shutil.rmtree(auth_dir, ignore_errors=True)
        finally:
            b.close()
    finally:
        for p in reversed(procs):
            p.stop()
    print("web check: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
