"""What every bench report script reads the same way: the rows bench/run.sh wrote (one
JSON object per line), a command's output for the machine and version lines, and the CPU's
model name."""
import json
import subprocess


def rows(path):
    """The JSON rows of `path`, blank lines skipped."""
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def sh(*cmd):
    """A command's standard output, stripped; `?` when it cannot be run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


def cpu():
    """The CPU's model name from /proc/cpuinfo (`?` when it names none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        return "?"
