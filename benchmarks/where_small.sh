#!/usr/bin/env bash
# Issue 24 §6, the small data sets: each base and contrastive model with the shipped settings of its
# kind (configs/beauty for sequential, configs/yelp-sslrec for graph models: these data sets have no
# tuned configs yet), 3 seeds on one split (`--seeds 3`), the same training budget per seed (BUDGET,
# default 60 s), one thread; then the paired per-user evidence file of each data set. lastfm-seq trains
# one sequence per user (train_prefixes=false: with prefixes an epoch of its long sequences takes ~25 s,
# so a minute would hold two epochs).
#   bash benchmarks/where_small.sh OUT        # then: python benchmarks/collect_results.py --update
set -euo pipefail
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DATASETS:-$root/../shared/datasets}
budget=${BUDGET:-60}
arm() {  # arm DATASET KIND MODEL [KEY=VALUE ...]
  local run=$out/$1-$3 extra="${*:4}"
  [ -e "$run/seeds.json" ] && grep -q '"summary"' "$run/seeds.json" && return 0
  if [ -e "$run/seeds.json" ]; then
    python -m contrastrec train --resume "$run" --quiet
  else
    python -m contrastrec train --config "$root/configs/$2/$3.yaml" --dataset "$data/$1" --output "$run" --seeds 3 \
      --quiet --set threads=1 max_train_seconds=$budget epochs=1000 $extra
  fi
}
for m in sasrec cl4srec iclrec; do arm lastfm-seq beauty $m train_prefixes=false; done
python "$root/benchmarks/where_cl_helps.py" --dataset lastfm-seq --base "$out/lastfm-seq-sasrec" \
  --contrastive "$out/lastfm-seq-cl4srec" "$out/lastfm-seq-iclrec" --out "$root/docs/runs/where/lastfm-seq.json"
for m in lightgcn sgl xsimgcl; do arm lastfm yelp-sslrec $m; done
python "$root/benchmarks/where_cl_helps.py" --dataset lastfm --base "$out/lastfm-lightgcn" \
  --contrastive "$out/lastfm-sgl" "$out/lastfm-xsimgcl" --out "$root/docs/runs/where/lastfm.json"
