"""What the command-line test scripts (cli_test.py, mpi_test.py) share: a failed check prints one
FAIL line and exits 1, and each script runs the one `case_*` function its CTest test names."""
import os
import sys


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def run_case(namespace, case):
    """Runs namespace['case_' + case] (a script's globals()) and prints ok."""
    cases = {name[len("case_"):]: fn for name, fn in namespace.items() if name.startswith("case_")}
    if case not in cases:
        fail(f"unknown case {case}; cases: {', '.join(sorted(cases))}")
    cases[case]()
    print("ok")


def run_command(command, *args, timeout=110, cwd=None):
    """Runs command + args; returns (exit status, stdout, stderr)."""
    import subprocess
    proc = subprocess.run([command, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def expect_one_line_usage_error(command, args, *fragments, cwd=None):
    """Bad input: exit status 2 and exactly one stderr line naming every fragment."""
    code, _, err = run_command(command, *args, cwd=cwd)
    print("$", os.path.basename(command), " ".join(args), "->", code)
    print("stderr:", err, end="")
    expect(code == 2, f"exit status {code}, expected 2")
    lines = err.splitlines()
    expect(len(lines) == 1, f"{len(lines)} stderr lines, expected exactly one")
    for f in fragments:
        expect(f in lines[0], f"stderr does not name {f!r}")
    return lines[0]
