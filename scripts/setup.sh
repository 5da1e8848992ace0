#!/usr/bin/env bash
# Installs what VkDiffusion needs to build, test and run on Debian/Ubuntu; idempotent.
# Elsewhere it prints exactly what to install and stops.
set -euo pipefail

# wine, wine64 and xvfb: the Windows smoke test runs the win-x64 build under wine on an Xvfb display (docs/windows.md).
packages=(libvulkan1 mesa-vulkan-drivers vulkan-validationlayers glslc spirv-tools dict-gcide openmpi-bin libopenmpi-dev mpich slurm-wlm munge
  wine wine64 xvfb)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
else
  echo "setup: this is not a Debian/Ubuntu system. Install the equivalents of:" >&2
  echo "  the Vulkan loader (libvulkan), Mesa's lavapipe driver, the Khronos validation layers," >&2
  echo "  shaderc's glslc, SPIRV-Tools and the .NET 10 SDK; then run the README's commands again." >&2
  exit 3
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=sudo
    command -v sudo >/dev/null 2>&1 || { echo "setup: run as root, or install: ${missing[*]}" >&2; exit 3; }
  else
    sudo_cmd=
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET 10 SDK is missing: install the package dotnet-sdk-10.0 (Microsoft's package feed) and run again." >&2
  exit 3
fi

bash "$(dirname "$0")/setup-glslc.sh"

# PowerShell 7 (the NuGet tool; 7.6.10, as newer ones do not install here) for the test of scripts/quickstart.ps1,
# into .tools-windows/pwsh, git-ignored. Without it that test is skipped and says so.
pwsh_dir="$(cd "$(dirname "$0")/.." && pwd)/.tools-windows/pwsh"
if [ ! -x "$pwsh_dir/pwsh" ]; then
  # An interrupted install leaves a half-filled store that the next install refuses to overwrite.
  rm -rf "$pwsh_dir"
  dotnet tool install --tool-path "$pwsh_dir" PowerShell --version 7.6.10 >/dev/null \
    || echo "setup: PowerShell 7 could not be installed into $pwsh_dir: the quickstart.ps1 test is left out"
fi

# More Vulkan implementations for the conformance runs (SwiftShader, Mesa 25's lavapipe and RADV), fetched into
# .tools/drivers without touching the system; one that cannot be fetched is left out and named.
bash "$(dirname "$0")/setup-drivers.sh"
