#!/usr/bin/env python3
"""CLI checks for `bidsim`, one case per CTest test: cli_test.py BIDSIM SOURCE_DIR CASE.

Bad input must exit with status 2 and one stderr line naming the problem, without leaving a
summary.json behind; good runs must exit 0 and write summary.json with the documented keys.
Standard library only."""
import json
import os
import sys
import tempfile

from case_driver import expect, expect_one_line_usage_error, run_case, run_command

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
DEFAULT = os.path.join(SOURCE, "scenarios", "default.yaml")
AUCTIONNET = os.path.join(SOURCE, "scenarios", "auctionnet.yaml")


def run(*args, cwd=None):
    return run_command(BIDSIM, *args, cwd=cwd)


def expect_usage_error(args, *fragments, cwd=None):
    return expect_one_line_usage_error(BIDSIM, args, *fragments, cwd=cwd)


def read_summary(out_dir):
    path = os.path.join(out_dir, "summary.json")
    expect(os.path.isfile(path), "no summary.json written")
    with open(path) as f:
        return json.load(f)


def check_summary_keys(summary, agents):
    for key in ("agents", "envs", "steps", "impressions", "social_welfare", "revenue", "seconds", "per_agent"):
        expect(key in summary, f"summary.json lacks {key}")
    for key in ("value", "cost", "wins"):
        expect(key in summary["per_agent"], f"summary.json lacks per_agent.{key}")
        expect(len(summary["per_agent"][key]) == agents, f"per_agent.{key} has the wrong length")
    expect(summary["agents"] == agents, "agents")
    expect(summary["revenue"] >= 0, "revenue")
    expect(abs(sum(summary["per_agent"]["cost"]) - summary["revenue"]) <= 1e-6 * max(1.0, summary["revenue"]),
           "revenue != sum of per-agent cost")
    for spent in summary["per_agent"].get("budget_spent", []):
        expect(spent <= 1 + 1e-9, "an agent spent more than its budget")


def case_help():
    code, out, _ = run("--help")
    expect(code == 0, f"--help exit status {code}")
    expect("simulate" in out, "--help does not list simulate")
    code, out, _ = run("simulate", "--help")
    expect(code == 0, f"simulate --help exit status {code}")
    expect("--set" in out and "--out" in out, "simulate --help lacks --set / --out")


def case_no_command():
    expect_usage_error([])


def case_bad_flag():
    expect_usage_error(["simulate", DEFAULT, "--bogus"], "--bogus")


def case_missing_scenario():
    expect_usage_error(["simulate", "/nonexistent/none.yaml"], "/nonexistent/none.yaml")


def case_bad_scenario_keeps_out():
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write("market: {envs: 1, agnts: 3}\n")
        out = os.path.join(d, "out")
        expect_usage_error(["simulate", bad, "--out", out], "bad.yaml", "market.agnts")
        expect(not os.path.exists(os.path.join(out, "summary.json")), "summary.json left behind")
        # An earlier run's output is not touched by a failing run.
        os.makedirs(out)
        with open(os.path.join(out, "summary.json"), "w") as f:
            f.write('{"old": true}\n')
        expect_usage_error(["simulate", bad, "--out", out], "market.agnts")
        with open(os.path.join(out, "summary.json")) as f:
            expect(json.load(f) == {"old": True}, "a failing run changed an existing summary.json")
        expect(sorted(os.listdir(out)) == ["summary.json"], "a failing run left files behind")


def case_unknown_set_key():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        expect_usage_error(["simulate", DEFAULT, "--set", "market.agnts=3", "--out", out], "market.agnts")
        expect(not os.path.exists(os.path.join(out, "summary.json")), "summary.json left behind")


def case_bad_set_value():
    expect_usage_error(["simulate", DEFAULT, "--set", "market.envs=abc"], "market.envs", "abc")
    expect_usage_error(["simulate", DEFAULT, "--set", "market.envs"], "market.envs")
    expect_usage_error(["simulate", DEFAULT, "--set", "agents.count=0"], "agents.count")


def case_bad_device():
    expect_usage_error(["simulate", DEFAULT, "--device", "gpu", "--set", "market.envs=1"], "gpu")


def case_negative_seed():
    expect_usage_error(["simulate", DEFAULT, "--seed", "-1"], "--seed")


def case_bad_out_dir():
    with tempfile.TemporaryDirectory() as d:
        plain = os.path.join(d, "plain")
        with open(plain, "w") as f:
            f.write("x")
        expect_usage_error(["simulate", DEFAULT, "--set", "market.envs=1", "--set", "impressions.per_step=10",
                            "--out", os.path.join(plain, "sub")], "--out")


def case_simulate_default():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        code, stdout, err = run("simulate", DEFAULT, "--set", "market.envs=2", "--out", out, "--threads", "2")
        print(stdout, err)
        expect(code == 0, f"exit status {code}")
        expect("social welfare" in stdout, "no summary on stdout")
        summary = read_summary(out)
        check_summary_keys(summary, 100)
        expect(summary["envs"] == 2, "--set market.envs=2 not applied")
        expect(summary["steps"] == 24, "steps")
        expect(summary["impressions"] == 24 * 400, "impressions per env")
        expect(summary["social_welfare"] > 0, "social welfare")
        expect(os.path.isfile(os.path.join(out, "steps.csv")), "no steps.csv")
        with open(os.path.join(out, "steps.csv")) as f:
            expect(len(f.read().splitlines()) == 25, "steps.csv should have a header and 24 rows")
        expect(not any(n.endswith(".tmp") for n in os.listdir(out)), "temporary files left behind")
        # Same seed, same numbers (the wall time aside).
        out2 = os.path.join(d, "out2")
        code, _, _ = run("simulate", DEFAULT, "--set", "market.envs=2", "--out", out2, "--threads", "1", "--quiet")
        expect(code == 0, f"second run exit status {code}")
        again = read_summary(out2)
        for key in ("social_welfare", "revenue", "per_agent"):
            expect(again[key] == summary[key], f"{key} differs between runs / thread counts")
        # --seed changes the draws.
        out3 = os.path.join(d, "out3")
        code, _, _ = run("simulate", DEFAULT, "--set", "market.envs=2", "--seed", "8", "--out", out3, "--quiet")
        expect(code == 0, f"--seed run exit status {code}")
        expect(read_summary(out3)["revenue"] != summary["revenue"], "--seed 8 gave the same revenue")


def case_set_before_scenario():
    # Option order must not matter: --set given before the positional scenario.
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        code, stdout, err = run("simulate", "--set", "market.envs=1", "--set", "impressions.per_step=50",
                                DEFAULT, "--out", out, "--quiet")
        print(stdout, err)
        expect(code == 0, f"exit status {code}")
        summary = read_summary(out)
        expect(summary["envs"] == 1 and summary["impressions"] == 24 * 50, "overrides not applied")


def case_default_scenario():
    # No scenario argument: scenarios/default.yaml, found from any working directory.
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        code, stdout, err = run("simulate", "--set", "market.envs=1", "--set", "impressions.per_step=50",
                                "--out", out, "--quiet", cwd=d)
        print(stdout, err)
        expect(code == 0, f"exit status {code}")
        summary = read_summary(out)
        expect(summary["scenario"] == "default" and summary["agents"] == 100, "not the default scenario")


def case_auctionnet_preset():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        code, stdout, err = run("simulate", AUCTIONNET, "--set", "impressions.total=20000", "--out", out)
        print(stdout, err)
        expect(code == 0, f"exit status {code}")
        summary = read_summary(out)
        check_summary_keys(summary, 48)
        expect("conversions" in summary["per_agent"], "per_agent.conversions missing")
        expect("score" in summary["per_agent"] and "score" in summary, "score missing")
        expect(len(summary["per_agent"]["score"]) == 48, "per_agent.score length")
        expect(abs(sum(summary["per_agent"]["score"]) - summary["score"]) <= 1e-9 * max(1.0, summary["score"]),
               "score != sum of per-agent scores")
        expect(19000 < summary["impressions"] <= 20000, "impressions per episode")
        expect(summary["auction_passes_per_step"] >= 1, "auction passes")


MESOB_PAPER = os.path.join(SOURCE, "scenarios", "mesob-paper.yaml")


def case_mesob_initial_policy():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m")
        code, stdout, err = run("mesob", MESOB_PAPER, "--iterations", "0", "--out", out)
        print(stdout, err)
        expect(code == 0, f"exit status {code}")
        summary = read_summary(out)
        for key in ("exploitability", "welfare", "V1", "V2", "V3", "policy", "states", "actions"):
            expect(key in summary, f"summary.json lacks {key}")
        expect(summary["states"] == ["ctr=0.2", "ctr=0.4", "ctr=0.6"], "state labels")
        expect(len(summary["actions"]) == 5, "action labels")
        policy = summary["policy"]
        expect(len(policy) == 10 and len(policy[0]) == 3 and len(policy[0][0]) == 5, "policy shape [T+1][S][A]")
        expect(all(abs(p - 0.2) < 1e-12 for t in policy for row in t for p in row), "initial policy is uniform")
        expect(summary["exploitability"] > 0, "the uniform policy is exploitable")
        expect(summary["device"] == "cpu", "auto keeps a single configuration on the CPU")
        expect(os.path.isfile(os.path.join(out, "history.csv")), "history.csv")


def case_mesob_solver_and_pareto():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "fp")
        code, stdout, err = run("mesob", MESOB_PAPER, "--solver", "fp", "--iterations", "200", "--out", out)
        expect(code == 0, f"fp exit status {code}: {err}")
        fp = read_summary(out)
        expect(fp["exploitability"] < 0.05, "fictitious play approaches the equilibrium")
        out = os.path.join(tmp, "p")
        code, stdout, err = run("mesob-pareto", MESOB_PAPER, "--iterations", "50", "--lambda1-grid", "0,1",
                                "--lambda2-grid", "0,1", "--out", out)
        print(stdout, err)
        expect(code == 0, f"pareto exit status {code}")
        summary = read_summary(out)
        expect(len(summary["points"]) == 4, "3 grid points + MF-OMO")
        expect(summary["device"] == "cpu", "auto keeps a 4-point grid on the CPU")
        expect(any(p["on_front"] for p in summary["points"]), "a front")
        for f in ("pareto.csv", "pareto.svg", "components.svg"):
            expect(os.path.isfile(os.path.join(out, f)), f)


def summaries_on(device_args_list, args):
    """Runs `bidsim *args --out DIR` once per device flag list; returns their summary.json."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, device_args in enumerate(device_args_list):
            d = os.path.join(tmp, str(k))
            code, stdout, err = run(*args, *device_args, "--out", d)
            print("$ bidsim", " ".join([*args, *device_args]), "->", code, err)
            expect(code == 0, f"exit status {code}: {err}")
            out.append(read_summary(d))
    return out


def case_simulate_cuda_equals_cpu():
    # Emulation build only (cuda/emulation/): the whole `simulate` path on the CUDA backend, summary
    # for summary against the CPU backend (revenue is a parallel tree sum: relative 1e-12).
    for args in (["simulate", DEFAULT, "--set", "market.envs=2"],
                 ["simulate", AUCTIONNET, "--set", "impressions.total=20000"]):
        cpu, cuda = summaries_on([["--device", "cpu"], ["--device", "cuda"]], args)
        expect(cpu["backend"] == "cpu" and cuda["backend"] == "cuda", "backends")
        expect(cuda["per_agent"] == cpu["per_agent"], "per-agent results differ between the backends")
        expect(cuda["social_welfare"] == cpu["social_welfare"], "social welfare differs")
        expect(abs(cuda["revenue"] - cpu["revenue"]) <= 1e-12 * cpu["revenue"], "revenue differs")


def case_mesob_pareto_cuda_equals_cpu():
    # Emulation build only: the Pareto sweep as one device batch against the CPU solvers.
    args = ["mesob-pareto", MESOB_PAPER, "--iterations", "100", "--lambda1-grid", "0,0.5,1",
            "--lambda2-grid", "0,1"]
    cpu, cuda = summaries_on([["--device", "cpu"], ["--device", "cuda"]], args)
    expect(cpu["device"] == "cpu" and cuda["device"] == "cuda", "devices")
    expect(len(cuda["points"]) == len(cpu["points"]), "number of points")
    for p, q in zip(cpu["points"], cuda["points"]):
        for key in ("exploitability", "welfare"):
            expect(abs(p[key] - q[key]) <= 1e-6 * max(1.0, abs(p[key])), f"{key} differs: {p[key]} vs {q[key]}")


def case_mesob_bad_input():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m")
        expect_usage_error(["mesob", MESOB_PAPER, "--solver", "newton", "--out", out], "--solver newton")
        expect(not os.path.exists(os.path.join(out, "summary.json")), "summary.json left behind")
        expect_usage_error(["mesob", MESOB_PAPER, "--set", "game.bidders=1", "--out", out], "game.bidders")
        expect_usage_error(["mesob", MESOB_PAPER, "--set", "game.ctr=[0.6, 0.2]"], "strictly increasing")
        # --device cuda runs where there is a device and a CUDA build; elsewhere it is one clear line.
        cuda_out = os.path.join(tmp, "cuda")
        code, stdout, err = run("mesob", MESOB_PAPER, "--device", "cuda", "--iterations", "20", "--out", cuda_out)
        if code == 0:
            expect(read_summary(cuda_out)["device"] == "cuda", "--device cuda did not run on cuda")
        else:
            expect_usage_error(["mesob-pareto", MESOB_PAPER, "--device", "cuda", "--out", out], "--device cuda")
            expect_usage_error(["mesob", MESOB_PAPER, "--device", "cuda", "--out", cuda_out], "--device cuda")
            expect(not os.path.exists(os.path.join(cuda_out, "summary.json")), "summary.json left behind")
        expect_usage_error(["mesob", MESOB_PAPER, "--lr", "-1"], "--lr")
        expect_usage_error(["mesob", "/nonexistent/m.yaml"], "/nonexistent/m.yaml")
        expect_usage_error(["mesob-pareto", MESOB_PAPER, "--lambda1-grid", "0", "--lambda2-grid", "0"], "pareto")
        expect(not os.path.exists(os.path.join(out, "summary.json")), "summary.json left behind")


# --- learning commands (built with LibTorch) -----------------------------------------------------
BPG10 = os.path.join(SOURCE, "scenarios", "bpg-10.yaml")
TINY = ["--set", "market.envs=4", "--set", "market.steps=2", "--set", "impressions.per_step=10",
        "--set", "learning.best_response.steps=2", "--set", "learning.best_response.envs_per_agent=2",
        "--set", "learning.best_response.eval_envs_per_agent=2", "--set", "learning.dual_envs_per_agent=1"]


def case_train_bad_input():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        expect_usage_error(["train", BPG10, "--algo", "maddpg", "--out", out], "--algo", "maddpg")
        expect_usage_error(["train", BPG10, "--device", "cuda", "--iterations", "1", "--out", out], "--device cuda")
        expect_usage_error(["train", BPG10, "--set", "learning.epsilom=0.1", "--out", out], "learning.epsilom")
        expect_usage_error(["train", BPG10, "--set", "learning.xi=-1", "--out", out], "learning.xi")
        expect_usage_error(["train", BPG10, "--resume", os.path.join(d, "none.pt"), "--out", out], "none.pt")
        expect(not os.path.exists(out), "a failing train created its output directory")


def case_evaluate_bad_input():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        expect_usage_error(["evaluate", os.path.join(d, "missing.pt"), BPG10, "--out", out], "missing.pt")
        expect_usage_error(["evaluate", "--policy", "greedy", BPG10, "--out", out], "--policy", "greedy")
        expect_usage_error(["evaluate", "--policy", "constant:-2", BPG10, "--out", out], "constant:-2")
        expect_usage_error(["evaluate", "--out", out], "CHECKPOINT")
        notckpt = os.path.join(d, "x.pt")
        with open(notckpt, "w") as f:
            f.write("not a checkpoint")
        expect_usage_error(["evaluate", notckpt, BPG10], "x.pt")
        expect(not os.path.exists(out), "a failing evaluate created its output directory")


def case_train_resume_evaluate():
    with tempfile.TemporaryDirectory() as d:
        out, again = os.path.join(d, "out"), os.path.join(d, "again")
        code, stdout, err = run("train", BPG10, *TINY, "--iterations", "2", "--out", out)
        print(stdout, err)
        expect(code == 0, f"train exit status {code}")
        summary = read_summary(out)
        for key in ("social_welfare", "revenue", "max_exploitability", "per_agent", "algorithm", "complies"):
            expect(key in summary, f"summary.json lacks {key}")
        for key in ("return", "exploitability", "unified_solution_return", "unified_ratio"):
            expect(len(summary["per_agent"][key]) == 10, f"per_agent.{key} length")
        # Where the market ran, as the collector chose it: CPU policies always step the CPU backend.
        expect(summary["market_device"] in ("cpu", "cuda"), f"market_device {summary.get('market_device')}")
        if summary["device"] == "cpu":
            expect(summary["market_device"] == "cpu", "CPU policies step the CPU market")
        expect(f"market on {summary['market_device']}" in stdout, "the banner names where the market ran")
        with open(os.path.join(out, "train.csv")) as f:
            lines = f.read().splitlines()
        expect(lines[0].startswith("iteration,social_welfare,revenue,lambda_bar"), "train.csv header")
        expect(len(lines) == 3, "train.csv: header + 2 rows")
        # Resume to 3 iterations equals 3 straight iterations.
        code, _, err = run("train", BPG10, *TINY, "--iterations", "3", "--resume", os.path.join(out, "checkpoint.pt"),
                           "--out", out, "--quiet")
        expect(code == 0, f"resume exit status {code}: {err}")
        code, _, err = run("train", BPG10, *TINY, "--iterations", "3", "--out", again, "--quiet")
        expect(code == 0, f"straight run exit status {code}: {err}")
        with open(os.path.join(out, "train.csv")) as f, open(os.path.join(again, "train.csv")) as g:
            strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows.read().splitlines()]  # drop seconds
            expect(strip(f) == strip(g), "resumed train.csv differs from the uninterrupted run")
        expect(read_summary(out)["social_welfare"] == read_summary(again)["social_welfare"], "resumed summary differs")
        # Evaluate the checkpoint (its scenario and overrides travel with it) and a built-in policy.
        ev = os.path.join(d, "ev")
        code, stdout, err = run("evaluate", os.path.join(out, "checkpoint.pt"), "--out", ev)
        print(stdout, err)
        expect(code == 0, f"evaluate exit status {code}")
        expect(read_summary(ev)["social_welfare"] > 0, "evaluate social welfare")
        expect(read_summary(ev)["market_device"] == summary["market_device"], "evaluate's market_device")
        code, stdout, err = run("evaluate", "--policy", "constant:0.8", BPG10, *TINY, "--out", ev, "--quiet", "--force")
        expect(code == 0, f"evaluate --policy exit status {code}: {err}")
        expect(read_summary(ev)["policy"] == "constant:0.8", "policy label")


def case_rollout_dataset():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ds")
        code, stdout, err = run("rollout", DEFAULT, "--set", "market.envs=2", "--set", "impressions.per_step=200",
                                "--policy", "constant:0.8", "--out", out)
        print(stdout, err)
        expect(code == 0, f"rollout exit status {code}")
        expect(os.listdir(out) == ["rollout-rank0.h5"], f"files: {os.listdir(out)}")
        with open(os.path.join(out, "rollout-rank0.h5"), "rb") as f:
            expect(f.read(8) == b"\x89HDF\r\n\x1a\n", "not an HDF5 file")
        expect("GB/s" in stdout, "the write rate is reported")
        bad = os.path.join(d, "bad")
        expect_usage_error(["rollout", DEFAULT, "--deflate", "12", "--out", bad], "--deflate", "12")
        expect_usage_error(["rollout", DEFAULT, "--policy", "bogus", "--out", bad], "--policy", "bogus")
        expect_usage_error(["rollout", DEFAULT], "--out")
        expect(not os.path.exists(bad), "a refused rollout must not create --out")


if __name__ == "__main__":
    run_case(globals(), CASE)
