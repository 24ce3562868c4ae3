#!/usr/bin/env bash
# bidsim's CPU backend against the vectorized PyTorch peer (bench/peers/torch_market.py) on the same
# market step (bench/peer_market.hpp), 1 and 2 threads each, side by side in one run:
#   tools/cpu_peer.sh [BUILD_DIR] [OUT_JSON]      (defaults: build, bench/results/cpu-peer-<date>.json)
# Needs python3 with torch and numpy (Debian: python3-torch python3-numpy; the script prefers
# /usr/bin/python3, where Debian installs them). Exit 1 when the peer's outputs differ from bidsim's.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-bench/results/cpu-peer-$(date +%Y-%m-%d).json}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3
export OMP_WAIT_POLICY=passive
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for threads in 1 2; do
  BIDSIM_PEER_DUMP=$tmp/step$threads.bin "$BUILD/bench/bench_market" \
      --benchmark_filter="BM_PeerStepCpu/threads:$threads/" >&2
  "$PYTHON" bench/peers/torch_market.py "$tmp/step$threads.bin" --out "$tmp/peer$threads.json" >&2 || status=1
done
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown) CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1) \
NPROC=$(nproc) TMPDIR_PEER=$tmp OUT=$OUT "$PYTHON" - <<'PY'
import json, os
runs = [json.load(open(os.path.join(os.environ["TMPDIR_PEER"], f"peer{t}.json"))) for t in (1, 2)]
result = {
    "what": "one GSP market step (bench/peer_market.hpp): bidsim CPU backend vs vectorized PyTorch on the CPU, "
            "same inputs, same thread count, outputs checked equal",
    "machine": {"cpu": os.environ["CPU"], "cores": int(os.environ["NPROC"])},
    "commit": os.environ["COMMIT"],
    "command": "tools/cpu_peer.sh",
    "runs": runs,
}
json.dump(result, open(os.environ["OUT"], "w"), indent=2)
for r in runs:
    print(f'{r["device"]}: bidsim {r["bidsim_step_ms"]:.1f} ms, PyTorch {r["torch_step_ms"]:.1f} ms, '
          f'{r["speedup"]:.1f}x, outputs equal: {r["outputs_equal"]}')
PY
exit $status
