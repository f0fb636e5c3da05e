#!/usr/bin/env bash
# The SSL-loss and training-schema ablation of docs/results.md, one training at a time.
# Usage: bash benchmarks/ablation.sh [VARIANT ...]   (default: all)
#   beauty-cl4srec-<loss>     configs/beauty/cl4srec.yaml with ssl.loss=<loss>   (debiased, supcon, hard_negative)
#   beauty-cl4srec-<schema>   configs/beauty/cl4srec.yaml with schema=<schema>   (pretrain_finetune, integrated)
#   yelp-sslrec-simgcl-<loss> configs/yelp-sslrec/simgcl.yaml with ssl.loss=<loss> (infonce, debiased, supcon, hard_negative)
#   yelp-sslrec-simgcl-<schema> configs/yelp-sslrec/simgcl.yaml with schema=<schema> (pretrain_finetune, integrated)
# Every variant gets the same budget (BUDGET seconds, default 600) and threads=1; runs go to runs/ablation/<variant>.
# The InfoNCE / joint row of CL4SRec is the main run runs/beauty-cl4srec (compare at equal epochs).
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET="${BUDGET:-600}"
ALL=(beauty-cl4srec-debiased beauty-cl4srec-supcon beauty-cl4srec-hard_negative beauty-cl4srec-pretrain_finetune
     beauty-cl4srec-integrated yelp-sslrec-simgcl-infonce yelp-sslrec-simgcl-debiased yelp-sslrec-simgcl-supcon
     yelp-sslrec-simgcl-hard_negative yelp-sslrec-simgcl-pretrain_finetune yelp-sslrec-simgcl-integrated)
[ $# -gt 0 ] && RUNS=("$@") || RUNS=("${ALL[@]}")
mkdir -p runs/ablation
for run in "${RUNS[@]}"; do
  case "$run" in
    beauty-cl4srec-pretrain_finetune) cfg=configs/beauty/cl4srec.yaml; set_="schema=pretrain_finetune pretrain_epochs=5" ;;
    beauty-cl4srec-integrated) cfg=configs/beauty/cl4srec.yaml; set_="schema=integrated" ;;
    beauty-cl4srec-*) cfg=configs/beauty/cl4srec.yaml; set_="ssl.loss=${run#beauty-cl4srec-}" ;;
    yelp-sslrec-simgcl-pretrain_finetune) cfg=configs/yelp-sslrec/simgcl.yaml; set_="schema=pretrain_finetune pretrain_epochs=3" ;;
    yelp-sslrec-simgcl-integrated) cfg=configs/yelp-sslrec/simgcl.yaml; set_="schema=integrated" ;;
    yelp-sslrec-simgcl-*) cfg=configs/yelp-sslrec/simgcl.yaml; set_="ssl.loss=${run#yelp-sslrec-simgcl-} ssl.warmup_epochs=3" ;;
    *) echo "unknown variant $run" >&2; exit 2 ;;
  esac
  echo "== $run: $cfg --set $set_"
  contrastrec train --config "$cfg" --output "runs/ablation/$run" --quiet \
    --set "$set_ max_train_seconds=$BUDGET threads=1" > "runs/ablation/$run.log" 2>&1 || echo "FAILED: $run"
done
