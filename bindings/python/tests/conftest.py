import asyncio
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent.parent


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def py():
    """The interpreter running the suite (the venv's)."""
    return sys.executable


def interop_required() -> bool:
    return os.environ.get("MICRO_PY_INTEROP") == "1"
