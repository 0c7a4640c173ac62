#!/usr/bin/env python3
"""Fails when an export of include/micro.h has a string argument that no C test passes invalid UTF-8.

For every function declared in the header, every `const char *` parameter (text the library
reads as UTF-8: names, URLs, addresses, topics, endpoints, header keys and values, details)
must appear as the token `BAD_UTF8` (the test program's one invalid UTF-8 string) in that
position of at least one call in the C tests in which no other string argument is `BAD_UTF8`
and no required pointer argument is NULL (optional ones — `err`, `options`, `queue`, … — may
be), so the call exercises that argument's check. That call must also assert the documented
outcome in the same statement:
  - a function returning `micro_status`: the statement names `MICRO_STATUS_INVALID_UTF8`;
    one that also takes `micro_error **err`: the statement is a `CHECK_ERR(…,
    MICRO_STATUS_INVALID_UTF8, "<what>")` whose `<what>` is the parameter's name, so the
    error detail names the argument;
  - a lookup returning `bool`: the call is negated (`!f(…, BAD_UTF8, …)`: not found);
  - a constructor returning a pointer: the call is compared `== NULL`.
The header is parsed by tests/c/null_coverage.py's parser and calls are found as it finds
them, except that string literals keep their word characters here, so `"topic"` can be
matched.

    tests/c/utf8_coverage.py [HEADER] [TEST.c ...]   (defaults: include/micro.h tests/c/*.c)
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from null_coverage import calls_at as calls, declarations, is_pointer, optional, param_name  # noqa: E402
from null_coverage import strip_comments_and_strings  # noqa: E402

TOKEN = "BAD_UTF8"

# `const char *` parameters that are not UTF-8 text (raw bytes with a length, say), by
# (function, parameter). None today: every byte buffer of the ABI is a `micro_bytes`, and
# every `const char *` argument is UTF-8 text the library checks.
NOT_TEXT: set = set()


def is_text(param: str) -> bool:
    return re.match(r"^const\s+char\s*\*\s*\w+$", param) is not None


def statement(src: str, start: int, end: int) -> str:
    """The statement around src[start:end]: from the last `;`, `{` or `}` before it to the
    next `;`."""
    b = max(src.rfind(c, 0, start) for c in ";{}") + 1
    e = src.find(";", end)
    return src[b : len(src) if e < 0 else e]


def asserted(src, start, end, ret, params, i) -> bool:
    """Whether the call at src[start:end] checks the documented outcome of invalid UTF-8 in
    argument i (see the module's doc)."""
    stmt = statement(src, start, end)
    if ret == "micro_status":
        if "MICRO_STATUS_INVALID_UTF8" not in stmt:
            return False
        if any(param_name(p) == "err" for p in params):
            m = re.search(r"\bCHECK_ERR\s*\(.*,\s*MICRO_STATUS_INVALID_UTF8\s*,\s*\"(\w+)\"\s*\)\s*$", stmt, re.S)
            return m is not None and m.group(1) == param_name(params[i])
        return True
    if ret == "bool":
        return src[:start].rstrip().endswith("!")
    return re.match(r"\s*==\s*NULL\b", src[end:]) is not None


def return_types(header: str):
    """The return type of every function the header declares, by name (parsed as
    null_coverage's `declarations` parses the prototypes)."""
    text = "\n".join(l for l in strip_comments_and_strings(header, keep_words=True).splitlines() if not l.lstrip().startswith("#"))
    types = {}
    for stmt in text.split(";"):
        stmt = re.split(r"[{}]", stmt)[-1]  # after `extern "C" {` or a struct's body
        m = re.match(r"^([\w\s\*]*?)\b(micro_\w+)\s*\(", " ".join(stmt.split()))
        if m and not m.group(1).startswith("typedef"):
            types[m.group(2)] = " ".join(m.group(1).replace("struct ", "").split())
    return types


def main() -> int:
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    header = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "include", "micro.h")
    tests = sys.argv[2:] or sorted(glob.glob(os.path.join(top, "tests", "c", "*.c")))
    src = "".join(strip_comments_and_strings(open(t).read(), keep_words=True) for t in tests)
    htext = open(header).read()
    decls = list(declarations(htext))
    rets = return_types(htext)
    missing, checked, excluded = [], 0, 0
    for name, params in decls:
        all_calls = list(calls(src, name))
        for i, p in enumerate(params):
            if not is_text(p):
                continue
            if (name, param_name(p)) in NOT_TEXT:
                excluded += 1
                continue
            checked += 1

            def alone(a):
                return all(
                    j == i
                    or (a[j] != TOKEN and (a[j] != "NULL" or optional(name, q) or not is_pointer(q)))
                    for j, q in enumerate(params)
                )

            cands = [(s, e) for s, e, a in all_calls if len(a) == len(params) and a[i] == TOKEN and alone(a)]
            if not cands:
                missing.append(f"{name}: argument {i + 1} ({p}) is never {TOKEN} in the C tests")
            elif not any(asserted(src, s, e, rets.get(name, ""), params, i) for s, e in cands):
                missing.append(f"{name}: argument {i + 1} ({p}) is {TOKEN} but the call does not assert the outcome")
    for m in missing:
        print(m)
    print(f"{len(decls)} exports, {checked} string arguments ({excluded} excluded), {len(missing)} without an invalid UTF-8 test")
    if len(decls) < 50 or checked < 30:
        print("too few declarations or string arguments parsed: is the header parser broken?")
        return 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
