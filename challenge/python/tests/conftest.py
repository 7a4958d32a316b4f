"""Hidden tests for the `python` challenge: run from (or point CHALLENGE_WORKSPACE at) the
candidate's workspace, e.g. `CHALLENGE_WORKSPACE=/path/to/workspace pytest -p no:cacheprovider tests`."""

import importlib
import os
import sys
from pathlib import Path

import pytest

WORKSPACE = Path(os.environ.get("CHALLENGE_WORKSPACE", os.getcwd())).resolve()
sys.path.insert(0, str(WORKSPACE))


@pytest.fixture(scope="session")
def report():
    """The candidate's orders_report module."""
    return importlib.import_module("orders_report")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return WORKSPACE / "data"
