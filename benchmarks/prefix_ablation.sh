#!/bin/bash
# Issue 15.3: train_prefixes on / off on Beauty for SASRec, CL4SRec and ICLRec at equal wall-clock budget.
#   bash benchmarks/prefix_ablation.sh [BUDGET_SECONDS=600]
# Runs one training at a time (1 thread each) into runs/ablation/beauty-<model>-prefixes-<on|off>, then:
#   python benchmarks/collect_results.py --update ablation/beauty-{sasrec,cl4srec,iclrec}-prefixes-{on,off}
# writes the "Prefix training on Beauty" table of docs/results.md.
set -euo pipefail
budget=${1:-600}
mkdir -p runs/ablation
for model in sasrec cl4srec iclrec; do
  for arm in on off; do
    flag=$([ "$arm" = on ] && echo true || echo false)
    out=runs/ablation/beauty-$model-prefixes-$arm
    OMP_NUM_THREADS=1 python -m contrastrec train --config configs/beauty/$model.yaml --output "$out" \
      --set threads=1 max_train_seconds="$budget" train_prefixes="$flag" > "$out.log" 2>&1
  done
done
