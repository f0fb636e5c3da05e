#!/usr/bin/env bash
# Issue 23 §6: do the named random streams (rng.py) move results by more than seed-to-seed noise?
# Beauty CL4SRec and yelp-sslrec SimGCL, shipped configs at a fixed number of epochs (so that the
# result does not depend on machine load: 5 and 12 epochs, the epochs their 600 s ablation arms ran),
# one thread, seeds 2024 and 2025, with the old seeding (OLD, a worktree of f6cdf6c) and the new (NEW).
#   bash benchmarks/stream_noise.sh OLD_TREE NEW_TREE OUT
#   python benchmarks/stream_noise.py OUT --write docs/runs/stream_noise
set -euo pipefail
old=$1 new=$2 out=$3
data=${DATASETS:-$(cd "$(dirname "$0")/../.." && pwd)/shared/datasets}
for tree in "$old:old" "$new:new"; do
  src=${tree%%:*} tag=${tree##*:}
  for seed in 2024 2025; do
    for arm in "beauty cl4srec 5" "yelp-sslrec simgcl 12"; do
      set -- $arm
      run=$out/$1-$2-$tag-s$seed
      [ -e "$run/results.json" ] && continue
      (cd "$src" && PYTHONPATH="$src/src" python -m contrastrec train --config "configs/$1/$2.yaml" \
        --dataset "$data/$1" --output "$run" --quiet \
        --set epochs=$3 seed=$seed threads=1 max_train_seconds=0 patience=100)
    done
  done
done
# the old runs predate per-user files: evaluate their checkpoints with --per-user (same metrics), then
# pair users: old seed 2025 against old seed 2024 (seed noise), new 2024 against old 2024 (the change)
for arm in beauty-cl4srec yelp-sslrec-simgcl; do
  for seed in 2024 2025; do
    [ -e "$out/eval-$arm-old-s$seed/per_user_test.parquet" ] || \
      python -m contrastrec evaluate --run "$out/$arm-old-s$seed" --per-user "$out/eval-$arm-old-s$seed" > /dev/null
  done
  python -m contrastrec compare "$out/eval-$arm-old-s2024" "$out/eval-$arm-old-s2025" "$out/$arm-new-s2024" \
    --metrics ndcg@20 recall@20 > "$out/cmp-$arm.md"
done
