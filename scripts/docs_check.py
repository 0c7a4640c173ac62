#!/usr/bin/env python3
"""Checks the project's documents (run by scripts/test.d/88-docs.sh):

  links     every relative link in the Markdown files points at a file that exists, and every
            #anchor at a heading of that file (GitHub's slugs);
  header    every function declared in include/micro.h has a comment right above it;
  snippets  writes the README's Quick start snippets (```python and ```js blocks, in order:
            server then client) to DIR, so the suite runs them exactly as written.

usage: docs_check.py links | header | snippets DIR
"""
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


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "links":
        sys.exit(links())
    if cmd == "header":
        sys.exit(header())
    if cmd == "snippets" and len(sys.argv) == 3:
        sys.exit(snippets(sys.argv[2]))
    print(__doc__)
    sys.exit(2)
