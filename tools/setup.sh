#!/usr/bin/env bash
# One-stop set-up for a fresh Debian/Ubuntu machine: installs what is missing (apt, idempotent),
# builds Release, then runs the default job (`run`) or the whole test suite (`test`).
#   tools/setup.sh run  [bidsim train args...]   simulate the default scenario's built-in bidders, then
#                                                learn with BPG on it, e.g. tools/setup.sh run --out out/default
#   tools/setup.sh test [ctest args...]         the whole suite: the regular build's tests, then the
#                                                [cuda] tests on the host CUDA emulator (see emulate)
#   tools/setup.sh emulate [ctest args...]      only the emulated part: cuda/ built with g++ against
#                                                cuda/emulation/ in build-emulated/, [cuda] + [emulator]
#   tools/setup.sh build
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
shift || true

packages=(cmake g++ make ccache pkg-config libyaml-cpp-dev catch2 libbenchmark-dev librandom123-dev
          nlohmann-json3-dev libcli11-dev libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev
          libboost-context-dev
          pybind11-dev python3-dev python3-numpy python3-pytest libdlpack-dev python3-h5py python3-matplotlib
          python3-torch python3-scipy)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
  $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=900 "${missing[@]}" >/dev/null
fi

# nvcc is optional: when present the CUDA parts are compiled (sm_90), never required.
if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

build_dir="${BIDSIM_BUILD_DIR:-build}"
# The Python module is built for Debian's interpreter, which sees Debian's numpy/torch/h5py (a python3
# earlier on PATH may be a separate one); BIDSIM_PYTHON points it elsewhere.
python_exe="${BIDSIM_PYTHON:-/usr/bin/python3}"
emulated_dir="${BIDSIM_EMULATED_BUILD_DIR:-build-emulated}"
jobs="$(nproc)"

# OpenMP's default spin-wait is 15-1000x slower when another process shares the cores.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

# The [cuda] tests on a machine without a GPU: the real kernels and launchers, compiled by g++ against
# the host emulator, with LibTorch when present (the zero-copy rollout); MPI, HDF5 and the benchmarks
# are not needed for them.
emulated_tests() {
  cmake -S . -B "$emulated_dir" -DCMAKE_BUILD_TYPE=Release -DBIDSIM_CUDA_EMULATION=ON -DPython_EXECUTABLE="$python_exe" \
        -DBIDSIM_ENABLE_MPI=OFF -DBIDSIM_ENABLE_HDF5=OFF -DBIDSIM_BUILD_TESTS=ON -DBIDSIM_BUILD_BENCH=OFF >/dev/null
  cmake --build "$emulated_dir" -j "$jobs"
  (cd "$emulated_dir" && ctest --output-on-failure -j "$jobs" "$@")
}
if [ "$mode" = emulate ]; then
  emulated_tests "$@"
  exit
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DBIDSIM_BUILD_TESTS=ON -DBIDSIM_BUILD_BENCH=ON \
      -DPython_EXECUTABLE="$python_exe" >/dev/null
cmake --build "$build_dir" -j "$jobs"

case "$mode" in
  run)
    "$build_dir/tools/bidsim" simulate scenarios/default.yaml
    if "$build_dir/tools/bidsim" train --help >/dev/null 2>&1; then  # built with LibTorch
      echo
      exec "$build_dir/tools/bidsim" train scenarios/default.yaml "$@"
    fi ;;
  test)
    (cd "$build_dir" && ctest --output-on-failure -j "$jobs" "$@")
    emulated_tests "$@" ;;
  build) ;;
  *)     echo "usage: tools/setup.sh run|test|emulate|build [args...]" >&2; exit 2 ;;
esac
