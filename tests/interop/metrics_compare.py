"""Holds the /metrics texts of our services (Rust, Python, Node) against go-micro v5.30.0's
own Prometheus wrapper, parsed by the Prometheus project's Python client (PyPI
`prometheus-client`), not by string matching.

    python metrics_compare.py SUCCESS FAIL go=SERVICE:ENDPOINT:FILE rust=...:...:FILE ...

The first `go=` is the reference; a name ending in `-openmetrics` is parsed as OpenMetrics. For each service: both families exist with go-micro's
names and types, the label names are go-micro's, the counter reads SUCCESS successes and
FAIL failures for its endpoint, the help texts are go-micro's, the histogram's buckets are go-micro's (Prometheus'
defaults), cumulative, and its _count equals the counter. Exit 1 on any difference."""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

COUNTER, HISTOGRAM = "micro_request", "micro_request_duration_seconds"


def families(path, openmetrics=False):
    """The families in a scrape, by the parser for its format (text 0.0.4 or OpenMetrics)."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    with open(path, encoding="utf-8") as f:
        return {fam.name: fam for fam in parse(f.read())}


def summary(fams, service, endpoint):
    """What one service's scrape says about service/endpoint, in a comparable form."""
    out = {}
    for name, want in ((COUNTER, "counter"), (HISTOGRAM, "histogram")):
        fam = fams.get(name)
        if fam is None:
            raise AssertionError(f"no {name} family (have {sorted(fams)})")
        if fam.type != want:
            raise AssertionError(f"{name} is a {fam.type}, want {want}")
    mine = lambda s: s.labels.get("service") == service and s.labels.get("endpoint") == endpoint
    counts = {s.labels["status"]: s.value for s in fams[COUNTER].samples if mine(s) and s.name == COUNTER + "_total"}
    labels = sorted({k for s in fams[COUNTER].samples if mine(s) for k in s.labels})
    buckets, hist_counts, hist_labels = {}, {}, set()
    for s in fams[HISTOGRAM].samples:
        if not mine(s):
            continue
        hist_labels |= {k for k in s.labels if k != "le"}
        if s.name == HISTOGRAM + "_bucket":
            buckets.setdefault(s.labels["status"], []).append((float(s.labels["le"]), s.value))
        elif s.name == HISTOGRAM + "_count":
            hist_counts[s.labels["status"]] = s.value
    for status, bs in buckets.items():
        values = [v for _, v in sorted(bs)]
        if values != sorted(values):
            raise AssertionError(f"{status} buckets are not cumulative: {bs}")
        if sorted(bs)[-1][0] != float("inf") or sorted(bs)[-1][1] != hist_counts.get(status):
            raise AssertionError(f"{status}: +Inf bucket {sorted(bs)[-1]} != _count {hist_counts.get(status)}")
    return {
        "counts": counts,
        "labels": labels,
        "histogram_labels": sorted(hist_labels),
        "histogram_counts": hist_counts,
        "bounds": sorted({le for bs in buckets.values() for le, _ in bs}),
        "help": [fams[COUNTER].documentation, fams[HISTOGRAM].documentation],
    }


def main():
    success, fail = float(sys.argv[1]), float(sys.argv[2])
    want_counts = {"success": success, "fail": fail}
    ref, failures = None, 0
    for arg in sys.argv[3:]:
        who, spec = arg.split("=", 1)
        service, endpoint, path = spec.split(":", 2)
        try:
            got = summary(families(path, who.endswith("-openmetrics")), service, endpoint)
            if got["counts"] != want_counts:
                raise AssertionError(f"counter {got['counts']}, want {want_counts}")
            if got["histogram_counts"] != want_counts:
                raise AssertionError(f"histogram _count {got['histogram_counts']}, want {want_counts}")
            if ref is None:
                ref = got
            else:
                for key in ("labels", "histogram_labels", "bounds", "help"):
                    if got[key] != ref[key]:
                        raise AssertionError(f"{key} {got[key]} != go-micro's {ref[key]}")
            print(f"ok metrics_{who}: {got['counts']} labels {got['labels']} {len(got['bounds'])} buckets")
        except (AssertionError, KeyError, ValueError) as e:
            print(f"FAIL metrics_{who}: {e}")
            failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
