#!/usr/bin/env bash
# GPU check (issue 12): train LightGCN (yelp-sslrec) and SASRec (beauty) for a few epochs on the CPU
# and on the GPU with the same seed, check that the validation metrics agree within a tolerance, and
# print epoch time, evaluation time and the CPU/GPU ratio. Under 5 minutes on a GPU machine.
#   bash benchmarks/gpu_check.sh [DATA_ROOT]      (default ../shared/datasets)
# Exit status 1 when a metric differs by more than TOL (float32 kernels differ between devices, so
# the runs are not bit-identical; 2 epochs keep the drift small) or when no CUDA device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-../shared/datasets}"
OUT="${OUT:-/tmp/contrastrec-gpu-check}"
TOL="${TOL:-0.002}"
rm -rf "$OUT" && mkdir -p "$OUT"
python - <<'EOF' || { echo "no CUDA device: nothing to check"; exit 1; }
import torch, sys
sys.exit(0 if torch.cuda.is_available() else 1)
EOF
run() {  # name model dataset device extra...
  local name=$1 model=$2 data=$3 device=$4; shift 4
  contrastrec train --model "$model" --dataset "$data" --output "$OUT/$name-$device" --quiet --overwrite \
    --set epochs=2 eval_every=1 seed=0 device="$device" "$@" > "$OUT/$name-$device.log" 2>&1
}
run lightgcn lightgcn "$ROOT/yelp-sslrec" cpu  embedding_dim=64 batch_size=4096 threads=8
run lightgcn lightgcn "$ROOT/yelp-sslrec" cuda embedding_dim=64 batch_size=4096
run sasrec   sasrec   "$ROOT/beauty"      cpu  threads=8
run sasrec   sasrec   "$ROOT/beauty"      cuda
run sasrec-amp sasrec "$ROOT/beauty"      cuda amp=true
python - "$OUT" "$TOL" <<'EOF'
import json, sys
from pathlib import Path
out, tol = Path(sys.argv[1]), float(sys.argv[2])
def load(run):
    log = [json.loads(l) for l in (out / run / "log.jsonl").read_text().splitlines()]
    res = json.loads((out / run / "results.json").read_text())
    return log, res
bad = 0
print(f"{'model':12s} {'device':6s} {'epoch s':>8s} {'eval s':>8s} {'valid ndcg@20':>14s}")
for name in ("lightgcn", "sasrec", "sasrec-amp"):
    cpu_name = "sasrec" if name == "sasrec-amp" else name
    (lc, rc), (lg, rg) = load(f"{cpu_name}-cpu"), load(f"{name}-cuda")
    ec, eg = sum(r["seconds"] for r in lc) / len(lc), sum(r["seconds"] for r in lg) / len(lg)
    vc, vg = sum(r["eval_seconds"] for r in lc) / len(lc), sum(r["eval_seconds"] for r in lg) / len(lg)
    for dev, e, v, log in (("cpu", ec, vc, lc), ("cuda", eg, vg, lg)):
        print(f"{name:12s} {dev:6s} {e:8.2f} {v:8.2f} {log[-1]['valid']['ndcg@20']:14.4f}")
    diff = max(abs(a["valid"][k] - b["valid"][k]) for a, b in zip(lc, lg) for k in a["valid"])
    ok = diff <= (5 * tol if name.endswith("amp") else tol)
    bad += not ok
    print(f"{name}: CPU/GPU epoch-time ratio {ec / eg:.1f}, evaluation {vc / vg:.1f}; max |valid metric diff| "
          f"{diff:.2e} ({'ok' if ok else 'TOO LARGE'}); peak GPU memory {rg['peak_memory_mb']:.0f} MB")
sys.exit(1 if bad else 0)
EOF
