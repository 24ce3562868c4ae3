#!/usr/bin/env python3
"""Command-line checks of issue 17 (every bad input refused in one line, nothing lost, --version,
the torch-free front end), one case per CTest test: cli_ux_test.py BIDSIM SOURCE_DIR CASE.

The corpus tests/bad_inputs/*.yaml holds one bad scenario per file; its first line says
`# expect: FRAGMENT`, a piece of the one-line error it must produce. Standard library only."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

from case_driver import expect, fail, run_case

BIDSIM, SOURCE, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
DEFAULT = os.path.join(SOURCE, "scenarios", "default.yaml")
CORPUS = os.path.join(SOURCE, "tests", "bad_inputs")
SMALL = ["--set", "market.envs=1", "--set", "impressions.per_step=20", "--set", "market.steps=3"]


def run(*args, cwd=None, env=None):
    full_env = None if env is None else {**os.environ, **env}
    proc = subprocess.run([BIDSIM, *args], capture_output=True, cwd=cwd, timeout=110, env=full_env)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr


def expect_one_line_error(args, *fragments):
    """Exit status 2, exactly one stderr line holding every fragment, no raw control byte in it."""
    code, _, err = run(*args)
    line = err.decode("utf-8", "replace")
    print("$ bidsim", " ".join(repr(a) if any(ord(c) < 32 for c in a) else a for a in args), "->", code)
    print("stderr:", ascii(line))
    expect(code == 2, f"exit status {code}, expected 2")
    expect(err.endswith(b"\n") and err.count(b"\n") == 1, "expected exactly one stderr line")
    expect(all(b >= 0x20 and b != 0x7F for b in err[:-1]), "raw control bytes in the error line")
    for f in fragments:
        expect(f in line, f"stderr does not hold {f!r}")
    return line


def expected_fragment(path):
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8").rstrip("\n")
    expect(first.startswith("# expect: "), f"{path}: first line must be '# expect: FRAGMENT'")
    return first[len("# expect: "):]


def case_bad_inputs_corpus():
    files = sorted(glob.glob(os.path.join(CORPUS, "*.yaml")))
    expect(len(files) >= 20, f"only {len(files)} corpus files")
    for path in files:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out")
            expect_one_line_error(["simulate", path, "--quiet", "--out", out], expected_fragment(path))
            expect(not os.path.exists(os.path.join(out, "summary.json")), f"{path}: summary.json written")


def case_directory_as_scenario():
    with tempfile.TemporaryDirectory() as d:
        expect_one_line_error(["simulate", d], d, "is a directory")


def case_bad_common_flags():
    # NaN, exponents, signs and numbers past 2^63 - 1 are refused, never clamped or defaulted.
    for value in ["nan", "-nan", "inf", "1e3", "9223372036854775808", "18446744073709551616", " 5", "+5", ""]:
        expect_one_line_error(["simulate", DEFAULT, *SMALL, "--seed", value], "--seed")
    for value in ["nan", "1.5", "-1", "100000", "1e9"]:
        expect_one_line_error(["simulate", DEFAULT, *SMALL, "--threads", value], "--threads")
    line = expect_one_line_error(["simulate", DEFAULT, *SMALL, "--threads", "100000"], "100000")
    expect("cores" in line, "the --threads error does not say how many cores there are")
    # The largest seed is accepted and used as given.
    with tempfile.TemporaryDirectory() as d:
        code, _, err = run("simulate", DEFAULT, *SMALL, "--seed", "9223372036854775807", "--quiet", "--out", d)
        expect(code == 0, f"largest seed: exit {code}: {err!r}")
        with open(os.path.join(d, "summary.json")) as f:
            expect(json.load(f)["seed"] == 9223372036854775807, "seed not kept exactly")


def case_empty_out():
    expect_one_line_error(["simulate", DEFAULT, *SMALL, "--out", ""], "--out", "empty")
    expect_one_line_error(["mesob", "--quiet", "--out", ""], "--out")


def case_existing_run_needs_force():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "run")
        code, _, err = run("simulate", DEFAULT, *SMALL, "--quiet", "--out", out)
        expect(code == 0, f"first run: exit {code}: {err!r}")
        summary = os.path.join(out, "summary.json")
        with open(summary, "rb") as f:
            first = f.read()
        expect_one_line_error(["simulate", DEFAULT, *SMALL, "--seed", "7", "--quiet", "--out", out],
                              out, "summary.json", "--force")
        with open(summary, "rb") as f:
            expect(f.read() == first, "the refused run changed summary.json")
        code, _, err = run("simulate", DEFAULT, *SMALL, "--seed", "7", "--quiet", "--force", "--out", out)
        expect(code == 0, f"--force: exit {code}: {err!r}")
        with open(summary) as f:
            expect(json.load(f)["seed"] == 7, "--force did not overwrite")
        # mesob writes summary.json too: the same rule holds there.
        expect_one_line_error(["mesob", "--quiet", "--out", out], "--force")


def case_version():
    code, out, err = run("--version")
    print(out, end="")
    expect(code == 0, f"--version exit status {code}: {err!r}")
    lines = out.splitlines()
    expect(len(lines) == 3, f"{len(lines)} lines, expected 3 (version, features, device)")
    expect(lines[0].startswith("bidsim ") and lines[0].split()[1][0].isdigit(), "first line is not 'bidsim X.Y.Z'")
    for feature in ("CUDA backend", "LibTorch", "MPI", "HDF5", "Python module"):
        expect(feature in lines[1], f"features line lacks {feature}")
    expect(lines[2].startswith("device: ") and "cores" in lines[2] and "MiB memory available" in lines[2],
           "device line")
    code, out, _ = run("--help")
    expect(code == 0 and "--version" in out, "--help does not list --version")


def case_front_end_without_torch_or_mpi():
    """The structure behind a fast start: `bidsim` links neither LibTorch nor MPI (ldd), and hands
    the LibTorch commands to bidsim-full next to it, which --help lists all the same."""
    ldd = shutil.which("ldd")
    if not ldd:
        fail("ldd not found")
    libs = subprocess.run([ldd, BIDSIM], capture_output=True, text=True).stdout
    for heavy in ("libtorch", "libc10", "libmpi", "libhdf5"):
        expect(heavy not in libs, f"bidsim links {heavy}:\n{libs}")
    print(f"bidsim loads {len(libs.splitlines())} shared libraries")
    full = os.path.join(os.path.dirname(BIDSIM), "bidsim-full")
    code, out, _ = run("--help")
    expect(code == 0, "--help")
    if not os.path.exists(full):
        print("no bidsim-full in this build (no LibTorch, MPI or HDF5): nothing is handed over")
        return
    full_libs = subprocess.run([ldd, full], capture_output=True, text=True).stdout
    print(f"bidsim-full loads {len(full_libs.splitlines())} shared libraries")
    if "libtorch" in full_libs:
        expect("train" in out and "evaluate" in out, "--help does not list train / evaluate")
        code, out, err = run("train", "--help")
        expect(code == 0 and "--algo" in out, f"train --help was not handed to bidsim-full: {err!r}")
        # A usage error of a handed-over command is still one line with status 2.
        expect_one_line_error(["train", DEFAULT, "--seed", "nan"], "--seed")


def plain_market(directory, agents):
    """A scenario file without a policy list (every agent truthful), so agents.count may change."""
    path = os.path.join(directory, "plain.yaml")
    with open(path, "w") as f:
        f.write(f"name: plain\nagents: {{count: {agents}}}\n")
    return path


def case_oversize_request_one_line():
    with tempfile.TemporaryDirectory() as d:
        expect_one_line_error(["simulate", plain_market(d, 1000000), "--set", "market.envs=200000"],
                              "GiB of host memory", "available")


# --- checkpoints (LibTorch builds) and rollouts (HDF5 builds) -------------------------------------
from cli_test import BPG10, TINY  # the small learning run of the other CLI checks (same argv layout)


def case_checkpoint_integrity():
    with tempfile.TemporaryDirectory() as d:
        run_dir = os.path.join(d, "run")
        code, _, err = run("train", BPG10, *TINY, "--iterations", "1", "--quiet", "--out", run_dir)
        expect(code == 0, f"train: exit {code}: {err!r}")
        checkpoint = os.path.join(run_dir, "checkpoint.pt")
        # The sealed checkpoint (checksum in the ZIP comment) still loads in LibTorch.
        code, _, err = run("evaluate", checkpoint, "--quiet", "--out", os.path.join(d, "ev"))
        expect(code == 0, f"evaluate of a sound checkpoint: exit {code}: {err!r}")
        with open(checkpoint, "rb") as f:
            data = bytearray(f.read())
        flipped = os.path.join(d, "flipped.pt")
        data[len(data) // 2] ^= 0x10
        with open(flipped, "wb") as f:
            f.write(data)
        expect_one_line_error(["evaluate", flipped, "--quiet"], "flipped.pt", "corrupt", "--allow-checkpoint-mismatch")
        expect_one_line_error(["train", BPG10, *TINY, "--resume", flipped, "--iterations", "2", "--quiet"], "corrupt")
        # The explicit flag skips the check (what happens next is up to the bytes; not the checksum error).
        code, _, err = run("evaluate", flipped, "--quiet", "--allow-checkpoint-mismatch")
        expect(b"checksum" not in err, f"--allow-checkpoint-mismatch still checked: {err!r}")
        truncated = os.path.join(d, "truncated.pt")
        with open(truncated, "wb") as f:
            f.write(bytes(data[: len(data) // 2]))
        expect_one_line_error(["evaluate", truncated, "--quiet"], "truncated.pt", "no bidsim checksum")
        # Another market with the same agent count, or a network setting on a trained checkpoint.
        expect_one_line_error(["train", BPG10, *TINY, "--set", "mechanism.reserve=0.5", "--resume", checkpoint,
                               "--iterations", "2", "--quiet"], "another market")
        expect_one_line_error(["train", BPG10, *TINY, "--set", "learning.hidden=8", "--resume", checkpoint,
                               "--iterations", "2", "--quiet"], "learning.hidden=8", "cannot apply")
        expect_one_line_error(["evaluate", checkpoint, "--set", "learning.hidden=8", "--quiet"], "learning.hidden", "cannot apply")
        # Resuming the same market with another seed count / batch is fine.
        code, _, err = run("train", BPG10, *TINY, "--resume", checkpoint, "--iterations", "2", "--quiet", "--out", run_dir)
        expect(code == 0, f"resume on the same market: exit {code}: {err!r}")


def case_rollout_interrupted_leaves_nothing():
    import signal
    import time
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ds")
        temporary = os.path.join(out, "rollout-rank0.h5.tmp")
        proc = subprocess.Popen([BIDSIM, "rollout", plain_market(d, 2000), "--set", "market.envs=8",
                                 "--set", "market.steps=400", "--set", "impressions.per_step=3000", "--threads", "1",
                                 "--deflate", "0", "--quiet", "--out", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3000):  # wait (up to 30 s) for the temporary file to appear
            if os.path.exists(temporary) or proc.poll() is not None:
                break
            time.sleep(0.01)
        expect(proc.poll() is None, "the rollout finished before it could be interrupted; enlarge it")
        expect(os.path.exists(temporary), "no temporary file while writing")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        expect(proc.returncode == -signal.SIGTERM, f"exit {proc.returncode}, expected death by SIGTERM")
        left = sorted(os.listdir(out))
        expect(left == [], f"files left after SIGTERM: {left}")


# --- progress (one facility, tools/progress.hpp) ---------------------------------------------------
# BIDSIM_PROGRESS_AFTER=0 and BIDSIM_PROGRESS_INTERVAL=0 ask for a line per unit of work from the
# start, so these checks need neither a slow run nor any assumption about timing.
EVERY_UNIT = {"BIDSIM_PROGRESS_AFTER": "0", "BIDSIM_PROGRESS_INTERVAL": "0"}


def expect_progress(err, phase, counts):
    """Plain lines (stderr is a pipe, not a terminal) 'PHASE: k/n ...  rate unit/s  ETA ...' for each k/n."""
    text = err.decode("utf-8", "replace")
    expect("\r" not in text and "\x1b" not in text, "terminal control characters in non-terminal progress")
    lines = [l for l in text.splitlines() if l.startswith(phase + ":")]
    print(f"{phase}: {len(lines)} progress lines, last {lines[-1] if lines else None!r}")
    for count in counts:
        expect(any(count in l for l in lines), f"no '{phase}: ... {count}' progress line in {text!r}")
    expect(all("/s" in l for l in lines), "a progress line without a rate")
    expect(any("ETA" in l for l in lines), "no ETA in the progress")


def expect_quiet_keeps_files(args, out, files):
    """--quiet (even with the every-unit timing): nothing on stderr, every requested file written."""
    code, _, err = run(*args, "--quiet", "--force", "--out", out, env=EVERY_UNIT)
    expect(code == 0, f"--quiet run: exit {code}: {err!r}")
    expect(err == b"", f"--quiet printed on stderr: {err!r}")
    for name in files:
        expect(os.path.isfile(os.path.join(out, name)), f"--quiet dropped {name}")


def case_progress_simulate_and_mesob():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "sim")
        code, _, err = run("simulate", DEFAULT, *SMALL, "--out", out, env=EVERY_UNIT)
        expect(code == 0, f"simulate: exit {code}")
        expect_progress(err, "simulate", ["1/3 steps", "2/3 steps", "3/3 steps"])
        expect_quiet_keeps_files(["simulate", DEFAULT, *SMALL], out, ["summary.json", "steps.csv"])
        # Without the knobs a short run stays silent (the first line waits 2 s).
        code, _, err = run("simulate", DEFAULT, *SMALL)
        expect(code == 0 and b"simulate:" not in err, f"a short run printed progress: {err!r}")
        # --progress never silences, --progress always wins over --quiet.
        code, _, err = run("simulate", DEFAULT, *SMALL, "--progress", "never", env=EVERY_UNIT)
        expect(code == 0 and err == b"", f"--progress never printed: {err!r}")
        code, _, err = run("simulate", DEFAULT, *SMALL, "--quiet", "--progress", "always")
        expect(code == 0 and b"simulate: 3/3 steps" in err, f"--progress always: {err!r}")
        expect_one_line_error(["simulate", DEFAULT, "--progress", "sometimes"], "--progress", "sometimes")

        paper = os.path.join(SOURCE, "scenarios", "mesob-paper.yaml")
        sweep = ["mesob-pareto", paper, "--set", "game.horizon=0", "--iterations", "20", "--lambda1-grid", "0.5,1",
                 "--lambda2-grid", "1", "--threads", "1"]
        code, _, err = run(*sweep, "--out", os.path.join(d, "p"), env=EVERY_UNIT)
        expect(code == 0, f"mesob-pareto: exit {code}: {err!r}")
        expect_progress(err, "mesob-pareto", ["1/3 configurations", "3/3 configurations"])
        expect_quiet_keeps_files(sweep, os.path.join(d, "p"), ["summary.json", "pareto.csv", "pareto.svg", "components.svg"])
        single = ["mesob", paper, "--set", "game.horizon=0", "--iterations", "20", "--tol", "0"]
        code, _, err = run(*single, env=EVERY_UNIT)
        expect(code == 0, f"mesob: exit {code}: {err!r}")
        expect_progress(err, "mesob", ["iteration 1/20", "iteration 20/20"])
        expect_quiet_keeps_files(single, os.path.join(d, "m"), ["summary.json", "history.csv", "history.svg"])


def case_progress_terminal_redraw():
    """On a terminal (stderr a pseudo-terminal here) the progress is one line redrawn in place:
    carriage return + erase-to-end-of-line before each update, one newline when the phase ends."""
    import pty
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([BIDSIM, "simulate", DEFAULT, *SMALL], stdout=subprocess.PIPE, stderr=follower,
                              timeout=110, env={**os.environ, **EVERY_UNIT})
        os.close(follower)
        follower = None
        err = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower side is closed and drained
                break
            if not chunk:
                break
            err += chunk
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    print("terminal stderr:", ascii(err))
    expect(proc.returncode == 0, f"simulate on a terminal: exit {proc.returncode}")
    expect(err.count(b"\rsimulate: ") == 3 and err.count(b"\x1b[K") == 3, "three updates, each from the line start, erasing")
    expect(b"simulate: 3/3 steps" in err, "the last update")
    lines = err.replace(b"\r\n", b"\n").split(b"\n")  # the terminal writes a newline as \r\n
    expect(len([l for l in lines if l.strip()]) == 1, f"the updates did not stay on one line: {lines}")


def case_progress_rollout():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ds")
        code, _, err = run("rollout", DEFAULT, *SMALL, "--out", out, env=EVERY_UNIT)
        expect(code == 0, f"rollout: exit {code}: {err!r}")
        expect_progress(err, "rollout", ["step 1/3", "step 3/3"])
        expect_quiet_keeps_files(["rollout", DEFAULT, *SMALL], out, ["rollout-rank0.h5"])


def case_progress_train_evaluate():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "run")
        code, _, err = run("train", BPG10, *TINY, "--iterations", "2", "--out", out, env=EVERY_UNIT)
        expect(code == 0, f"train: exit {code}: {err!r}")
        expect_progress(err, "train", ["iteration 1/2", "iteration 2/2"])
        expect_progress(err, "evaluate", ["best responses step"])
        expect_quiet_keeps_files(["train", BPG10, *TINY, "--iterations", "2"], out,
                                 ["summary.json", "train.csv", "checkpoint.pt"])
        # evaluate: --quiet now silences progress too (an explicit --progress still wins).
        code, _, err = run("evaluate", os.path.join(out, "checkpoint.pt"), "--quiet", env=EVERY_UNIT)
        expect(code == 0 and err == b"", f"evaluate --quiet printed on stderr: {err!r}")
        code, _, err = run("evaluate", os.path.join(out, "checkpoint.pt"), env=EVERY_UNIT)
        expect(code == 0, f"evaluate: exit {code}: {err!r}")
        expect_progress(err, "evaluate", ["best responses step"])


if __name__ == "__main__":
    run_case(globals(), CASE)
