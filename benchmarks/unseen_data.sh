#!/bin/bash
# Shipped configs on data sets they were not tuned on (the evaluation rule "shipped configs are also
# run on unseen data sets of the same kind"): every setting of the shipped config is kept, only the
# data set changes (plus, for MovieLens, a leave-one-out split for the sequential models, as their
# protocol). Settings tuned to one data set show as a changed ranking of the models.
#
#   bash benchmarks/unseen_data.sh [BUDGET_SECONDS=120] [SEQ_MODELS] [GRAPH_MODELS] [SEQ_DATA] [GRAPH_DATA]
#   defaults: "sasrec cl4srec iclrec duorec"  "lightgcn sgl simgcl xsimgcl"  "lastfm-seq ml-100k"  "lastfm ml-100k"
#
# Sequential configs come from configs/beauty, graph configs from configs/yelp-sslrec. One training at a
# time, 1 thread, into runs/unseen/<data>-<model>; then
#   python benchmarks/collect_results.py --update unseen/<data>-<model> ...
# writes the "Shipped configs on unseen data" section of docs/results.md.
set -euo pipefail
budget=${1:-120}
seq_models=${2:-"sasrec cl4srec iclrec duorec"}
graph_models=${3:-"lightgcn sgl simgcl xsimgcl"}
seq_data=${4:-"lastfm-seq ml-100k"}
graph_data=${5:-"lastfm ml-100k"}
root=${DATASETS:-../shared/datasets}
mkdir -p runs/unseen
train() {  # config data extra-set...
  local cfg=$1 data=$2; shift 2
  local out=runs/unseen/$data-$(basename "$cfg" .yaml)
  OMP_NUM_THREADS=1 python -m contrastrec train --config "$cfg" --output "$out" \
    --set dataset="$root/$data" threads=1 max_train_seconds="$budget" "$@" > "$out.log" 2>&1 \
    || echo "failed: $out (see $out.log)"
}
for data in $seq_data; do
  extra=(); [ "$data" = ml-100k ] && extra=(split=loo)
  for m in $seq_models; do train configs/beauty/$m.yaml "$data" "${extra[@]}"; done
done
for data in $graph_data; do
  for m in $graph_models; do train configs/yelp-sslrec/$m.yaml "$data"; done
done
