"""`cmake --install` into a scratch prefix, then use it as a user would: the installed `bidsim` finds its
shipped scenarios in the prefix (run from a folder without scenarios/), a C++ program outside the tree
builds against find_package(bidsim), and the installed Python package imports and finds the same
scenarios.   install_test.py BUILD_DIR CMAKE PYTHON"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_driver import expect, fail  # noqa: E402


def run(args, **kw):
    done = subprocess.run(args, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        fail(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def main(build_dir, cmake, python):
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as scratch:
        prefix = os.path.join(scratch, "prefix")
        run([cmake, "--install", build_dir, "--prefix", prefix])
        scenarios = os.path.join(prefix, "share", "bidsim", "scenarios")
        expect(os.path.isfile(os.path.join(scenarios, "default.yaml")), "scenarios not installed")

        elsewhere = os.path.join(scratch, "elsewhere")
        os.mkdir(elsewhere)
        out = run([os.path.join(prefix, "bin", "bidsim"), "simulate", "--set", "market.envs=1",
                   "--set", "market.steps=2"], cwd=elsewhere).stdout
        expect(os.path.join(scenarios, "default.yaml") in out, f"installed bidsim did not use {scenarios}:\n{out}")

        consumer_build = os.path.join(scratch, "consumer")
        run([cmake, "-S", os.path.join(here, "install_consumer"), "-B", consumer_build,
             f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"])
        run([cmake, "--build", consumer_build])
        out = run([os.path.join(consumer_build, "consumer")], cwd=elsewhere).stdout
        expect(out.startswith("revenue "), f"consumer printed {out!r}")

        site = os.path.join(prefix, "lib", "python3", "dist-packages")
        if os.path.isdir(os.path.join(site, "bidsim")):
            code = ("import bidsim, bidsim._paths as p; m = bidsim.Market('default', overrides={'market.envs': 1}); "
                    "print(p.SCENARIOS_DIR)")
            out = run([python, "-c", code], cwd=elsewhere, env=dict(os.environ, PYTHONPATH=site)).stdout.strip()
            expect(out == scenarios, f"installed Python package looks for scenarios in {out}, not {scenarios}")
    print("ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
