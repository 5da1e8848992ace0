#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole suite on lavapipe with
# the validation layer on, and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
results=$(mktemp -d)
# Cooperative-matrix kernels run on lavapipe through a layer that emulates VK_KHR_cooperative_matrix (shared/
# beside the checkout, or VKDIFF_COOPMAT_LAYER_DIR). Without it those tests are left out, and this says so.
layer_dir=${VKDIFF_COOPMAT_LAYER_DIR:-$PWD/../shared/coopmat-layer}
filter=()
if [ -f "$layer_dir/VkLayer_FROG_cooperative_matrix.json" ]; then
  export VK_ADD_LAYER_PATH="$layer_dir${VK_ADD_LAYER_PATH:+:$VK_ADD_LAYER_PATH}"
  export VKDIFF_LAYERS=VK_LAYER_FROG_cooperative_matrix
  unset LP_NATIVE_VECTOR_WIDTH
else
  echo "test: no cooperative-matrix emulation layer at $layer_dir: the CooperativeMatrix tests are left out"
  filter=(--filter "Category!=CooperativeMatrix")
fi
# SwiftShader comes from scripts/setup-drivers.sh (run by setup.sh); the tests on it are skipped, saying why, where
# the fetch failed.
[ -f .tools/drivers/swiftshader/icd.json ] || echo "test: SwiftShader could not be fetched: its conformance tests are skipped"
# The data-parallel tests launch two ranks with Open MPI's mpirun (scripts/setup.sh installs it); without it they are left out.
if ! command -v mpirun >/dev/null; then
  echo "test: no mpirun: the Mpi tests are left out"
  filter=(--filter "${filter[1]:+${filter[1]}&}Category!=Mpi")
fi
# The Slurm test submits a job array to a private single-node Slurm started here and stopped on exit; without
# slurm-wlm and munge, or when the node is not idle within a minute, the test is skipped and this says why.
if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
  slurm_dir=$(mktemp -d)
  if bash scripts/slurm-single-node.sh start "$slurm_dir"; then
    trap 'bash scripts/slurm-single-node.sh stop "$slurm_dir"' EXIT
    export VKDIFF_TEST_SLURM_CONF=$slurm_dir/slurm.conf
  else
    echo "test: the single-node Slurm did not come up (its logs are in $slurm_dir): the Slurm test is skipped"
  fi
else
  echo "test: no slurmctld or munged (slurm-wlm, munge): the Slurm test is skipped"
fi
dotnet test VkDiffusion.sln -c Release --logger "trx;LogFileName=results.trx" --results-directory "$results" "${filter[@]}" "$@"
status=$?
trx=$(find "$results" -name '*.trx' | head -n 1)
if [ -z "$trx" ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
counters=$(grep -o '<Counters [^>]*>' "$trx")
passed=$(echo "$counters" | sed -n 's/.* passed="\([0-9]*\)".*/\1/p')
failed=$(echo "$counters" | sed -n 's/.* failed="\([0-9]*\)".*/\1/p')
echo "${passed:-0} passed, ${failed:-0} failed"
exit $status
