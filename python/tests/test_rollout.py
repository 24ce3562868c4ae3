"""bidsim.load_rollout reads what `bidsim rollout` writes, and it agrees with the Python Market."""
import subprocess

import numpy as np
import pytest

import bidsim
from bidsim._paths import SCENARIOS_DIR

h5py = pytest.importorskip("h5py")


def test_load_rollout_equals_a_market_run(tmp_path, bidsim_program):
    args = [bidsim_program, "rollout", f"{SCENARIOS_DIR}/bpg-10.yaml", "--seed", "3", "--quiet", "--threads", "1", "--policy", "constant:0.7",
            "--out", str(tmp_path / "ds"), "--set", "market.envs=2", "--set", "market.steps=5",
            "--set", "agents.count=6", "--set", "impressions.per_step=30"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0 and "HDF5" in (done.stderr + done.stdout):
        pytest.skip("bidsim built without HDF5")
    assert done.returncode == 0, done.stderr
    arrays, attributes = bidsim.load_rollout(str(tmp_path / "ds"))
    assert arrays["reward"].shape == (2, 5, 6) and arrays["observation"].shape == (2, 5, 6, 12)
    assert attributes["schema_version"] == 1
    market = bidsim.Market("bpg-10", overrides={"market.envs": 2, "market.steps": 5, "agents.count": 6,
                                                 "impressions.per_step": 30}, seed=3, threads=1)
    market.reset()
    while not market.done:
        market.step(np.full((2, 6), 0.7))
    np.testing.assert_allclose(arrays["reward"].sum(axis=1), market.reward, rtol=1e-12)


def test_load_rollout_errors(tmp_path):
    with pytest.raises(bidsim.UsageError, match="not a directory"):
        bidsim.load_rollout(str(tmp_path / "missing"))
    with pytest.raises(bidsim.UsageError, match="no rollout-rank"):
        bidsim.load_rollout(str(tmp_path))
