"""tools/gpu_check.sh refuses a bad argument with one line naming it and exit status 2, before it writes
anything (no OUTDIR is created).   gpu_check_args_test.py SOURCE_DIR"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_driver import expect  # noqa: E402

CASES = [  # (arguments after OUTDIR, environment, what the one line must contain)
    (["--budget", "abc"], {}, "--budget: got 'abc', expected whole seconds from 60 to 86400"),
    (["--budget", "nan"], {}, "--budget: got 'nan'"),
    (["--budget", "59"], {}, "--budget: got '59'"),
    (["--budget", "-600"], {}, "--budget: got '-600'"),
    (["--budget", "0600"], {}, "--budget: got '0600'"),
    (["--budget", "86401"], {}, "--budget: got '86401'"),
    (["--budget", "99999999999999999999"], {}, "--budget: got '99999999999999999999'"),
    (["--budget", "4.5e2"], {}, "--budget: got '4.5e2'"),
    (["build", "--budget"], {}, "--budget: got ''"),
    (["benchmark"], {}, "stage: got 'benchmark', expected build, test, sanitize, bench or --budget SECONDS"),
    (["--budget", "480"], {"BIDSIM_GPU_CHECK_TORCH": "yes"}, "BIDSIM_GPU_CHECK_TORCH: got 'yes', expected 0 or 1"),
]


def main(source):
    script = os.path.join(source, "tools", "gpu_check.sh")
    for args, env, message in CASES:
        with tempfile.TemporaryDirectory() as scratch:
            out = os.path.join(scratch, "out")
            done = subprocess.run(["bash", script, out, *args], capture_output=True, text=True, timeout=60,
                                  env={**os.environ, **env})
            what = f"gpu_check.sh OUT {' '.join(args)} {env or ''}"
            expect(done.returncode == 2, f"{what}: exit {done.returncode}, expected 2\n{done.stderr}")
            lines = done.stderr.strip().splitlines()
            expect(len(lines) == 1 and message in lines[0], f"{what}: stderr {done.stderr!r}, expected {message!r}")
            expect(not os.path.exists(out), f"{what}: wrote {out}")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
