"""The install export carries no path of the build machine's trees: configure bidsim with a dependency
found inside the build tree (as tools/gpu_check.sh finds its .deps/ prefix inside the source tree) and
expect the generate step to pass; CMake refuses an exported target whose include directories name a
source or build path.   export_paths_test.py SOURCE_DIR CMAKE RANDOM123_INCLUDE_DIR"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from case_driver import expect  # noqa: E402


def main(source, cmake, random123):
    with tempfile.TemporaryDirectory() as scratch:
        build = os.path.join(scratch, "build")
        deps = os.path.join(build, "deps", "include")
        shutil.copytree(os.path.join(random123, "Random123"), os.path.join(deps, "Random123"))
        done = subprocess.run(
            [cmake, "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", f"-DRANDOM123_INCLUDE_DIR={deps}",
             "-DBIDSIM_ENABLE_CUDA=OFF", "-DBIDSIM_ENABLE_TORCH=OFF", "-DBIDSIM_ENABLE_MPI=OFF",
             "-DBIDSIM_ENABLE_HDF5=OFF", "-DBIDSIM_BUILD_TESTS=OFF", "-DBIDSIM_BUILD_BENCH=OFF"],
            capture_output=True, text=True, timeout=300)
        expect(done.returncode == 0, f"configure with Random123 inside the build tree failed:\n{done.stderr[-3000:]}")
        cache = open(os.path.join(build, "CMakeCache.txt")).read()
        expect(f"RANDOM123_INCLUDE_DIR:PATH={deps}" in cache, "the configure did not use the in-tree Random123")
    print("ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
