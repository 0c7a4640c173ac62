#!/usr/bin/env python3
"""Checks the project's documents (run by scripts/test.d/88-docs.sh):

  links     every relative link in the Markdown files points at a file that exists, and every
            #anchor at a heading of that file (GitHub's slugs);
  header    every function declared in include/micro.h has a comment right above it;
  snippets  writes the README's Quick start snippets (```python and ```js blocks, in order:
            server then client) to DIR, so the suite runs them exactly as written;
  tsdoc     every declaration in bindings/node/index.d.ts, and every member of its classes,
            interfaces, namespaces and object types (each overload too), has a /** … */
            comment right above it;
  pydoc     the Python package has a docstring on every public module, every public name
            (`__all__`, else the public classes and functions), and on the public methods,
            properties and annotated attributes of its classes; every #[pyfunction],
            #[pyclass] and #[pymethods] method of the native module has a /// doc. Read from
            the source (ast and the Rust text), so nothing needs building.

usage: docs_check.py links | header | snippets DIR | tsdoc | pydoc
"""
import ast
import pathlib
import re
import sys

TOP = pathlib.Path(__file__).resolve().parent.parent
DOCS = ["README.md", "CONTRIBUTING.md", "bench/README.md", "tests/interop/go/README.md",
        "bindings/python/README.md", "bindings/node/README.md", "ffi/README.md", "cli/README.md"]


def markdown_files():
    files = [TOP / d for d in DOCS if (TOP / d).exists()]
    files += sorted((TOP / "docs").glob("*.md"))
    return files


def slug(heading: str) -> str:
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path: pathlib.Path) -> set:
    text = re.sub(r"(?ms)^```.*?^```", "", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"(?m)^#+\s+(.*)$", text)}


def links() -> int:
    bad = 0
    count = 0
    for md in markdown_files():
        text = re.sub(r"(?ms)^```.*?^```", "", md.read_text())
        text = re.sub(r"`[^`\n]*`", "", text)
        for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)\)", text):
            target = m.group(1)
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked (no network here)
            count += 1
            file, _, anchor = target.partition("#")
            dest = (md.parent / file).resolve() if file else md
            rel = md.relative_to(TOP)
            if not dest.exists():
                print(f"{rel}: link to missing {target}")
                bad += 1
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                print(f"{rel}: link to missing heading {target}")
                bad += 1
    print(f"links: {count} relative links in {len(markdown_files())} files, {bad} broken")
    return 1 if bad else 0


def header() -> int:
    lines = (TOP / "include/micro.h").read_text().split("\n")
    n, missing = 0, []
    for i, line in enumerate(lines):
        m = re.match(r"^[A-Za-z].*\b(micro_[a-z0-9_]+)\(", line)
        if not m or line.startswith(("#", "//", "typedef")):
            continue
        n += 1
        prev = lines[i - 1].strip() if i else ""
        if not (prev.startswith("//") or prev.endswith("*/")):
            missing.append(m.group(1))
    print(f"header: {n} functions in micro.h, {len(missing)} without a comment {missing or ''}")
    return 1 if missing else 0


def snippets(out: str) -> int:
    text = (TOP / "README.md").read_text()
    m = re.search(r"(?ms)^## Quick start\n(.*?)^## ", text)
    if not m:
        print("snippets: no Quick start section in README.md")
        return 1
    blocks = {"python": [], "js": []}
    for lang, body in re.findall(r"(?ms)^```(\w+)\n(.*?)^```", m.group(1)):
        if lang in blocks:
            blocks[lang].append(body)
    d = pathlib.Path(out)
    d.mkdir(parents=True, exist_ok=True)
    ext = {"python": "py", "js": "js"}
    for lang, bodies in blocks.items():
        if len(bodies) != 2:
            print(f"snippets: want a {lang} server and client in Quick start, found {len(bodies)} blocks")
            return 1
        for role, body in zip(("server", "client"), bodies):
            (d / f"{role}.{ext[lang]}").write_text(body)
    print(f"snippets: wrote {', '.join(sorted(p.name for p in d.iterdir() if p.is_file()))} to {d}")
    return 0


# ---- tsdoc: a small TypeScript declaration-file reader --------------------------------------
#
# Enough of TypeScript's grammar for a hand-written .d.ts: comments, strings, brackets, and
# declarations (type, interface, class, function, const, namespace) whose bodies hold members
# ending at `;`, `,` or the end of a line. Each declaration and each member (every overload
# separately) must have a `/** ... */` comment right above it.

_TS_TOKEN = re.compile(r"""
    (?P<doc>/\*\*(?!/).*?\*/)           # a TSDoc comment (not the empty /**/)
  | (?P<comment>/\*.*?\*/|//[^\n]*)     # other comments, /// directives included
  | (?P<nl>\n)
  | (?P<space>[ \t\r]+)
  | (?P<str>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`)
  | (?P<word>[A-Za-z_$][\w$]*|\d[\w.]*)
  | (?P<punct>=>|\.\.\.|[^\sA-Za-z_$\d])
""", re.S | re.X)
_TS_OPEN = {"(": ")", "[": "]", "{": "}", "<": ">"}
_TS_CLOSE = {")", "]", "}", ">"}
# A line ending in (or followed by a line starting with) one of these continues the member.
_TS_CONTINUE = {"|", "&", ":", "=", "=>", "?", ".", "<", "(", "[", "{", ",", "extends", "keyof", "typeof"}
_TS_MODIFIERS = {"export", "declare", "default", "abstract", "readonly", "static", "public", "protected",
                 "private", "get", "set", "async", "override", "accessor"}


def ts_tokens(text: str) -> list:
    """`(kind, text, line)` for every token of `text` but spaces and plain comments; a doc
    comment is a `doc` token, a line break an `nl` token."""
    out, line, pos = [], 1, 0
    while pos < len(text):
        m = _TS_TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"line {line}: cannot read {text[pos:pos + 20]!r}")
        kind, tok = m.lastgroup, m.group()
        if kind not in ("space", "comment"):
            out.append((kind, tok, line))
        line += tok.count("\n")
        pos = m.end()
    return out


class TsReader:
    """Walks `ts_tokens` and records `(path, line, documented)` for every declaration and member."""

    def __init__(self, tokens: list):
        self.t = tokens
        self.i = 0
        self.found = []

    def peek(self, k: int = 0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", "", self.t[-1][2] if self.t else 0)

    def skip_nl(self):
        while self.peek()[0] == "nl":
            self.i += 1

    def doc_before(self, j: int) -> bool:
        """Whether the token before index `j` (line breaks aside) is a TSDoc comment."""
        j -= 1
        while j >= 0 and self.t[j][0] == "nl":
            j -= 1
        return j >= 0 and self.t[j][0] == "doc"

    def record(self, path: str, start: int):
        self.found.append((path, self.t[start][2], self.doc_before(start)))

    def walk(self, prefix: str, terminators: set):
        """Moves to the token that ends this member or statement: a `;`/`,` (in `terminators`)
        or line break outside brackets, or the enclosing body's `}`. Object types met on the
        way (`opts?: { queue?: string }`) are read as members of `prefix`."""
        depth, last, first = 0, None, self.i
        while self.i < len(self.t):
            kind, tok, line = self.t[self.i]
            if kind == "punct" and tok == "{":
                self.i += 1
                self.members(prefix)
                self.i += 1  # its '}'
                last = "}"
                continue
            if kind == "punct" and tok in _TS_OPEN:
                depth += 1
            elif kind == "punct" and tok in _TS_CLOSE:
                if depth == 0:
                    return
                depth -= 1
            elif depth == 0 and kind == "punct" and tok in terminators:
                return
            elif depth == 0 and kind == "nl" and last is not None and last not in _TS_CONTINUE:
                k = self.i
                while k < len(self.t) and self.t[k][0] == "nl":
                    k += 1
                if k >= len(self.t) or self.t[k][1] not in _TS_CONTINUE - {"(", "[", "{", "<"}:
                    return
            if kind not in ("nl", "doc"):
                last = tok
            self.i += 1
        if depth:
            raise ValueError(f"line {self.t[first][2]}: unbalanced brackets")

    def open_body(self) -> int:
        """Moves past the `{` that opens the declaration's body (skipping `extends …<…>`)."""
        depth = 0
        while True:
            kind, tok, line = self.peek()
            if kind == "eof":
                raise ValueError(f"line {line}: a declaration without a body")
            self.i += 1
            if tok == "{" and depth == 0:
                return self.i
            if kind == "punct" and tok in "(<[":
                depth += 1
            elif kind == "punct" and tok in ")>]":
                depth -= 1

    def close_body(self):
        """Expects the closing `}` and moves past it (and a `;` after it)."""
        self.skip_nl()
        kind, tok, line = self.peek()
        if tok != "}":
            raise ValueError(f"line {line}: expected '}}', found {tok!r}")
        self.i += 1
        if self.peek()[1] == ";":
            self.i += 1

    def declarations(self, prefix: str = "", closing: bool = False):
        """Top-level (or namespace) statements until the end (or the namespace's `}`)."""
        while True:
            self.skip_nl()
            kind, tok, line = self.peek()
            if kind == "eof" or (closing and tok == "}"):
                return
            if kind == "doc" or tok == ";":
                self.i += 1
                continue
            start = self.i
            words = []
            while self.peek()[0] == "word" and self.peek()[1] in _TS_MODIFIERS | {"function", "class", "interface",
                                                                                    "namespace", "module", "type",
                                                                                    "const", "let", "var", "enum",
                                                                                    "import"}:
                words.append(self.peek()[1])
                self.i += 1
                if words[-1] not in _TS_MODIFIERS:
                    break
            what = words[-1] if words else ""
            if what in _TS_MODIFIERS or what in ("", "import"):
                # `export default x;`, `export { … }`, `import …`: no declaration of its own.
                n = len(self.found)
                self.walk("", {";"})
                del self.found[n:]
                continue
            name = self.peek()[1]
            path = prefix + name
            self.record(path, start)
            self.i += 1
            if what in ("class", "interface"):
                self.open_body()
                self.members(path + ".")
                self.close_body()
            elif what in ("namespace", "module", "enum"):
                self.open_body()
                if what == "enum":
                    self.members(path + ".")
                else:
                    self.declarations(path + ".", closing=True)
                self.close_body()
            else:  # type, const/let/var, function; the members of object types in it count too
                self.walk(path + ".", {";"})

    def members(self, prefix: str):
        """Members of a class, interface or object type, until its `}`."""
        while True:
            self.skip_nl()
            kind, tok, line = self.peek()
            if kind == "eof":
                raise ValueError(f"line {line}: unclosed body of {prefix[:-1]}")
            if tok == "}":
                return
            if kind == "doc" or tok in (";", ","):
                self.i += 1
                continue
            start = self.i
            # Modifiers are words followed by the member's name (`get`/`readonly` may be names).
            while (self.peek()[0] == "word" and self.peek()[1] in _TS_MODIFIERS
                   and (self.peek(1)[0] in ("word", "str") or self.peek(1)[1] == "[")):
                self.i += 1
            kind, tok, line = self.peek()
            if tok == "[":
                j = self.i + 1
                depth = 1
                while depth and j < len(self.t):
                    depth += {"[": 1, "]": -1}.get(self.t[j][1], 0)
                    j += 1
                name = "".join(x[1] for x in self.t[self.i:j])
                if ":" in name:
                    name = "[index]"
            elif tok in ("(", "<"):
                name = "(call)"
            elif tok == "new" and self.peek(1)[1] in ("(", "<"):
                name = "new"
            else:
                name = tok.strip("'\"")
            self.record(prefix + name, start)
            self.walk(prefix + name + ".", {";", ","})


def tsdoc(path: str = "bindings/node/index.d.ts") -> int:
    """Checks that every declaration and member in `path` has a TSDoc comment; lists those
    without one."""
    file = TOP / path
    try:
        r = TsReader(ts_tokens(file.read_text()))
        r.declarations()
    except ValueError as e:
        print(f"tsdoc: cannot read {path}: {e}")
        return 1
    missing = [(p, line) for p, line, documented in r.found if not documented]
    for p, line in missing:
        print(f"{path}:{line}: {p} has no /** … */ comment")
    print(f"tsdoc: {len(r.found)} declarations and members in {path}, {len(missing)} without a TSDoc comment")
    return 1 if missing or not r.found else 0


# ---- pydoc: the Python package's public names have docstrings ------------------------------

PY_PACKAGE = "bindings/python/python/micro"
PY_NATIVE = "bindings/python/src"


def _py_defs(tree) -> dict:
    """Top-level classes and functions of a module by name (the last definition wins)."""
    return {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}


def _py_all(tree):
    """The module's `__all__` as a list of names, or None when it has none (or not a literal)."""
    for n in tree.body:
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and n.value is not None:
            try:
                return list(ast.literal_eval(n.value))
            except ValueError:
                return None
    return None


def _py_origin(tree, name: str):
    """Where a module gets `name` from: ("module", "client", "Client") for
    `from .client import Client`, ("native", "version") for `name = _native.version()` or
    `from ._native import version`, else None."""
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.level == 1:
            for a in n.names:
                if (a.asname or a.name) == name:
                    return ("native", a.name) if n.module == "_native" else ("module", n.module, a.name)
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and n.value is not None:
            v = n.value.func if isinstance(n.value, ast.Call) else n.value
            if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == "_native":
                return ("native", v.attr)
    return None


def _py_members(cls) -> dict:
    """A class's public methods, properties and annotated attributes (dataclass fields,
    `ClassVar`s, `self.x: T = …` in `__init__`) by name, as `(line, documented)`. A method
    is documented if any of its definitions (an `@overload` stub, the implementation, a
    setter) has a docstring; an attribute if a string literal follows it (an attribute
    docstring, as Sphinx and IDEs read them)."""
    out = {}

    def attribute(body: list, i: int, name: str):
        after = body[i + 1] if i + 1 < len(body) else None
        ok = (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
              and isinstance(after.value.value, str))
        out[name] = (body[i].lineno, ok)

    for i, n in enumerate(cls.body):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_"):
            line, ok = out.get(n.name, (n.lineno, False))
            out[n.name] = (line, ok or ast.get_docstring(n) is not None)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and not n.target.id.startswith("_"):
            attribute(cls.body, i, n.target.id)
        if isinstance(n, ast.FunctionDef) and n.name == "__init__":
            for j, a in enumerate(n.body):  # `self.x: T = …` in __init__: an instance attribute
                t = a.target if isinstance(a, ast.AnnAssign) else None
                if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
                        and not t.attr.startswith("_")):
                    attribute(n.body, j, t.attr)
    return out


def rust_pyo3_items(src: pathlib.Path) -> list:
    """`(file, line, name, documented)` for every `#[pyfunction]`, `#[pyclass]` and method of
    a `#[pymethods]` block (dunder methods aside) in the native module's Rust source; an
    item is documented when a `///` line sits right above its attributes."""
    items = []
    for path in sorted(src.glob("*.rs")):
        lines = path.read_text().split("\n")
        rel = path.relative_to(TOP)

        def documented(i: int) -> bool:
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#["):
                j -= 1
            return j >= 0 and lines[j].strip().startswith("///")

        depth, in_methods, methods_depth, pending, owner = 0, False, None, None, ""
        for i, line in enumerate(lines):
            code = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
            code = re.sub(r"'(?:\\.|[^\\'])'", "''", code).split("//")[0]
            s = line.strip()
            if re.match(r"#\[(pyfunction|pyclass)\b", s):
                pending = i
            elif s.startswith("#[pymethods]"):
                in_methods, methods_depth = True, None
            m = re.match(r"(?:pub(?:\([^)]*\))?\s+)?(?:fn|struct|enum)\s+(\w+)", s)
            if m and pending is not None:
                items.append((rel, i + 1, m.group(1), documented(pending)))
                pending = None
            elif (m and in_methods and depth == methods_depth
                  and not re.fullmatch(r"__\w+__", m.group(1))):
                items.append((rel, i + 1, f"{owner}.{m.group(1)}", documented(i)))
            if in_methods and methods_depth is None and s.startswith("impl") and "{" in code:
                methods_depth = depth + 1
                owner = re.match(r"impl(?:<[^>]*>)?\s+(\w+)", s).group(1)
            depth += code.count("{") - code.count("}")
            if in_methods and methods_depth is not None and depth < methods_depth:
                in_methods = False
    return items


def pydoc() -> int:
    """Checks the Python package's docstrings and the native module's `///` docs; lists
    every public item without one."""
    pkg = TOP / PY_PACKAGE
    missing, checked = [], 0
    trees = {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(pkg.glob("*.py"))}
    rust = rust_pyo3_items(TOP / PY_NATIVE)
    native = {name: (f, line, doc) for f, line, name, doc in rust}

    def need(where: str, ok: bool):
        nonlocal checked
        checked += 1
        if not ok:
            missing.append(where)

    def check_def(mod: str, node, label: str):
        need(f"{PY_PACKAGE}/{mod}.py:{node.lineno}: {label}", ast.get_docstring(node) is not None)
        if isinstance(node, ast.ClassDef):
            for m, (line, ok) in _py_members(node).items():
                need(f"{PY_PACKAGE}/{mod}.py:{line}: {label}.{m}", ok)

    seen = set()
    for mod, tree in trees.items():
        if mod.startswith("_") and mod != "__init__":
            continue
        label = "micro" if mod == "__init__" else f"micro.{mod}"
        need(f"{PY_PACKAGE}/{mod}.py: module {label}", ast.get_docstring(tree) is not None)
        defs = _py_defs(tree)
        names = _py_all(tree)
        if names is None:
            names = [n for n in defs if not n.startswith("_")]
        for name in names:
            where, node = mod, defs.get(name)
            origin = _py_origin(tree, name) if node is None else None
            if origin and origin[0] == "module":
                where = origin[1]
                node = _py_defs(trees[where]).get(origin[2]) if where in trees else None
            if node is not None:
                if (where, node.name) not in seen:
                    seen.add((where, node.name))
                    check_def(where, node, f"micro.{name}" if mod == "__init__" else f"{label}.{name}")
            elif origin and origin[0] == "native":
                f, line, doc = native.get(origin[1], (PY_NATIVE, 0, False))
                need(f"{f}:{line}: micro.{name} comes from _native.{origin[1]}, which has no /// doc", doc)
            # other names (constants, type aliases) carry no docstring of their own in Python
    for f, line, name, doc in rust:
        need(f"{f}:{line}: micro._native item {name} (no /// doc)", doc)
    for m in missing:
        print(f"{m} has no docstring" if "///" not in m else m)
    print(f"pydoc: {checked} public modules, classes, methods and native items, {len(missing)} without a docstring")
    return 1 if missing or not checked else 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "links":
        sys.exit(links())
    if cmd == "header":
        sys.exit(header())
    if cmd == "tsdoc":
        sys.exit(tsdoc())
    if cmd == "pydoc":
        sys.exit(pydoc())
    if cmd == "snippets" and len(sys.argv) == 3:
        sys.exit(snippets(sys.argv[2]))
    print(__doc__)
    sys.exit(2)
