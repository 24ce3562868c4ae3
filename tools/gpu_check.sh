#!/usr/bin/env bash
# The whole GPU check of the CUDA backend, on a GPU machine without network access:
#   tools/gpu_check.sh OUTDIR [STAGE ...]      stages: build test sanitize bench (default: all four)
# Dependencies come from .deps/ (tools/gpu_deps.sh, run beforehand on a Debian machine with network);
# LibTorch from the machine's python3 (used when its C++ ABI matches, else the torch-free build).
# The sanitize stage runs compute-sanitizer's memcheck, racecheck, synccheck and initcheck.
# Writes into OUTDIR: gpu_check.json (device, driver, commit, commands, per-stage status and figures),
# gpu_check.log, cuda_tests.xml and rl_cuda_tests.xml (JUnit), bench_cuda.json, peer.json,
# bench_mesob.json and (with LibTorch) bench_rl.json. Exit status 0 when every stage
# run passed. Split the stages over several calls when one call has a time limit (the build folder
# build-gpu/ is reused). BIDSIM_COMMIT names the commit when the copy has no .git.
# BIDSIM_GPU_CHECK_NO_DEVICE=1 runs `build` on a machine without a GPU (to test this script).
#
# --budget SECONDS (anywhere after OUTDIR): the whole check in one call of a lent machine's time
# (e.g. 540 for a 10-minute call that also starts the machine). Stages run in the order build, test,
# bench, sanitize, so the figures come before the sanitizers; the build makes only the programs the
# check runs (no full ctest then); each command's timeout is its own cap or what is left of the
# budget, whichever is less, and a command with under 20 s left is skipped and recorded as such; no
# LibTorch unless BIDSIM_GPU_CHECK_TORCH=1 (the rl/ build is the longest part). The JSON is written in
# every case.
set -uo pipefail
cd "$(dirname "$0")/.."
readonly ROOT=$PWD
if [[ $# -lt 1 ]]; then
  echo "usage: tools/gpu_check.sh OUTDIR [build|test|sanitize|bench ...]" >&2
  exit 2
fi
OUTDIR=$1
shift
# The arguments are checked before anything is written: a bad one leaves no OUTDIR behind.
BUDGET=0
STAGES=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --budget)
      if [[ ! ${2:-} =~ ^[1-9][0-9]{0,5}$ ]] || (( 10#$2 < 60 || 10#$2 > 86400 )); then
        echo "gpu_check: --budget: got '${2:-}', expected whole seconds from 60 to 86400" >&2
        exit 2
      fi
      BUDGET=$((10#$2))
      shift 2 ;;
    build|test|sanitize|bench) STAGES+=("$1"); shift ;;
    *) echo "gpu_check: stage: got '$1', expected build, test, sanitize, bench or --budget SECONDS" >&2; exit 2 ;;
  esac
done
if [[ ! ${BIDSIM_GPU_CHECK_TORCH:-0} =~ ^[01]$ ]]; then
  echo "gpu_check: BIDSIM_GPU_CHECK_TORCH: got '$BIDSIM_GPU_CHECK_TORCH', expected 0 or 1" >&2
  exit 2
fi
mkdir -p "$OUTDIR" || exit 2
OUTDIR=$(cd "$OUTDIR" && pwd)
if [[ ${#STAGES[@]} -eq 0 ]]; then
  if [[ $BUDGET -gt 0 ]]; then STAGES=(build test bench sanitize); else STAGES=(build test sanitize bench); fi
fi
# Seconds kept at the end of a budget for writing the JSON.
readonly BUDGET_RESERVE=25
readonly DEADLINE=$((SECONDS + BUDGET - BUDGET_RESERVE))
readonly LOG=$OUTDIR/gpu_check.log
readonly BUILD=$ROOT/build-gpu
: > "$LOG"
export PATH=$PATH:/usr/local/cuda/bin
export OMP_WAIT_POLICY=passive
JOBS=$(nproc 2>/dev/null || echo 16)
[[ $JOBS -gt 16 ]] && JOBS=16

log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
# run NAME CMD...: runs a command, appends its output to the log, records it for the JSON.
declare -a RECORDS=()
run() {
  local name=$1
  shift
  log "$name: $*"
  local start=$SECONDS
  "$@" >> "$LOG" 2>&1
  local status=$?
  log "$name: exit $status after $((SECONDS - start)) s"
  RECORDS+=("$name"$'\t'"$status"$'\t'"$((SECONDS - start))"$'\t'"$*")
  return $status
}
# run_capped NAME CAP CMD...: run under `timeout`, CAP seconds or, with --budget, what is left of the
# budget when that is less; skipped (recorded with exit "skipped") when under 20 s are left. A command
# stopped by its timeout exits 124.
run_capped() {
  local name=$1 cap=$2
  shift 2
  if [[ $BUDGET -gt 0 ]]; then
    local left=$((DEADLINE - SECONDS))
    if [[ $left -lt 20 ]]; then
      log "$name: skipped, ${left} s of the budget left"
      RECORDS+=("$name"$'\t'"skipped"$'\t'"0"$'\t'"$*")
      return 1
    fi
    [[ $left -lt $cap ]] && cap=$left
  fi
  run "$name" timeout "$cap" "$@"
}

# ----- facts -------------------------------------------------------------------------------------
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo "${BIDSIM_COMMIT:-unknown}")
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
NVCC_VERSION=$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | head -1)
CMAKE_VERSION=$(cmake --version 2>/dev/null | head -1 | grep -o '[0-9][0-9.]*')
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
TORCH_ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null)
TORCH_VERSION=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null)
log "commit $COMMIT; GPU '${GPU_NAME:-none}', driver ${DRIVER:-none}; nvcc ${NVCC_VERSION:-missing};" \
    "cmake ${CMAKE_VERSION:-missing}; torch ${TORCH_VERSION:-none} (ABI ${TORCH_ABI:-?}) at ${TORCH_PREFIX:-none}"
if [[ -z $CMAKE_VERSION ]]; then log "cmake is missing (pip's cmake: python3 -m pip install cmake wheels)"; exit 2; fi
if [[ ! -d $ROOT/.deps/usr ]]; then log ".deps/ is missing: run tools/gpu_deps.sh on a machine with network first"; exit 2; fi
if [[ -z $GPU_NAME && ${BIDSIM_GPU_CHECK_NO_DEVICE:-0} != 1 ]]; then log "no GPU (nvidia-smi found none)"; exit 2; fi
export LD_LIBRARY_PATH=$ROOT/.deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# ----- stages ------------------------------------------------------------------------------------
TORCH_USED=OFF
stage_build() {
  # LibTorch only when its C++ ABI matches the Debian prefix (built with the new ABI). A mismatch or a
  # failing torch configure falls back to a torch-free build: the engine and mesob checks still run,
  # the rl ones (zero-copy rollouts, the BPG iteration benchmark) are then missing from the JSON.
  local prefix="$ROOT/.deps/usr"
  local torch=OFF
  # With a budget, no LibTorch unless BIDSIM_GPU_CHECK_TORCH=1: rl/ against torch's headers is the
  # longest part of the build, and the market and MESOB figures come first.
  if [[ $BUDGET -gt 0 && ${BIDSIM_GPU_CHECK_TORCH:-0} != 1 ]]; then
    log "budget: building without LibTorch (BIDSIM_GPU_CHECK_TORCH=1 builds rl/ too)"
  elif [[ -n $TORCH_PREFIX && $TORCH_ABI == 1 ]]; then
    prefix="$prefix;$TORCH_PREFIX"
    torch=ON
  fi
  local configure=(cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
                   -DBIDSIM_ENABLE_CUDA=ON "-DCMAKE_PREFIX_PATH=$prefix")
  if ! run configure "${configure[@]}" -DBIDSIM_ENABLE_TORCH=$torch; then
    [[ $torch == OFF ]] && return 1
    rm -rf "$BUILD"
    torch=OFF
    run configure_without_torch "${configure[@]}" -DBIDSIM_ENABLE_TORCH=OFF || return 1
  fi
  # With a budget, only the programs the check runs (the full suite is for calls without one).
  local targets=()
  if [[ $BUDGET -gt 0 ]]; then
    targets=(--target bidsim_tests bench_cuda bench_mesob bidsim bidsim-full)
    [[ $torch == ON ]] && targets+=(bidsim_rl_tests bench_rl)
  fi
  if ! run_capped build 1800 cmake --build "$BUILD" -j "$JOBS" "${targets[@]}"; then
    [[ $torch == OFF ]] && return 1
    torch=OFF
    run configure_without_torch "${configure[@]}" -DBIDSIM_ENABLE_TORCH=OFF || return 1
    [[ $BUDGET -gt 0 ]] && targets=(--target bidsim_tests bench_cuda bench_mesob bidsim bidsim-full)
    run_capped build_without_torch 1800 cmake --build "$BUILD" -j "$JOBS" "${targets[@]}" || return 1
  fi
  TORCH_USED=$torch
  # Where each dependency came from (the prefix, not the system).
  grep -E '^(yaml-cpp|Catch2|benchmark|nlohmann_json|CLI11)_DIR|^RANDOM123_INCLUDE_DIR|^Torch_DIR' \
    "$BUILD/CMakeCache.txt" >> "$LOG"
}

stage_test() {
  local ok=0
  run_capped cuda_tests 240 "$BUILD/tests/bidsim_tests" "[cuda]" --durations yes -r junit -o "$OUTDIR/cuda_tests.xml" || ok=1
  if [[ -x $BUILD/tests/bidsim_rl_tests ]]; then
    run_capped rl_cuda_tests 180 "$BUILD/tests/bidsim_rl_tests" "[cuda]" --durations yes -r junit \
        -o "$OUTDIR/rl_cuda_tests.xml" || ok=1
  fi
  run_capped simulate_cuda 120 "$BUILD/tools/bidsim" simulate "$ROOT/scenarios/auctionnet.yaml" --device cuda --quiet \
      --force --out "$BUILD/simulate-cuda" || ok=1
  # The whole suite too (the CPU backend and the CLI on this machine), where everything was built.
  [[ $BUDGET -eq 0 ]] && { run all_tests ctest --test-dir "$BUILD" -j "$JOBS" --output-on-failure || ok=1; }
  return $ok
}

stage_sanitize() {
  # memcheck over every [cuda] case; racecheck (shared-memory hazards, slower) over the generated
  # markets, ties and views; synccheck (barriers and warp collectives reached by only part of their
  # threads, e.g. the drop selection's block-wide radix select) and initcheck (device memory read
  # before anything wrote it) over the small cases and the many-pass markets. Timeouts keep one
  # call inside a 10-minute limit; the stage is meant to be a call of its own.
  local ok=0
  run_capped memcheck 420 compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check full \
      "$BUILD/tests/bidsim_tests" "[cuda]" || ok=1
  run_capped racecheck 300 compute-sanitizer --tool racecheck --error-exitcode 3 \
      "$BUILD/tests/bidsim_tests" "[cuda][ties],[cuda][views],[cuda][shard]" || ok=1
  run_capped synccheck 300 compute-sanitizer --tool synccheck --error-exitcode 3 \
      "$BUILD/tests/bidsim_tests" "[cuda][ties],[cuda][shard],[cuda][passes],[cuda][counters]~[auctionnet]" || ok=1
  run_capped initcheck 300 compute-sanitizer --tool initcheck --error-exitcode 3 \
      "$BUILD/tests/bidsim_tests" "[cuda][ties],[cuda][shard],[cuda][passes],[cuda][counters]~[auctionnet]" || ok=1
  return $ok
}

stage_bench() {
  local ok=0
  local dump=${TMPDIR:-/tmp}/bidsim_peer_step.bin
  run_capped bench_cuda 300 env BIDSIM_PEER_DUMP="$dump" "$BUILD/bench/bench_cuda" --benchmark_out="$OUTDIR/bench_cuda.json" \
      --benchmark_out_format=json || ok=1
  run_capped peer 120 python3 "$ROOT/bench/peers/torch_market.py" "$dump" --out "$OUTDIR/peer.json" || ok=1
  # Mean field: the 1024-configuration sweep on the device next to the CPU iteration and sweep.
  # With a budget, only the sweep's rows (the device batch, its CPU reference): the CPU-only rows are
  # measured on any machine.
  local mesob_filter=()
  [[ $BUDGET -gt 0 ]] && mesob_filter=('--benchmark_filter=ParetoSweep(Cuda|CpuReference)')
  run_capped bench_mesob 300 "$BUILD/bench/bench_mesob" "${mesob_filter[@]}" --benchmark_out="$OUTDIR/bench_mesob.json" --benchmark_out_format=json || ok=1
  # Learning: one BPG iteration, 100 agents, GPU (zero-copy engine) next to the CPU at the same batch.
  if [[ -x $BUILD/bench/bench_rl ]]; then
    run_capped bench_rl 240 "$BUILD/bench/bench_rl" --benchmark_out="$OUTDIR/bench_rl.json" --benchmark_out_format=json || ok=1
  fi
  return $ok
}

declare -A STATUS=()
for stage in "${STAGES[@]}"; do
  if [[ $stage != build && ! -x $BUILD/tests/bidsim_tests ]]; then
    log "$stage: no build in $BUILD; run the build stage first"
    STATUS[$stage]=fail
    continue
  fi
  if "stage_$stage"; then STATUS[$stage]=pass; else STATUS[$stage]=fail; fi
  log "stage $stage: ${STATUS[$stage]}"
done

# ----- results JSON ------------------------------------------------------------------------------
printf '%s\n' "${RECORDS[@]}" > "$OUTDIR/.records.tsv"
STATUS_LINES=$(for s in "${!STATUS[@]}"; do printf '%s\t%s\n' "$s" "${STATUS[$s]}"; done)
export COMMIT GPU_NAME DRIVER NVCC_VERSION CMAKE_VERSION TORCH_VERSION TORCH_ABI TORCH_USED STATUS_LINES OUTDIR BUDGET
python3 - <<'PY'
import json, os, re
out = os.environ["OUTDIR"]
result = {
    "commit": os.environ["COMMIT"], "device": os.environ["GPU_NAME"] or None,
    "driver": os.environ["DRIVER"] or None, "nvcc": os.environ["NVCC_VERSION"] or None,
    "cmake": os.environ["CMAKE_VERSION"], "torch": os.environ["TORCH_VERSION"] or None,
    "torch_cxx11_abi": os.environ["TORCH_ABI"] or None, "libtorch_in_build": os.environ["TORCH_USED"],
    "stages": dict(l.split("\t") for l in os.environ["STATUS_LINES"].splitlines() if l),
    "budget_seconds": int(os.environ["BUDGET"]) or None,
    "commands": [], "figures": {},
}
for line in open(os.path.join(out, ".records.tsv")):
    if line.strip():
        name, status, seconds, command = line.rstrip("\n").split("\t", 3)
        entry = {"name": name, "exit": int(status) if status.lstrip("-").isdigit() else None,
                 "seconds": int(seconds), "command": command}
        if status == "skipped":
            entry["skipped"] = "under 20 s of the budget left"
        elif status == "124" and command.startswith("timeout "):
            entry["timed_out"] = True
        result["commands"].append(entry)
os.remove(os.path.join(out, ".records.tsv"))
log = open(os.path.join(out, "gpu_check.log"), errors="replace").read()
result["figures"]["sanitizer_summaries"] = re.findall(
    r"ERROR SUMMARY: .*|RACECHECK SUMMARY: .*|SYNCCHECK SUMMARY: .*|INITCHECK SUMMARY: .*", log)
m = re.findall(r"All tests passed \((\d+) assertions in (\d+) test cases\)|test cases: .*", log)
result["figures"]["catch_summaries"] = [x if isinstance(x, str) else " ".join(x) for x in m]
keep = ("bytes/s", "fraction_of_copy", "bids/s", "auctions/s", "agent_steps/s", "bid_evals/s", "device_MiB",
        "copy_bytes/s", "passes/step", "items_per_second", "s_per_iteration", "configs", "iterations_per_config",
        "agents", "envs", "steps", "theta_agent_steps_per_s", "label")
for program in ("bench_cuda", "bench_mesob", "bench_rl"):
    bench = os.path.join(out, program + ".json")
    if not os.path.exists(bench):
        continue
    rows = {}
    for b in json.load(open(bench)).get("benchmarks", []):
        row = {"real_time": b.get("real_time"), "time_unit": b.get("time_unit")}
        row.update({k: b[k] for k in keep if k in b})
        if "error_message" in b:
            row["error"] = b["error_message"]
        rows[b["name"]] = row
    result["figures"][program] = rows
peer = os.path.join(out, "peer.json")
if os.path.exists(peer):
    result["figures"]["peer"] = json.load(open(peer))
json.dump(result, open(os.path.join(out, "gpu_check.json"), "w"), indent=2)
print(json.dumps(result["stages"]))
PY
for s in "${STATUS[@]}"; do [[ $s == pass ]] || exit 1; done
exit 0
