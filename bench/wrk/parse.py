"""wrk's output (with --latency and wrk/gomicro.lua) as one JSON line in loadgen's shape.

    wrk ... | python3 parse.py SECONDS

requests, errors (replies gomicro.lua counted as wrong, plus wrk's socket errors and
timeouts), seconds, rate (wrk's Requests/sec), p50_us and p99_us (wrk's latency
distribution; it gives no 99.9th, so p999_us is the maximum it saw).
"""
import json
import re
import sys

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def micros(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def main() -> None:
    out = sys.stdin.read()
    seconds = float(sys.argv[1])
    try:
        pct = {int(p): micros(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M)}
        rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))
        requests = int(re.search(r"^\s+(\d+) requests in", out, re.M).group(1))
        latmax = micros(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M).group(1))
        bad = json.loads(re.findall(r'^\{"bad":\d+\}$', out, re.M)[-1])["bad"]
    except (AttributeError, IndexError, ValueError) as e:
        sys.exit(f"wrk/parse.py: cannot read wrk's output ({e}):\n{out}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = bad + (sum(int(x) for x in sock.groups()) if sock else 0)
    print(json.dumps({"requests": requests, "errors": errors, "seconds": seconds, "rate": rate,
                      "p50_us": pct.get(50, 0.0), "p99_us": pct.get(99, 0.0), "p999_us": latmax},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
