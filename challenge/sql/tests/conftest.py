"""Hidden tests for the `sql` challenge: run from (or point CHALLENGE_WORKSPACE at) the
candidate's workspace, e.g. `CHALLENGE_WORKSPACE=/path/to/workspace pytest -p no:cacheprovider tests`."""

import os
from pathlib import Path

import pytest

WORKSPACE = Path(os.environ.get("CHALLENGE_WORKSPACE", os.getcwd())).resolve()


@pytest.fixture(scope="session")
def workspace() -> Path:
    return WORKSPACE
