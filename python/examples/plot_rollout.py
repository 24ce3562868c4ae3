"""Reads a rollout dataset (`bidsim rollout --out DIR`) and plots budget pacing: the mean share of
budget left over the episode per agent category, with matplotlib.

    build/tools/bidsim rollout scenarios/default.yaml --out out/ds
    PYTHONPATH=build/python /usr/bin/python3 python/examples/plot_rollout.py out/ds pacing.png
"""
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import bidsim  # noqa: E402


def main(directory, output):
    arrays, attributes = bidsim.load_rollout(directory)
    budget_left = arrays["remaining_budget"] / arrays["agent_budget"][None, None, :]   # [E, T, N]
    categories = arrays["agent_category"]
    steps = np.arange(1, budget_left.shape[1] + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in np.unique(categories):
        ax.plot(steps, budget_left[:, :, categories == c].mean(axis=(0, 2)), label=f"category {c}")
    ax.set_xlabel("step")
    ax.set_ylabel("share of budget left (mean over envs and agents)")
    ax.set_title(f"{attributes['scenario']}: {attributes['policy']} policy")
    ax.set_ylim(0, 1.05)
    ax.legend()
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    print(f"wrote {output}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_rollout.py ROLLOUT_DIR OUTPUT.png")
    main(sys.argv[1], sys.argv[2])
