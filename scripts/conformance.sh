#!/usr/bin/env bash
# The conformance set on every Vulkan implementation this machine can run, one table: docs/portability.md.
#   bash scripts/conformance.sh [--out FILE] [IMPLEMENTATION ...]
# Implementations (scripts/with-driver.sh names): lavapipe (the reference, always first), lavapipe-sg4, lavapipe-sg16,
# swiftshader, lavapipe-mesa25, and RADV's null hardware (radv-navi21, radv-navi31, radv22-gfx1100: compile only).
# On each implementation that runs kernels:
#   devices               the banner (driver version, subgroup size)
#   selftest              `selftest --isolate`: every family on the paths the device picks
#   forced paths          on lavapipe and SwiftShader (the two lineages): the matmul paths (reference, register, tiled;
#                         texel on lavapipe), attention staged in shared memory and read in place, memory-bound kernels
#                         in both layouts, and (on SwiftShader) the GPU paths with shared memory assumed at Vulkan's
#                         minimum of 16 KiB
#   train ar / train mdm  a tiny run from one seed; its final training loss must agree with lavapipe's within a
#                         relative 1e-5 (fp32 kernels that add in another order agree to ~1e-8 after 20 steps here)
#   eval, score, sample   on the MDM run's checkpoint (eval and score on the AR one too)
# On a compile-only device: `devices` lists it, `train` is refused with exit 7, and `kernels` (where vkdiff has it)
# builds every pipeline. An implementation that is not installed is reported as such and the others go on.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=docs/portability.md
requested=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) requested+=("$1"); shift ;;
  esac
done
[ ${#requested[@]} -gt 0 ] || requested=(lavapipe swiftshader lavapipe-sg4 lavapipe-mesa25 radv-navi21 radv-navi31 radv22-gfx1100 lavapipe-sg16)
# lavapipe is the reference every training run is compared with: always first.
implementations=(lavapipe)
for name in "${requested[@]}"; do [ "$name" = lavapipe ] || implementations+=("$name"); done

bash scripts/setup-drivers.sh || true
dotnet build Cli -c Release -v q -nologo >/dev/null || { echo "conformance: the build failed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The whole run uses one build, a copy, whatever is rebuilt meanwhile.
cp -r Cli/bin/Release/net10.0 "$work/vkdiff"
vkdiff=$work/vkdiff/vkdiff.dll
commit=$(git rev-parse --short HEAD)
# Mesa's and vkdiff's pipeline caches persist between runs: a cold lavapipe compiles every kernel with LLVM (minutes).
export MESA_SHADER_CACHE_DIR=$repo/.tools/conformance-cache/mesa VKDIFF_CACHE_DIR=$repo/.tools/conformance-cache/pipelines

# Every step of one implementation is a row: implementation, version, subgroup, step, result, seconds.
rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); echo "conformance: $1 | $4 | $5 | $6 s"; }

# A tiny corpus that ships with every Debian system: the GPL text, as byte tokens.
head -c 120000 /usr/share/common-licenses/GPL-3 > "$work/corpus.txt"
dotnet "$vkdiff" prepare --tokenizer bytes --input "$work/corpus.txt" --out "$work/data" --val-docs 10 >/dev/null \
  || { echo "conformance: prepare failed" >&2; exit 1; }
printf '%s\n' '{"context": "This License", "choices": [" applies", " zzzq"], "answer": 0}' > "$work/tasks.jsonl"

# run IMPLEMENTATION LOG vkdiff-arguments...: vkdiff on that implementation; exit code in $status, seconds in $seconds.
run() {
  local implementation=$1 log=$2 start
  shift 2
  start=$(date +%s.%N)
  bash scripts/with-driver.sh "$implementation" dotnet "$vkdiff" "$@" > "$log" 2>&1
  status=$?
  seconds=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
}

final_train_loss() { tail -n 1 "$1/metrics.jsonl" | sed -n 's/.*"train_loss":\([-0-9.eE+]*\).*/\1/p'; }

declare -A reference_loss
failures=0
for implementation in "${implementations[@]}"; do
  dir=$work/$implementation
  mkdir -p "$dir"
  run "$implementation" "$dir/devices.log" devices
  if [ $status -eq 69 ]; then
    row "$implementation" "-" "-" "install" "not installed: $(head -n 1 "$dir/devices.log" | sed 's/^with-driver: //')" 0
    continue
  fi
  banner=$(grep -m 1 '^\* \[' "$dir/devices.log")
  version=$(echo "$banner" | sed -n 's/.*| driver \([^|]*\) | Vulkan.*/\1/p' | sed 's/ *$//')
  subgroup=$(echo "$banner" | sed -n 's/.*| subgroup \([0-9]*\) .*/\1/p')
  [ -n "$banner" ] || { row "$implementation" "-" "-" "devices" "FAIL: no device ($(tail -n 1 "$dir/devices.log"))" "$seconds"; failures=$((failures + 1)); continue; }

  if echo "$banner" | grep -q '| memory 0 MiB'; then
    run "$implementation" "$dir/train.log" train --data "$work/data" --model tiny --objective ar --unique-tokens 5000 --epochs 1 --seq-len 64 --batch 4 --out "$dir/refused"
    if [ $status -eq 7 ]; then row "$implementation" "$version" "$subgroup" "train refused (compile only)" "pass: exit 7, $(tail -n 1 "$dir/train.log" | cut -c1-90)" "$seconds"
    else row "$implementation" "$version" "$subgroup" "train refused (compile only)" "FAIL: exit $status" "$seconds"; failures=$((failures + 1)); fi
    if dotnet "$vkdiff" kernels --help >/dev/null 2>&1; then
      run "$implementation" "$dir/kernels.log" kernels
      if [ $status -eq 0 ]; then row "$implementation" "$version" "$subgroup" "kernels" "pass: $(tail -n 1 "$dir/kernels.log" | cut -c1-90)" "$seconds"
      else row "$implementation" "$version" "$subgroup" "kernels" "FAIL: exit $status, $(tail -n 1 "$dir/kernels.log" | cut -c1-90)" "$seconds"; failures=$((failures + 1)); fi
    fi
    continue
  fi

  # step NAME LOG vkdiff-arguments...: one selftest row (pass with its case count, or FAIL with the first failure).
  selftest_step() {
    local name=$1 log=$2
    shift 2
    run "$implementation" "$log" selftest --isolate "$@"
    if [ $status -eq 0 ]; then row "$implementation" "$version" "$subgroup" "$name" "pass: $(tail -n 1 "$log" | sed 's/selftest passed: //')" "$seconds"
    else row "$implementation" "$version" "$subgroup" "$name" "FAIL: $(grep -m 1 '^FAIL' "$log" | cut -c1-160)" "$seconds"; failures=$((failures + 1)); fi
  }
  selftest_step "selftest" "$dir/selftest.log"
  # The forced paths run on the two implementations of different lineage (lavapipe, SwiftShader); the other lavapipes
  # differ from lavapipe by SIMD width or Mesa version, where the paths the device picks are the ones that change.
  if [ "$implementation" = lavapipe ] || [ "$implementation" = swiftshader ]; then
    paths=(reference register tiled)
    echo "$banner" | grep -q 'llvmpipe' && paths+=(texel)
    for path in "${paths[@]}"; do VKDIFF_MATMUL=$path selftest_step "selftest matmul=$path" "$dir/matmul-$path.log" --filter matmul --exact; done
    for staging in 1 0; do VKDIFF_ATTENTION_SHARED=$staging selftest_step "selftest attention staged=$staging" "$dir/attention-$staging.log" --filter attention --exact; done
    for style in cpu gpu; do
      VKDIFF_KERNEL_STYLE=$style selftest_step "selftest memory-bound layout=$style" "$dir/style-$style.log" --filter cross_entropy,rmsnorm,grad_norm,rope,swiglu,embedding,add,mul,scale,copy,fill,reduce_sum --exact
    done
    # A 16 KiB device, on SwiftShader: its JIT compiles the GPU-shaped attention in seconds where lavapipe's LLVM takes
    # twenty minutes.
    if [ "$implementation" = swiftshader ]; then
      VKDIFF_SHARED_MEMORY_LIMIT=16K VKDIFF_MATMUL=tiled VKDIFF_ATTENTION_SHARED=1 VKDIFF_KERNEL_STYLE=gpu \
        selftest_step "selftest shared memory 16 KiB" "$dir/shared-16k.log" --filter matmul,attention,cross_entropy,rmsnorm,grad_norm --exact
    fi
  fi

  for objective in ar mdm; do
    run "$implementation" "$dir/train-$objective.log" train --data "$work/data" --model tiny --objective $objective --unique-tokens 5000 --epochs 1 \
      --seq-len 64 --batch 4 --seed 7 --eval-every 100 --out "$dir/$objective"
    loss=$(final_train_loss "$dir/$objective")
    if [ $status -ne 0 ] || [ -z "$loss" ]; then
      row "$implementation" "$version" "$subgroup" "train $objective" "FAIL: exit $status, $(tail -n 1 "$dir/train-$objective.log" | cut -c1-120)" "$seconds"
      failures=$((failures + 1))
      continue
    fi
    [ "$implementation" = lavapipe ] && reference_loss[$objective]=$loss
    reference=${reference_loss[$objective]:-}
    if [ -z "$reference" ]; then
      row "$implementation" "$version" "$subgroup" "train $objective" "FAIL: no lavapipe reference loss" "$seconds"; failures=$((failures + 1))
    elif awk -v a="$loss" -v b="$reference" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 * (b < 0 ? -b : b)) }'; then
      row "$implementation" "$version" "$subgroup" "train $objective" "pass: final train loss $loss (lavapipe $reference)" "$seconds"
    else
      row "$implementation" "$version" "$subgroup" "train $objective" "FAIL: final train loss $loss, lavapipe $reference (bound 1e-5 relative)" "$seconds"; failures=$((failures + 1))
    fi
    checkpoint=$dir/$objective/checkpoints/last.safetensors
    run "$implementation" "$dir/eval-$objective.log" eval --run "$dir/$objective" --data "$work/data" --mc 4 --max-windows 32
    if [ $status -eq 0 ]; then row "$implementation" "$version" "$subgroup" "eval $objective" "pass: $(grep -m 1 -i 'loss\|nll\|bound' "$dir/eval-$objective.log" | cut -c1-100)" "$seconds"
    else row "$implementation" "$version" "$subgroup" "eval $objective" "FAIL: exit $status, $(tail -n 1 "$dir/eval-$objective.log" | cut -c1-120)" "$seconds"; failures=$((failures + 1)); fi
    run "$implementation" "$dir/score-$objective.log" score --checkpoint "$checkpoint" --tasks "$work/tasks.jsonl" --mc 4 --out "$dir/score-$objective.jsonl"
    if [ $status -eq 0 ]; then row "$implementation" "$version" "$subgroup" "score $objective" "pass: $(tail -n 1 "$dir/score-$objective.log" | cut -c1-100)" "$seconds"
    else row "$implementation" "$version" "$subgroup" "score $objective" "FAIL: exit $status, $(tail -n 1 "$dir/score-$objective.log" | cut -c1-120)" "$seconds"; failures=$((failures + 1)); fi
    run "$implementation" "$dir/sample-$objective.log" sample --checkpoint "$checkpoint" --length 32 --steps 8 --seed 1
    if [ $status -eq 0 ]; then row "$implementation" "$version" "$subgroup" "sample $objective" "pass" "$seconds"
    else row "$implementation" "$version" "$subgroup" "sample $objective" "FAIL: exit $status, $(tail -n 1 "$dir/sample-$objective.log" | cut -c1-120)" "$seconds"; failures=$((failures + 1)); fi
  done
done

{
  cat <<'HEAD'
# Portability: every Vulkan implementation this machine runs

Written by `bash scripts/conformance.sh` (what it runs, and the bounds, are in its header comment); the implementations
come from `scripts/setup-drivers.sh` (SwiftShader from Debian 12's chromium-common, Mesa 25 from Debian 13, fetched
without touching the system) and the system's Mesa 22.3. Machine: Debian 12, 2 cores, no GPU. Times are wall
seconds of each step on this machine, including the drivers' shader compilation. Mesa's and vkdiff's pipeline caches
persist in .tools/conformance-cache, so a step is fast where an earlier run compiled its pipelines (lavapipe and
subgroup 4 here) and slow where none had (Mesa 25 and subgroup 16: minutes of LLVM); SwiftShader compiles every
pipeline in each process.

HEAD
  echo "Run: finished $(date -u '+%Y-%m-%d %H:%M UTC'), vkdiff $commit."
  echo
  echo "| implementation | driver | subgroup | step | result | seconds |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "$failures step(s) failed."
} > "$out"
echo "conformance: wrote $out ($failures failed)"
[ $failures -eq 0 ]
