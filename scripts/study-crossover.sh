#!/usr/bin/env bash
# Issue 23 on a CPU (lavapipe): AR and MDM tiny at U = 1k, 3k and 10k byte tokens of GCIDE, MDM tiny at 30k, then AR and MDM
# mini at 30k, then AR and MDM tiny at 30k with batch 64
# (docs/results.md).
#   bash scripts/study-crossover.sh            trains every run in turn, each under `nice -n 19` (idle cycles only)
#   bash scripts/study-crossover.sh evaluate   evaluates each finished MDM run's best checkpoint again with
#                                              K = FINAL_MC (default 128) samples of t, with the bound's standard error
#   bash scripts/study-crossover.sh report     joins the results (with the earlier lavapipe pair at U = 30k) into
#                                              study/crossover/results.csv, `crossover --results` into observed.txt,
#                                              and draws docs/figures/crossover-observed{,-law}.png
# Resumable: run it again and the sweeps skip finished runs and resume the interrupted one. Training runs vkdiff from
# a copy of the build (runs-study/bin), so rebuilding the tree meanwhile cannot replace the assemblies under it.
# Raw metrics, results and logs are copied into study/crossover/ after each stage.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs-study
data="$out/data/gcide"
stages=(ar ar-10k mdm mdm-10k mdm-30k ar-mini-30k mdm-mini-30k ar-b64-30k mdm-b64-30k)
mkdir -p "$out" study/crossover
# Files of the batch-64 stages carry -B64 after the run id: their runs have the same ids as the batch-16 ones.
suffix() { case "$1" in *-b64-30k*) echo -B64 ;; esac; }

if [ "${1:-}" = evaluate ]; then
  for run in "$out"/sweep-*/runs/mdm-*/; do
    id=$(basename "$run")$(suffix "$run")
    [ -f "$run/result.json" ] || continue
    [ -f "$run/eval-final.json" ] || nice -n 19 dotnet Cli/bin/Release/net10.0/vkdiff.dll eval --run "$run" --data "$data" \
      --mc "${FINAL_MC:-128}" --max-windows 64 --seed 1234 --out "$run/eval-final.json"
    cp "$run/eval-final.json" "study/crossover/$id.eval-final.json"
  done
  exit 0
fi

if [ "${1:-}" = report ]; then
  # The earlier lavapipe pair at U = 30k (same data, recipe and device; MDM at K = 16) is the closest gap seen so far.
  cp study/lavapipe/ar-tiny-U30000-E32.metrics.jsonl study/lavapipe/mdm-tiny-U30000-E512.metrics.jsonl study/crossover/
  # The batch-64 pair is another recipe with the same run ids: it stays out of the joint table (docs/results.md has it apart).
  { head -n 1 study/crossover/results-ar.csv
    for stage in "${stages[@]}"; do
      [ -z "$(suffix "$stage")" ] || continue
      tail -q -n +2 "study/crossover/results-$stage.csv" 2>/dev/null || true
    done
    grep -E '^(ar|mdm),tiny,[0-9]+,30000,' study/lavapipe/results.csv; } > study/crossover/results.csv
  nice -n 19 dotnet Cli/bin/Release/net10.0/vkdiff.dll crossover --results study/crossover/results.csv --curves study/crossover \
    --observed-plot docs/figures/crossover-observed.png --observed-law-plot docs/figures/crossover-observed-law.png | tee study/crossover/observed.txt
  exit 0
fi

vkdiff() { nice -n 19 dotnet "$out/bin/vkdiff.dll" "$@"; }
[ -f "$out/bin/vkdiff.dll" ] || cp -r Cli/bin/Release/net10.0 "$out/bin"
# The same tokenization as the earlier lavapipe study (docs/results.md), so its dataset fingerprint and rows match.
[ -f "$data/meta.json" ] || vkdiff prepare --tokenizer bytes --val-docs 500 --out "$data"
for stage in "${stages[@]}"; do
  sweep="$out/sweep-$stage"
  status=0
  vkdiff sweep --spec "study/sweep-crossover-$stage.json" --out "$sweep" >> "$out/sweep-$stage.log" 2>&1 || status=$?
  for run in "$sweep"/runs/*/; do
    [ -f "$run/metrics.jsonl" ] && cp "$run/metrics.jsonl" "study/crossover/$(basename "$run")$(suffix "$stage").metrics.jsonl"
  done
  [ -f "$sweep/results.csv" ] && cp "$sweep/results.csv" "study/crossover/results-$stage.csv"
  cp "$out/sweep-$stage.log" study/crossover/
  [ "$status" = 0 ] || exit "$status"
done
