"""The layers of DESIGN.md's one-way dependencies, checked on the sources' #include lines:
engine/core ← engine/cpu, cuda/ ← engine/facade ← rl/, mesob/ ← tools/, python/; engine/mpi/ stands
apart. A folder may include its own headers and those its row below names, nothing else, so a new
include that turns an arrow around fails here instead of in a later link.   layers_test.py SOURCE_DIR"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_driver import fail  # noqa: E402

# Folder (or file) -> what its #include "..." lines may name (folders end in "/").
ALLOWED = {
    "engine/core/": ["engine/core/",
                     "cuda/device.hpp"],           # device selection asks the leaf probe of the runtime
    "engine/cpu/": ["engine/core/", "engine/cpu/"],
    "engine/mpi/": ["engine/mpi/",
                    "engine/core/config_types.hpp", "engine/core/errors.hpp"],  # shard.hpp's Scenario
    "cuda/device.": ["cuda/device.hpp"],             # the probe links nothing of bidsim
    "cuda/": ["cuda/", "engine/core/",
              "mesob/omo_kernel.hpp"],             # the header-only MESOB step (below)
    "engine/facade/": ["engine/core/", "engine/cpu/", "engine/facade/",
                       "cuda/cuda_backend.hpp"],   # the facade builds the CUDA backend
}
# Header-only host+device code of mesob/ that cuda/ compiles (mesob_batch.cu): it may name only itself
# and the core, or cuda/ would reach the mean-field library through it.
HEADER_ONLY = {
    "mesob/omo_kernel.hpp": ["engine/core/", "mesob/auction_model.hpp", "mesob/mean_field_types.hpp"],
    "mesob/auction_model.hpp": ["engine/core/"],
    "mesob/mean_field_types.hpp": ["engine/core/"],
}
SOURCE = re.compile(r".*\.(cpp|hpp|cu|cuh|h)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
EMULATION = re.compile(r"^\s*#\s*(if|ifdef|ifndef|elif)\b.*BIDSIM_CUDA_EMULATION", re.M)


def rule_for(path):
    """The longest ALLOWED key that is a prefix of path (cuda/device.cu before cuda/)."""
    keys = [k for k in ALLOWED if path.startswith(k)]
    return ALLOWED[max(keys, key=len)] if keys else None


def main(root):
    problems, checked = [], 0
    for folder in ("engine", "cuda", "mesob", "rl", "tools", "python", "bench"):
        for here, dirs, files in os.walk(os.path.join(root, folder)):
            dirs[:] = [d for d in dirs if d != "emulation"]  # the emulator stands in for system headers
            for name in files:
                if not SOURCE.match(name):
                    continue
                path = os.path.relpath(os.path.join(here, name), root)
                text = open(os.path.join(root, path), encoding="utf-8").read()
                checked += 1
                if EMULATION.search(text) and not path.startswith("cuda/"):
                    problems.append(f"{path}: tests BIDSIM_CUDA_EMULATION; only cuda/ and tests/ may know the emulator")
                allowed = HEADER_ONLY.get(path) or rule_for(path)
                if allowed is None:
                    continue  # rl/, mesob/, tools/, python/, bench/ sit above every engine layer
                for target in INCLUDE.findall(text):
                    if "/" not in target:
                        continue  # a system or third-party header
                    if not any(target == a or (a.endswith("/") and target.startswith(a)) for a in allowed):
                        who = path if path in HEADER_ONLY else os.path.dirname(path) + "/"
                        problems.append(f"{path}: includes {target}; {who} may include only " + ", ".join(allowed))
    if checked < 50:
        fail(f"only {checked} source files found under {root}; wrong SOURCE_DIR?")
    if problems:
        fail(f"{len(problems)} problem(s) with the layers:\n  " + "\n  ".join(problems))
    print(f"ok ({checked} files)")


if __name__ == "__main__":
    main(sys.argv[1])
