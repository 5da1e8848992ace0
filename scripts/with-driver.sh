#!/usr/bin/env bash
# Runs a command with one Vulkan implementation selected (its ICD alone, through VK_DRIVER_FILES):
#   bash scripts/with-driver.sh IMPLEMENTATION COMMAND...
# IMPLEMENTATION: lavapipe (the system's), lavapipe-sg4 / lavapipe-sg16 (the system's at LP_NATIVE_VECTOR_WIDTH
# 128 / 512), swiftshader, lavapipe-mesa25, radv-FAMILY (Mesa 25's RADV on null hardware, e.g. radv-navi21,
# radv-navi31: compile only), radv22-FAMILY (the system's RADV, e.g. radv22-gfx1100). The last three need
# scripts/setup-drivers.sh. Under Mesa 25 a leading `dotnet` is replaced by .tools/drivers/mesa25/dotnet/dotnet,
# the host that runs under Debian 13's loader. Exit 69 when the implementation is not there.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
drivers=$repo/.tools/drivers
implementation=${1:?usage: with-driver.sh IMPLEMENTATION COMMAND...}
shift
system_icd=/usr/share/vulkan/icd.d
unset LP_NATIVE_VECTOR_WIDTH RADV_FORCE_FAMILY
mesa25=false
case "$implementation" in
  lavapipe) icd=$system_icd/lvp_icd.x86_64.json ;;
  lavapipe-sg4) icd=$system_icd/lvp_icd.x86_64.json; export LP_NATIVE_VECTOR_WIDTH=128 ;;
  lavapipe-sg16) icd=$system_icd/lvp_icd.x86_64.json; export LP_NATIVE_VECTOR_WIDTH=512 ;;
  swiftshader) icd=$drivers/swiftshader/icd.json ;;
  lavapipe-mesa25) icd=$drivers/mesa25/lvp_icd.json; mesa25=true ;;
  radv-*) icd=$drivers/mesa25/radeon_icd.json; mesa25=true; export RADV_FORCE_FAMILY=${implementation#radv-} ;;
  radv22-*) icd=$system_icd/radeon_icd.x86_64.json; export RADV_FORCE_FAMILY=${implementation#radv22-} ;;
  *) echo "with-driver: unknown implementation '$implementation'" >&2; exit 2 ;;
esac
if [ ! -f "$icd" ]; then
  echo "with-driver: $implementation is not installed ($icd is missing; run scripts/setup-drivers.sh)" >&2
  exit 69
fi
export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
if $mesa25; then
  export LD_LIBRARY_PATH=$drivers/mesa25/root/usr/lib/x86_64-linux-gnu
  if [ "${1:-}" = dotnet ]; then
    shift
    export DOTNET_ROOT=$drivers/mesa25/dotnet
    exec "$drivers/mesa25/dotnet/dotnet" "$@"
  fi
fi
exec "$@"
