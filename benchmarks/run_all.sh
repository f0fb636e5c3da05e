#!/usr/bin/env bash
# Reproduce every recorded row of docs/results.md, one training at a time (2-core machine).
# Usage: bash benchmarks/run_all.sh [RUN_NAME ...]   (default: all; names are <config-folder>-<model>)
# Each run: contrastrec train --config configs/<folder>/<model>.yaml --output runs/<folder>-<model>
# EXTRA_SET="threads=1" adds --set overrides to every run (recorded in each results.json).
# A name ending in -refit (e.g. beauty-graph-xsimgcl_softmax-refit) runs
#   contrastrec refit --run runs/<name without -refit> --output runs/<name>
# (the base run must exist: list it first).
set -euo pipefail
cd "$(dirname "$0")/.."
ALL=(beauty-sasrec yelp-sslrec-lightgcn yelp-seq-sasrec beauty-cl4srec yelp-sslrec-xsimgcl yelp-sslrec-simgcl
     yelp-sslrec-sgl yelp-sslrec-ncl beauty-graph-lightgcn beauty-graph-xsimgcl)
RUNS=("${@:-${ALL[@]}}")
[ $# -gt 0 ] && RUNS=("$@") || RUNS=("${ALL[@]}")
for run in "${RUNS[@]}"; do
  if [[ "$run" == *-refit ]]; then
    echo "== $run: refit of runs/${run%-refit}"
    contrastrec refit --run "runs/${run%-refit}" --output "runs/$run" --quiet \
      ${EXTRA_SET:+--set "$EXTRA_SET"} > "runs/$run.log" 2>&1 || echo "FAILED: $run"
    continue
  fi
  for folder in beauty-graph yelp-sslrec yelp-seq beauty; do
    if [[ "$run" == "$folder-"* ]]; then model="${run#"$folder-"}"; break; fi
  done
  echo "== $run: configs/$folder/$model.yaml"
  contrastrec train --config "configs/$folder/$model.yaml" --output "runs/$run" --quiet \
    ${EXTRA_SET:+--set "$EXTRA_SET"} > "runs/$run.log" 2>&1 || echo "FAILED: $run"
done
mkdir -p runs/bench
python benchmarks/collect_results.py --runs runs --bench runs/bench --output docs/results.md
