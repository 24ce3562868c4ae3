"""Shared fixtures: the `bidsim` program built next to the module (for side-by-side checks)."""
import os
import shutil

import pytest


@pytest.fixture(scope="session")
def bidsim_program():
    path = os.environ.get("BIDSIM_PROGRAM") or shutil.which("bidsim")
    if not path or not os.path.exists(path):
        pytest.skip("the bidsim program is not known (CTest sets BIDSIM_PROGRAM)")
    return path
