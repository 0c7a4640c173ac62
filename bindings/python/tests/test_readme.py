"""docs/python.md's Python snippets run as written: every ```python block whose fence says
``run=FILE`` is written to FILE in a fresh folder and run. ``errors.py`` stands alone (memory
registry); ``server.py`` and ``client.py`` run against each other over mDNS inside
scripts/netns.sh, so the README cannot drift from the package."""
import os
import re
import signal
import subprocess
import sys

import pytest

import micro
from conftest import ROOT, interop_required, run

FENCE = re.compile(r"^```python run=(\S+)\n(.*?)^```$", re.M | re.S)


def snippets() -> dict[str, str]:
    found = {m.group(1): m.group(2) for m in FENCE.finditer((ROOT / "docs" / "python.md").read_text())}
    assert {"server.py", "client.py", "errors.py"} <= set(found), sorted(found)
    return found


def test_readme_errors_snippet_runs(tmp_path):
    (tmp_path / "errors.py").write_text(snippets()["errors.py"])
    out = subprocess.run([sys.executable, "errors.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "400 qty is required", out.stdout
    assert lines[1] == '502 downstream call failed: {"id": "go.micro', out.stdout


def test_readme_wrappers_snippet_runs(tmp_path):
    (tmp_path / "wrappers.py").write_text(snippets()["wrappers.py"])
    out = subprocess.run([sys.executable, "wrappers.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["{'message': 'Hello Ann', 'user': 'u1'}", "403 not Bob"], out.stdout


def test_readme_server_and_client_snippets_run_against_each_other(tmp_path):
    if os.environ.get("MICRO_NETNS") != "1":
        if interop_required():
            raise RuntimeError("the README's server and client need mDNS: run inside scripts/netns.sh")
        pytest.skip("needs mDNS: scripts/netns.sh")
    code = snippets()
    for name in ("server.py", "client.py"):
        (tmp_path / name).write_text(code[name])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_") or k == "MICRO_NETNS"}
    server = subprocess.Popen([sys.executable, "server.py"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        async def registered() -> None:
            reg = micro.Registry("mdns")
            for _ in range(200):
                if any(s.get("nodes") for s in await reg.get_service("greeter")):
                    return
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                await __import__("asyncio").sleep(0.05)
            raise AssertionError("the README's server.py never registered greeter")
        run(registered())
        out = subprocess.run([sys.executable, "client.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "{'message': 'Hello John'}\n{'message': 'Hello Ann'}\n", out.stdout + out.stderr
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0, server.stderr.read() if server.stderr else ""
