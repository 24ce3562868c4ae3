"""What the command-line test scripts (cli_test.py, mpi_test.py) share: a failed check prints one
FAIL line and exits 1, and each script runs the one `case_*` function its CTest test names."""
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
