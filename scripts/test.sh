#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole suite on lavapipe with
# the validation layer on, and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
results=$(mktemp -d)
dotnet test VkDiffusion.sln -c Release --logger "trx;LogFileName=results.trx" --results-directory "$results" "$@"
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
