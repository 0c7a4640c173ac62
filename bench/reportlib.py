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


def idle():
    """How an idle CPU of this machine sleeps, for the machine line: a virtual machine's
    guest halt polling (Linux's `haltpoll` cpuidle driver) decides whether an idle vCPU spins
    a while or exits to the hypervisor at once, and an exit makes every wake-up of an idle
    vCPU dear (issue 18's unpinned rows). Empty when the machine has no such setting."""
    try:
        with open("/sys/devices/system/cpu/cpuidle/current_driver") as f:
            driver = f.read().strip()
        if driver != "haltpoll":
            return f", cpuidle {driver}"
        with open("/sys/module/haltpoll/parameters/guest_halt_poll_ns") as f:
            ns = int(f.read().strip())
    except (OSError, ValueError):
        return ""
    if ns == 0:
        return ", guest halt polling off (an idle vCPU exits to the hypervisor at once)"
    return f", guest halt polling {ns:,} ns"
