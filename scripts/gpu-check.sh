#!/usr/bin/env bash
# Builds .device-bundle/: a self-contained linux-x64 vkdiff (no .NET needed on the target) with the
# Vulkan loader beside it, and run.sh, which on the target machine prints the devices (with their
# cooperative-matrix shapes), runs the self-test (every matmul and attention path the device has: its own,
# split-K, cooperative matrices; matmuls with fp32, fp16 and bf16 operands), runs `vkdiff bench kernels --json`
# (matmul_coopmat, matmul_f16 and matmul_bf16 cases, the coopmat ones against the measured matrix-unit peak beside
# the fp32 ones; attention fused fp32, fused cooperative-matrix and unfused at T 256 and 2048) and again with split-K
# off for the before/after of the LM-head shapes, `vkdiff bench step` for the 7M and 44M presets (seq 256, batch 8,
# MDM and AR, byte and GPT-2 vocabularies; host time and the part hidden behind the GPU) in --precision fp32, fp16 (on
# cooperative matrices where the device lists a shape) and bf16 (16-bit loads on the shared-tile path), fp16 once more
# with VKDIFF_ATTENTION=coopmat (attention's products on fp16 too) for MDM with bytes, once more as JSON with the step
# cut into submissions of at most 8 ms, 7M MDM fp32 once more with submit-ahead off (VKDIFF_SUBMIT_AHEAD=0),
# and, where PyTorch with CUDA is installed, the same training step in PyTorch (tools/torch_bench/step_bench.py,
# eager fp32 and bf16 autocast) for the tokens/s ratios, writing everything to $OUT/ (default:
# ./device-check-output). .device-bundle/ is git-ignored; carry it to the machine.
#   usage: scripts/gpu-check.sh          then, on the target:  OUT=/some/dir .device-bundle/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.device-bundle
rm -rf "$bundle"
mkdir -p "$bundle"
# One compressed single-file executable keeps the bundle small enough to copy around (~35 MB).
dotnet publish Cli -c Release -r linux-x64 --self-contained -nologo -v q \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true \
  -o "$bundle/vkdiff"
loader=/usr/lib/x86_64-linux-gnu/libvulkan.so.1
rm -f "$bundle"/vkdiff/*.pdb
if [ -e "$loader" ]; then cp -L "$loader" "$bundle/vkdiff/libvulkan.so.1"; else echo "warning: $loader not found; the target must have a Vulkan loader" >&2; fi

cp tools/torch_bench/step_bench.py "$bundle/step_bench.py"

cat > "$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the device check with the bundled vkdiff; results go to $OUT/.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$PWD/device-check-output}"
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$here/vkdiff${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VKDIFF_CACHE_DIR="${VKDIFF_CACHE_DIR:-$OUT/cache}"
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="${DOTNET_BUNDLE_EXTRACT_BASE_DIR:-$OUT/.bundle-extract}"
vkdiff="$here/vkdiff/vkdiff"
# Containers often carry the NVIDIA driver without registering its ICD where the loader looks.
have_icd=0
for dir in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  if compgen -G "$dir/*.json" > /dev/null; then have_icd=1; fi
done
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ "$have_icd" = 0 ] && [ -e "$nvidia_icd" ]; then
  export VK_DRIVER_FILES="$nvidia_icd"
fi
status=0
{ echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; uname -a; nvidia-smi -L 2>/dev/null || true; } > "$OUT/environment.txt"
"$vkdiff" devices > "$OUT/devices.txt" 2>&1 || status=$?
if [ "$status" != 0 ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -e "$nvidia_icd" ]; then
  export VK_DRIVER_FILES="$nvidia_icd"
  echo "retrying with VK_DRIVER_FILES=$nvidia_icd" >> "$OUT/environment.txt"
  status=0
  "$vkdiff" devices > "$OUT/devices.txt" 2>&1 || status=$?
fi
cat "$OUT/devices.txt"
if "$vkdiff" --help 2>&1 | grep -q '^ *selftest'; then
  "$vkdiff" selftest > "$OUT/selftest.txt" 2>&1 || status=$?
  tail -n 20 "$OUT/selftest.txt"
fi
timeout 240 "$vkdiff" bench kernels --json ${BENCH_ARGS:-} > "$OUT/bench-kernels.json" 2> "$OUT/bench-kernels.stderr.txt" || status=$?
head -c 2000 "$OUT/bench-kernels.json"; echo
cat "$OUT/bench-kernels.stderr.txt"
VKDIFF_SPLIT_K=off timeout 120 "$vkdiff" bench kernels --json --filter lm_head > "$OUT/bench-kernels-split-off.json" 2>&1 || status=$?
have_torch=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && have_torch=1
for preset in 7M 44M; do
  for vocab in bytes gpt2; do
    for objective in mdm ar; do
      for precision in fp32 fp16 bf16; do
        name="step-$preset-$objective-$vocab-$precision"
        timeout 60 "$vkdiff" bench step --model "$preset" --objective "$objective" --vocab "$vocab" --seq 256 --batch 8 --steps 20 \
          --precision "$precision" > "$OUT/$name.txt" 2>&1 || status=$?
        tail -n 18 "$OUT/$name.txt"
      done
      if [ "$vocab" = bytes ] && [ "$objective" = mdm ]; then
        name="step-$preset-$objective-$vocab-fp16-coopmat-attention"
        VKDIFF_ATTENTION=coopmat timeout 60 "$vkdiff" bench step --model "$preset" --objective "$objective" --vocab "$vocab" --seq 256 --batch 8 \
          --steps 20 --precision fp16 > "$OUT/$name.txt" 2>&1 || status=$?
        tail -n 18 "$OUT/$name.txt"
      fi
      if [ "$have_torch" = 1 ]; then
        for precision in fp32 bf16; do
          timeout 60 python3 "$here/step_bench.py" --preset "$preset" --objective "$objective" --vocab "$vocab" --seq 256 --batch 8 --steps 20 \
            --precision "$precision" > "$OUT/torch-step-$preset-$objective-$vocab-$precision.json" 2>&1 || status=$?
          cat "$OUT/torch-step-$preset-$objective-$vocab-$precision.json"
        done
      fi
    done
  done
done
# Bounded submissions on a real GPU: the GPT-2-vocabulary step cut into submissions of at most 8 ms.
timeout 60 "$vkdiff" bench step --model 7M --objective mdm --vocab gpt2 --seq 256 --batch 8 --steps 20 --max-submit-ms 8 --json \
  > "$OUT/step-7M-mdm-gpt2-bounded.json" 2> "$OUT/step-7M-mdm-gpt2-bounded.stderr.txt" || status=$?
head -c 1500 "$OUT/step-7M-mdm-gpt2-bounded.json"; echo
cat "$OUT/step-7M-mdm-gpt2-bounded.stderr.txt"
# Submit-ahead off, beside the default runs above (on): the host share and the part hidden with and without it.
for vocab in bytes gpt2; do
  name="step-7M-mdm-$vocab-fp32-submit-ahead-off"
  VKDIFF_SUBMIT_AHEAD=0 timeout 60 "$vkdiff" bench step --model 7M --objective mdm --vocab "$vocab" --seq 256 --batch 8 --steps 20 \
    > "$OUT/$name.txt" 2>&1 || status=$?
  cat "$OUT/$name.txt"
done
echo "device check finished with status $status; results in $OUT"
exit $status
RUN
chmod +x "$bundle/run.sh"
du -sh "$bundle"
