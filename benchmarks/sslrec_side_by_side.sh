#!/bin/bash
# The reference implementation HKUDS/SSLRec itself, on CPU, on the yelp split we ship as yelp-sslrec,
# for per-epoch validation curves beside ours (issue 15, point 1). SSLRec is never copied into this
# repository: pass a work tree of it that lives elsewhere; this script copies it into OUT/sslrec and
# runs that copy.
#
#   bash benchmarks/sslrec_side_by_side.sh SSLREC_TREE OUT_DIR
#   env: LIGHTGCN_TIMEOUT (s, default 1500), SGL_TIMEOUT (s, default 1500), MODELS ("lightgcn sgl"),
#        DATASETS (../shared/datasets), SSLREC_COMMIT (default: git -C SSLREC_TREE rev-parse HEAD),
#        SGL_TEMPERATURE (unset: sgl.yml's 0.2 as shipped; 0.5 = the setting of the published SGL row and of
#        our configs/yelp-sslrec/sgl_ref.yaml), OURS_RUN (our LightGCN run, default runs/yelp-sslrec-lightgcn_ref)
#
# Getting a work tree (what was done for docs/runs/reference/, commit 7597c31): the repository's
# dataset pickles are not all in the mirror, so `git archive` fails; extract every file outside datasets/:
#   G=<its git dir>; mkdir -p /tmp/sslrec-run/src && cd /tmp/sslrec-run/src
#   git --git-dir=$G ls-tree -r HEAD | while read mode type sha path; do case $path in datasets/*) continue;; esac
#     mkdir -p "$(dirname "$path")"; git --git-dir=$G cat-file blob $sha > "$path"; done
#
# What is changed in the copy (nothing in SSLRec's Python code):
#   * datasets/general_cf/sparse_yelp/{train,valid,test}_mat.pkl are written from DATASETS/yelp-sslrec
#     by benchmarks/sslrec_data.py (coo_matrix, float64, ones, shape [42712, 26822]). Checked against the
#     pickles in SSLRec's repository at 7597c31: after its loader (!= 0, float32, coo) row, col and data
#     arrays are identical.
#   * config/modelconf/sgl.yml: `test_step: 3` -> `test_step: 1` (a validation after every epoch;
#     with it, patience 5 counts 5 epochs instead of 15); with SGL_TEMPERATURE also `temperature: 0.2` ->
#     that value. lightgcn.yml is used as shipped. The diff is written to OUT_DIR/sslrec_edits.diff.
#   * The device is SSLRec's own command-line option (--device cpu); --dataset yelp selects the data.
#   * SSLRec is launched through `python -c` that first calls torch.set_num_threads(1) and
#     set_num_interop_threads(1), then runs main.py (runpy); OMP/MKL threads 1, nice 5, TQDM_DISABLE=1
#     (tqdm's own environment switch: no progress bars).
# Each run is cut by `timeout` (then there is no test line). The console output is time-stamped per line
# (sslrec_data.py stamp) and parsed into OUT_DIR/<model>/curve.json.
set -euo pipefail
tree=${1:?SSLRec work tree}
out=${2:?output folder}
here=$(cd "$(dirname "$0")" && pwd)
data=${DATASETS:-$here/../../shared/datasets}
models=${MODELS:-"lightgcn sgl"}
commit=${SSLREC_COMMIT:-$(git -C "$tree" rev-parse HEAD 2>/dev/null || echo unknown)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/sslrec
rm -rf "$work"
mkdir -p "$work"
(cd "$tree" && tar --exclude=./datasets --exclude=./log --exclude=./checkpoint -cf - .) | tar -xf - -C "$work"

python "$here/sslrec_data.py" convert "$data/yelp-sslrec" "$work/datasets/general_cf/sparse_yelp"

sed -i 's/^\(  test_step:\) 3\b/\1 1/' "$work/config/modelconf/sgl.yml"
grep -q '^  test_step: 1' "$work/config/modelconf/sgl.yml"
if [ -n "${SGL_TEMPERATURE:-}" ]; then
  sed -i "s/^\(  temperature:\) 0.2\b/\1 $SGL_TEMPERATURE/" "$work/config/modelconf/sgl.yml"
  grep -q "^  temperature: $SGL_TEMPERATURE\$" "$work/config/modelconf/sgl.yml"
fi
(cd "$tree" && diff -u config/modelconf/sgl.yml "$work/config/modelconf/sgl.yml") > "$out/sslrec_edits.diff" || true

launch='import sys, runpy, torch; torch.set_num_threads(1); torch.set_num_interop_threads(1); sys.argv = ["main.py"] + sys.argv[1:]; runpy.run_path("main.py", run_name="__main__")'
for m in $models; do
  case $m in lightgcn) limit=${LIGHTGCN_TIMEOUT:-1500};; sgl) limit=${SGL_TIMEOUT:-1500};; *) limit=1500;; esac
  mkdir -p "$out/$m"
  args=(--model "$m" --dataset yelp --device cpu)
  echo "$(date -u +%FT%TZ) $m: python main.py ${args[*]} (timeout ${limit}s)"
  set +e
  (cd "$work" && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TQDM_DISABLE=1 \
    timeout "$limit" nice -n 5 python -u -c "$launch" "${args[@]}" 2> "$out/$m/stderr.log") \
    | python -u "$here/sslrec_data.py" stamp > "$out/$m/console.log"
  rc=${PIPESTATUS[0]}
  set -e
  echo "$(date -u +%FT%TZ) $m: exit $rc (124 = stopped by the timeout)"
  notes="exit status $rc (124: stopped by timeout ${limit}s); $(nproc) CPUs, 1 thread, torch $(python -c 'import torch; print(torch.__version__)')"
  python "$here/sslrec_data.py" curve "$out/$m/console.log" "$out/$m/curve.json" --commit "$commit" \
    --command "cd <SSLRec copy> && python main.py ${args[*]}  (OMP_NUM_THREADS=1, torch.set_num_threads(1), timeout ${limit}s)" \
    --config "$work/config/modelconf/$m.yml" --notes "$notes"
done

# Our LightGCN run's best checkpoint on the test set under both exclusions (ours: train + valid;
# SSLRec's: train only), so that the test rows compare under one protocol.
ours_run=${OURS_RUN:-$here/../runs/yelp-sslrec-lightgcn_ref}
if [[ " $models " == *" lightgcn "* ]] && [ -f "$ours_run/best.pt" ]; then
  (cd "$here/.." && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 5 python "$here/sslrec_data.py" ours-test \
    "$ours_run" --out "$out/ours-lightgcn_ref-test.json")
fi
