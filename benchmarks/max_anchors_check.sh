#!/bin/bash
# Issue 12: does SimGCL keep its accuracy when trained with large batches and a bounded contrastive
# sample (ssl.max_anchors), the setting benchmarks/scale.py uses to keep its epoch cost near-linear?
#   bash benchmarks/max_anchors_check.sh [BUDGET_SECONDS=600] [BIG_BATCH=32768]
# Three arms on yelp-sslrec at the same wall-clock budget (1 thread each, one at a time), from
# configs/yelp-sslrec/simgcl.yaml (batch 4096):
#   shipped      the config as it is
#   big          batch BIG_BATCH, lr scaled by sqrt(BIG_BATCH / 4096) (lr_scale: sqrt)
#   big-k4096    the same with ssl.max_anchors=4096 (the contrastive term on <= 4096 users and items)
# into runs/ablation/yelp-sslrec-simgcl-anchors-<arm> (each run's results.json and log.jsonl); docs/results.md
# "Large-data options at equal budgets" reads them (benchmarks/collect_results.py --update
# ablation/yelp-sslrec-simgcl-anchors-<arm> ...); the SSL-loss ablation table leaves them out.
set -euo pipefail
budget=${1:-600}
big=${2:-32768}
mkdir -p runs/ablation
declare -A sets=(
  [shipped]=""
  [big]="batch_size=$big lr_scale=sqrt lr_base_batch=4096"
  [big-k4096]="batch_size=$big lr_scale=sqrt lr_base_batch=4096 ssl.max_anchors=4096"
)
for arm in shipped big big-k4096; do
  out=runs/ablation/yelp-sslrec-simgcl-anchors-$arm
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 python -m contrastrec train --config configs/yelp-sslrec/simgcl.yaml --output "$out" \
    --set threads=1 max_train_seconds="$budget" ${sets[$arm]} > "$out.log" 2>&1
done
