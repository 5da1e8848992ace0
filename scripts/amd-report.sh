#!/usr/bin/env bash
# Compiles every pipeline vkdiff uses with AMD's own shader compiler (ACO, through RADV's null hardware: no GPU needed)
# for each AMD family this machine's drivers know, and writes docs/amd.md: per family and kernel, registers, spills,
# scratch, LDS and occupancy, and whether the porting targets are met (docs/amd.md says which).
#   bash scripts/amd-report.sh [IMPLEMENTATION...]     (default: every family below; output: docs/amd.md)
# IMPLEMENTATION as scripts/with-driver.sh takes it: radv22-FAMILY (the system's Mesa 22.3) or radv-FAMILY (Mesa 25 from
# scripts/setup-drivers.sh). The default list is what ../shared/MORE-DRIVERS.md verified on this machine. A family a driver
# does not know, or a driver that is not installed, is reported and left out. Deterministic: the same drivers and
# kernels give the same file (no dates, no timings, every list sorted).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
vkdiff=$repo/Cli/bin/Release/net10.0/vkdiff.dll
out=$repo/docs/amd.md
default_families=(
  radv22-vega10 radv22-navi10 radv22-navi21 radv22-navi22 radv22-navi23 radv22-navi24 radv22-gfx1100 radv22-gfx1101
  radv22-gfx1103_r1 radv22-rembrandt radv22-vangogh radv-navi21 radv-navi31 radv-gfx1201
)
if [ $# -gt 0 ]; then families=("$@"); else families=("${default_families[@]}"); fi

[ -f "$vkdiff" ] || dotnet build "$repo/Cli" -c Release -v q || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
notes=$work/notes.txt
: > "$notes"
for family in "${families[@]}"; do
  echo "amd-report: $family ..." >&2
  bash scripts/with-driver.sh "$family" dotnet "$vkdiff" kernels --json > "$work/$family.json" 2> "$work/$family.err"
  code=$?
  if [ $code -eq 69 ]; then
    echo "$family: not installed (scripts/setup-drivers.sh fetches Mesa 25); left out" | tee -a "$notes" >&2
    rm -f "$work/$family.json"
  elif grep -q "Unknown family" "$work/$family.err"; then
    echo "$family: the driver does not know this family (radv: Unknown family); left out" | tee -a "$notes" >&2
    rm -f "$work/$family.json"
  elif [ $code -ne 0 ] && [ $code -ne 8 ]; then
    echo "$family: vkdiff kernels exited $code ($(grep -v '^ac_compute_device_uuid' "$work/$family.err" | tail -1)); left out" | tee -a "$notes" >&2
    rm -f "$work/$family.json"
  fi
done
python3 scripts/lib/amd_markdown.py "$work" "$notes" "${families[@]}" > "$out.tmp" && mv "$out.tmp" "$out" || exit 1
echo "amd-report: wrote $out" >&2
