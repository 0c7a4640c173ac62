"""The OTLP/HTTP receiver of tests/interop/trace.sh and its checks, on the OpenTelemetry
project's own protobuf classes (PyPI's opentelemetry-proto), so the spans are read as a
collector would read them, not as our exporter believes it wrote them.

    receiver.py serve SPANS          listens on 127.0.0.1 (a free port); prints
                                     "listening PORT"; each span POSTed to /v1/traces
                                     (ExportTraceServiceRequest, application/x-protobuf) is
                                     appended to SPANS as one JSON line
    receiver.py wait SPANS TRACE N   exits 0 once SPANS holds N spans of TRACE (deadline 60 s)
    receiver.py chain SPANS TRACE SERVICE:NAME:KIND[:error] ...
                                     checks the trace is exactly these spans, each the parent
                                     of the next (the first a root), resource service.name,
                                     span name, kind (client, server) and status as listed
    receiver.py fan SPANS TRACE SERVICE:NAME:KIND ...
                                     the first span is a root; every other is its child
    A spec ending in ^N names its parent instead: the Nth spec (from 0).
"""
import http.server
import json
import sys
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

KINDS = {"client": Span.SPAN_KIND_CLIENT, "server": Span.SPAN_KIND_SERVER}


def serve(out):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                print(f"receiver: unexpected POST {self.path} ({self.headers.get('Content-Type')})", file=sys.stderr, flush=True)
                self.send_response(415)
                self.end_headers()
                return
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            lines = []
            for rs in req.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        lines.append(json.dumps({
                            "service": service, "name": s.name, "kind": s.kind,
                            "trace": s.trace_id.hex(), "span": s.span_id.hex(), "parent": s.parent_span_id.hex(),
                            "status": s.status.code, "message": s.status.message,
                        }))
            with open(out, "a") as f:
                f.write("".join(line + "\n" for line in lines))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(b"")  # an empty ExportTraceServiceResponse

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


def spans(path, trace):
    try:
        with open(path) as f:
            return [s for s in map(json.loads, f) if s["trace"] == trace]
    except FileNotFoundError:
        return []


def wait(path, trace, n):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(spans(path, trace)) >= n:
            return 0
        time.sleep(0.1)
    print(f"FAIL spans: {len(spans(path, trace))} of {n} spans of trace {trace} after 60 s", flush=True)
    return 1


def expected(spec):
    spec, _, parent = spec.partition("^")
    service, name, kind, *rest = spec.split(":")
    return service, name, KINDS[kind], rest == ["error"], int(parent) if parent else None


def show(s):
    return f"{s['service']} {s['name']} kind={s['kind']} span={s['span']} parent={s['parent'] or '-'} status={s['status']}"


def check(path, trace, specs, shape):
    got = spans(path, trace)
    want = [expected(s) for s in specs]
    fails = []
    if len(got) != len(want):
        fails.append(f"{len(got)} spans in the trace, want {len(want)}")
    found = []
    for service, name, kind, error, _ in want:
        match = [s for s in got if (s["service"], s["name"], s["kind"]) == (service, name, kind)]
        if len(match) != 1:
            fails.append(f"{len(match)} spans {service}/{name}/kind {kind}, want 1")
            found.append(None)
            continue
        s = match[0]
        found.append(s)
        if error != (s["status"] == Status.STATUS_CODE_ERROR):
            fails.append(f"{show(s)}: status {s['status']}, want {'error' if error else 'not error'}")
    if found and found[0] is not None and found[0]["parent"]:
        fails.append(f"{show(found[0])}: not a root")
    for i, s in enumerate(found[1:], 1):
        at = want[i][4] if want[i][4] is not None else i - 1 if shape == "chain" else 0
        parent = found[at]
        if s is not None and parent is not None and s["parent"] != parent["span"]:
            fails.append(f"{show(s)}: parent {s['parent'] or '-'}, want {parent['span']} ({parent['service']} {parent['name']})")
    for f in fails:
        print(f"FAIL {shape} {trace}: {f}", flush=True)
    if fails:
        for s in got:
            print(f"  got {show(s)}", flush=True)
    return 1 if fails else 0


if __name__ == "__main__":
    cmd, path, *rest = sys.argv[1:]
    if cmd == "serve":
        serve(path)
    elif cmd == "wait":
        sys.exit(wait(path, rest[0], int(rest[1])))
    elif cmd in ("chain", "fan"):
        sys.exit(check(path, rest[0], rest[1:], cmd))
    else:
        sys.exit(f"receiver.py: unknown command {cmd}")
