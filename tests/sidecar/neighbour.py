#!/usr/bin/env python3
"""A program with no micro binding beside `micro proxy`: Python's standard library only.

    neighbour.py serve PORT_FILE
        An HTTP server on 127.0.0.1 (a free port, written to PORT_FILE) that the sidecar
        registers as a service and forwards the mesh's calls to:
          POST /greeter/hello   {"name":x} -> {"message":"Hello x","endpoint":<Micro-Endpoint>}
          POST /greeter/fail    -> 418 with a text body
          POST /slow/hang       -> never answers (a hanging neighbour)
          GET  /health          -> 200 while well, 503 while sick
          POST /admin/sick | /admin/well   flips /health
    neighbour.py call SIDECAR PATH JSON          POST JSON to the sidecar, print the answer
    neighbour.py publish SIDECAR TOPIC JSON      POST /broker?topic=TOPIC
    neighbour.py subscribe SIDECAR TOPIC         websocket /broker?topic=TOPIC; prints "subscribed",
                                                 then the first message's body, and exits
    neighbour.py stall SIDECAR TOPIC             websocket subscriber that never reads; prints
                                                 "subscribed" and waits to be killed
"""

import base64
import http.client
import http.server
import json
import os
import socket
import struct
import sys
import threading

WELL = threading.Event()
WELL.set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200 if WELL.is_set() else 503, "ok" if WELL.is_set() else "sick", "text/plain")
        self.answer(404, "not found", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/admin/sick":
            WELL.clear()
            return self.answer(200, "{}")
        if self.path == "/admin/well":
            WELL.set()
            return self.answer(200, "{}")
        if self.path == "/greeter/hello":
            req = json.loads(body or b"{}")
            rsp = {"message": "Hello " + str(req.get("name", "")), "endpoint": self.headers.get("Micro-Endpoint", "")}
            return self.answer(200, json.dumps(rsp))
        if self.path == "/greeter/fail":
            return self.answer(418, "no tea here", "text/plain")
        if self.path == "/slow/hang":
            threading.Event().wait()
        self.answer(404, "no route " + self.path, "text/plain")


def serve(port_file):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


def post(sidecar, path, body, ctype="application/json"):
    host, port = sidecar.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("POST", path, body=body.encode(), headers={"Content-Type": ctype})
    r = c.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode(errors="replace")}))
    sys.stdout.flush()


def websocket(sidecar, topic, rcvbuf=None):
    """Opens a websocket to the sidecar's /broker (RFC 6455 client handshake by hand)."""
    host, port = sidecar.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /broker?topic={topic} HTTP/1.1\r\nHost: {sidecar}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit("sidecar closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise SystemExit("no websocket: " + head.decode(errors="replace"))
    return s


def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise SystemExit("websocket closed")
        out += chunk
    return out


def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    return b0 & 0x0F, read_exact(s, n)


def subscribe(sidecar, topic):
    s = websocket(sidecar, topic)
    print("subscribed")
    sys.stdout.flush()
    while True:
        op, data = read_frame(s)
        if op == 1:
            env = json.loads(data)
            print(json.dumps({"header": env.get("Header"), "body": base64.b64decode(env["Body"]).decode()}))
            return


def stall(sidecar, topic):
    s = websocket(sidecar, topic, rcvbuf=4096)
    print("subscribed")
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(*args)
    elif cmd == "call":
        post(args[0], args[1], args[2])
    elif cmd == "publish":
        post(args[0], "/broker?topic=" + args[1], args[2])
    elif cmd == "subscribe":
        subscribe(*args)
    elif cmd == "stall":
        stall(*args)
    else:
        raise SystemExit("unknown command " + cmd)
