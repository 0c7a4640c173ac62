#!/usr/bin/env python3
"""Fails when an export of include/micro.h has a pointer argument that no C test passes NULL.

For every function declared in the header, every parameter that is a pointer (`T *x`,
`T **x`) or a callback (`micro_*_fn`) must appear as a literal `NULL` in that position of at
least one call in the C tests in which no other required pointer argument is NULL (optional
ones — `err`, `options`, `userdata`, … — may be), so the call exercises that argument's check. The calls are found by a small C tokenizer (comments and
string literals skipped, arguments split at top-level commas), so `CHECK_ST(f(a, NULL), …)`
and multi-line calls count.

    tests/c/null_coverage.py [HEADER] [TEST.c ...]   (defaults: include/micro.h tests/c/*.c)
"""
import glob
import os
import re
import sys


def strip_comments_and_strings(src: str, keep_words: bool = False) -> str:
    """Replaces comments with a space and string/char literals with an empty literal (with
    `keep_words`, a literal keeping only its word characters: `"a, b;"` becomes `"ab"`), so
    no literal can split a call or a statement."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(c + (re.sub(r"\W", "", src[i + 1 : j]) if keep_words else "") + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def declarations(header: str):
    """(name, [param text]) for every function prototype in the header."""
    text = strip_comments_and_strings(header)
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    text = re.sub(r'extern\s+""\s*\{|\}\s*//.*', " ", text)
    for stmt in text.split(";"):
        s = " ".join(stmt.split())
        if not s or s.startswith("typedef") or "{" in s or "}" in s:
            continue
        m = re.match(r"^[\w\s\*]*?\b(micro_\w+)\s*\((.*)\)$", s)
        if not m:
            continue
        params = [p.strip() for p in m.group(2).split(",")]
        if params == ["void"] or params == [""]:
            params = []
        yield m.group(1), params


def is_pointer(param: str) -> bool:
    return "*" in param or re.match(r"^(const\s+)?micro_\w+_fn\b", param) is not None


# Arguments the header documents as optional (NULL is a valid value), by name; and the
# few that are optional in one function only.
OPTIONAL = {"err", "options", "cancel", "queue", "userdata", "userdata_free", "registry_url"}
OPTIONAL_IN = {("micro_broker_new", "reg"), ("micro_log_set", "callback")}


def param_name(param: str) -> str:
    return re.findall(r"\w+", param)[-1]


def optional(fn: str, param: str) -> bool:
    name = param_name(param)
    return name in OPTIONAL or (fn, name) in OPTIONAL_IN


def alone(fn, args, params, i) -> bool:
    """Whether argument i is the only NULL among the call's required pointer arguments, so
    that it is this argument's check the call exercises (optional ones may be NULL too)."""
    return all(j == i or args[j] != "NULL" or optional(fn, p) or not is_pointer(p) for j, p in enumerate(params))


def calls_at(src: str, name: str):
    """(start, end, [argument texts]) of every call of `name` in `src`; `end` is just past
    the closing parenthesis."""
    for m in re.finditer(r"(?<![\w])" + re.escape(name) + r"\s*\(", src):
        i, depth, args, cur = m.end(), 1, [], []
        while i < len(src) and depth:
            c = src[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0:
                    break
            if c == "," and depth == 1:
                args.append("".join(cur).strip())
                cur = []
            else:
                cur.append(c)
            i += 1
        args.append("".join(cur).strip())
        yield m.start(), i + 1, args


def calls(src: str, name: str):
    """The argument lists (as stripped texts) of every call of `name` in `src`."""
    for _, _, args in calls_at(src, name):
        yield args


def main() -> int:
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    header = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "include", "micro.h")
    tests = sys.argv[2:] or sorted(glob.glob(os.path.join(top, "tests", "c", "*.c")))
    src = "".join(strip_comments_and_strings(open(t).read()) for t in tests)
    decls = list(declarations(open(header).read()))
    missing, checked = [], 0
    for name, params in decls:
        all_calls = list(calls(src, name))
        for i, p in enumerate(params):
            if not is_pointer(p):
                continue
            checked += 1
            if not any(len(a) == len(params) and a[i] == "NULL" and alone(name, a, params, i) for a in all_calls):
                missing.append(f"{name}: argument {i + 1} ({p}) is never NULL in the C tests")
    for m in missing:
        print(m)
    print(f"{len(decls)} exports, {checked} pointer arguments, {len(missing)} without a NULL test")
    if len(decls) < 50:
        print("too few declarations parsed: is the header parser broken?")
        return 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
