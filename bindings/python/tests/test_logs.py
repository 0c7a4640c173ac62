"""The library's own log events on Python's ``logging``: the ``micro`` logger gets them with
their levels mapped, ``MICRO_LOG_LEVEL`` (go-micro's names) sets which are produced, and with
logging unconfigured Python shows warnings on stderr. Each case is a fresh interpreter, since
the level is read when ``micro`` is imported."""
import os
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "log_warning.py"
WARNING = "trace exporter: OTLP endpoint unreachable; spans lost"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(*args, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("MICRO_LOG_LEVEL", "RUST_LOG")}
    e["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
    e.update(env)
    # Deadline for a hung process on a loaded machine, not a speed bound.
    p = subprocess.run([sys.executable, str(SCRIPT), *args], env=e, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "done" in p.stdout.splitlines(), (p.stdout, p.stderr)
    return p.stdout.splitlines(), p.stderr


def test_a_library_warning_is_a_warning_record_on_the_micro_logger():
    out, err = run_script("handler")
    logs = [line for line in out if line.startswith("LOG ")]
    # One per tracer that flushed (the service's and the client's), each a WARNING record.
    assert logs, (out, err)
    for line in logs:
        assert line.startswith(f"LOG micro WARNING micro::wrapper::trace {WARNING}"), logs
        assert "spans=1" in line and "address=127.0.0.1:" in line, logs  # the event's fields follow
    assert WARNING not in err, err  # it went to our handler only


def test_micro_log_level_error_leaves_warnings_out_and_an_unknown_name_is_said():
    out, err = run_script("handler", MICRO_LOG_LEVEL="error")
    assert not [line for line in out if line.startswith("LOG ")], (out, err)
    out, err = run_script("handler", RUST_LOG="error")
    assert not [line for line in out if line.startswith("LOG ")], (out, err)
    # The note comes at import, before the script's handler: Python shows it on stderr.
    out, err = run_script("handler", MICRO_LOG_LEVEL="loud")
    assert 'MICRO_LOG_LEVEL="loud" is not one of trace' in err, err
    assert any(WARNING in line for line in out if line.startswith("LOG ")), out  # the default level applies


def test_with_logging_unconfigured_python_shows_the_warning_on_stderr():
    out, err = run_script()
    assert WARNING in err, (out, err)
