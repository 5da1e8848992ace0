#!/usr/bin/env bash
# Issue 23 on a lent GPU, in one call of at most 9 minutes: MDM against AR at GPT-2 BPE, preset 7M, on GCIDE
# (study/sweep-gpu-crossover-{ar,mdm,mdm-long}.json, in that priority order).
#   here:   bash scripts/study-gpu.sh bundle     the self-contained vkdiff (scripts/gpu-check.sh) and the GPT-2 data in
#                                                .device-bundle/, then every spec's `sweep --plan` (exit 7 if one overruns)
#   there:  OUT=DIR bash scripts/study-gpu.sh run    trains the specs in turn, each stopped (and saved) at the call's
#                                                deadline (DEADLINE_S, default 480 s after the start), evaluates every
#                                                finished MDM run's best checkpoint with K = 128, and writes results.csv,
#                                                the logs, each run's metrics.jsonl and `crossover --results` into OUT
# The results are in the sweep's schema, so they join study/ and docs/results.md as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
specs=(ar mdm mdm-long)
data=.device-bundle/data/gcide-gpt2

if [ "${1:-}" = bundle ]; then
  [ -x .device-bundle/vkdiff/vkdiff ] || bash scripts/gpu-check.sh
  vkdiff() { nice -n 19 dotnet Cli/bin/Release/net10.0/vkdiff.dll "$@"; }
  # The same 500 validation entries as the byte-level study; the training split is the rest of GCIDE, ~10M GPT-2 tokens.
  if [ ! -f "$data/meta.json" ]; then
    vkdiff prepare --tokenizer gpt2 --val-docs 500 --out "$data"
    # The device machine takes 64 MiB with the run (the single-file vkdiff is ~51 MB): the training split is cut after
    # the first whole documents that hold 1M tokens, 25x the largest budget (a budget takes the split's first U tokens).
    python3 - "$data" 1000000 <<'CUT'
import json, struct, sys
data, keep = sys.argv[1], int(sys.argv[2])
meta = json.load(open(f"{data}/meta.json"))
train = meta["train"]
starts = struct.unpack(f"<{train['document_count']}q", open(f"{data}/{train['document_starts_file']}", "rb").read())
documents = next(i for i, start in enumerate(starts) if start >= keep)
tokens = starts[documents]
width = {"uint16": 2, "uint32": 4}[meta["token_dtype"]]
with open(f"{data}/{train['token_file']}", "r+b") as f: f.truncate(tokens * width)
with open(f"{data}/{train['document_starts_file']}", "r+b") as f: f.truncate(documents * 8)
train["token_count"], train["document_count"] = tokens, documents
json.dump(meta, open(f"{data}/meta.json", "w"), indent=2)
print(f"{data}: training split cut to its first {documents:,} documents, {tokens:,} tokens")
CUT
  fi
  for spec in "${specs[@]}"; do vkdiff sweep --spec "study/sweep-gpu-crossover-$spec.json" --out /tmp/study-gpu-plan --plan; done
  exit 0
fi
[ "${1:-}" = run ] || { echo "usage: scripts/study-gpu.sh bundle|run" >&2; exit 2; }

start=$SECONDS
deadline=${DEADLINE_S:-480}
OUT=${OUT:-$PWD/study-gpu-output}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.device-bundle/vkdiff${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="${DOTNET_BUNDLE_EXTRACT_BASE_DIR:-$OUT/.bundle-extract}"
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# Containers often carry the NVIDIA driver without registering its ICD where the loader looks (as in gpu-check.sh).
if [ -z "${VK_DRIVER_FILES:-}" ] && ! compgen -G "/usr/share/vulkan/icd.d/*.json" > /dev/null && [ -e "$nvidia_icd" ]; then
  export VK_DRIVER_FILES="$nvidia_icd"
fi
vkdiff=.device-bundle/vkdiff/vkdiff
"$vkdiff" devices > "$OUT/devices.txt" 2>&1

for spec in "${specs[@]}"; do
  left=$((deadline - (SECONDS - start)))
  [ "$left" -gt 20 ] || { echo "no time left for $spec" | tee -a "$OUT/study.log"; break; }
  # SIGINT stops a run after its current step and saves it (exit 9): a later call resumes it with the same command.
  timeout --signal=INT "$left" "$vkdiff" sweep --spec "study/sweep-gpu-crossover-$spec.json" --out "$OUT/sweep-$spec" \
    > "$OUT/sweep-$spec.log" 2>&1 || echo "sweep $spec stopped with exit $? after $((SECONDS - start)) s" | tee -a "$OUT/study.log"
done
for run in "$OUT"/sweep-*/runs/*/; do
  id=$(basename "$run")
  cp "$run/metrics.jsonl" "$OUT/$id.metrics.jsonl" 2>/dev/null || true
  if [[ $id == mdm-* && -f $run/result.json && $((SECONDS - start)) -lt $((deadline + 30)) ]]; then
    "$vkdiff" eval --run "$run" --data "$data" --mc 128 --max-windows 64 --seed 1234 --out "$OUT/$id.eval-final.json" >> "$OUT/study.log" 2>&1
  fi
done
awk 'FNR == 1 && NR != 1 { next } 1' "$OUT"/sweep-*/results.csv > "$OUT/results.csv" 2>/dev/null || true
"$vkdiff" crossover --results "$OUT/results.csv" --curves "$OUT" --observed-plot "$OUT/crossover-observed.png" \
  --observed-law-plot "$OUT/crossover-observed-law.png" > "$OUT/observed.txt" 2>&1 || true
echo "done in $((SECONDS - start)) s" | tee -a "$OUT/study.log"
