#!/usr/bin/env bash
# Fetches the Vulkan implementations that the conformance runs use besides the system's lavapipe, into
# .tools/drivers/, without touching the system (packages are downloaded with a private APT configuration and
# unpacked with dpkg -x; nothing is installed or registered):
#   swiftshader/  Google's SwiftShader from Debian 12's chromium-common (subgroup 4, no 16-bit storage)
#   mesa25/       Debian 13's Mesa 25 (lavapipe on LLVM 19, and RADV for its null-hardware mode) with the C
#                 library it needs, and dotnet/: the dotnet host re-pointed at that C library's loader, since
#                 the drivers need glibc 2.41 and so the whole process must run under Debian 13's loader
# Each gets an ICD manifest with an absolute library path. scripts/with-driver.sh runs a command on one of
# them. An implementation that cannot be fetched is reported and left out (exit 0): the callers say so too.
# Idempotent: what is already there is kept.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/private-apt.sh
root=$PWD/.tools/drivers
mkdir -p "$root"

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if ! command -v apt-get >/dev/null 2>&1 || [ "$codename" != "bookworm" ]; then
  echo "setup-drivers: these fetches are written for Debian 12 (this is '${codename:-unknown}'): SwiftShader and Mesa 25 are left out"
  exit 0
fi

write_manifest() { # LIBRARY MANIFEST API_VERSION
  printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "%s"}}\n' "$1" "$3" > "$2"
}

fetch_swiftshader() {
  local dir=$root/swiftshader
  [ -f "$dir/icd.json" ] && [ -f "$dir/libvk_swiftshader.so" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir/debs"
  private_apt_download bookworm "$dir/debs" chromium-common || return 1
  unpack_debs "$dir/debs" "$dir/root" || return 1
  mv "$dir/root/usr/lib/chromium/libvk_swiftshader.so" "$dir/" || return 1
  rm -rf "$dir/debs" "$dir/root"
  write_manifest "$dir/libvk_swiftshader.so" "$dir/icd.json" 1.3.0
}

mesa25_packages=(mesa-vulkan-drivers libc6 libdrm-amdgpu1 libdrm2 libelf1t64 libexpat1 libgcc-s1 libllvm19 libstdc++6
  libwayland-client0 libx11-xcb1 libx11-6 libxcb-dri3-0 libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0
  libxcb1 libxshmfence1 libzstd1 zlib1g libxau6 libxdmcp6 libffi8 libedit2 libxml2 libtinfo6 libbsd0 libmd0 libicu76 liblzma5
  libz3-4)

fetch_mesa25() {
  local dir=$root/mesa25 libs
  [ -f "$dir/lvp_icd.json" ] && [ -f "$dir/radeon_icd.json" ] && [ -x "$dir/dotnet/dotnet" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir/debs"
  private_apt_download trixie "$dir/debs" "${mesa25_packages[@]}" || return 1
  # patchelf is Debian 12's own; it only rewrites the interpreter of a copy of the dotnet host.
  private_apt_download bookworm "$dir/debs" patchelf || return 1
  unpack_debs "$dir/debs" "$dir/root" || return 1
  rm -rf "$dir/debs"
  libs=$dir/root/usr/lib/x86_64-linux-gnu
  write_manifest "$libs/libvulkan_lvp.so" "$dir/lvp_icd.json" 1.4.0
  write_manifest "$libs/libvulkan_radeon.so" "$dir/radeon_icd.json" 1.4.0
  local dotnet_host dotnet_root entry
  dotnet_host=$(readlink -f "$(command -v dotnet)") || return 1
  dotnet_root=$(dirname "$dotnet_host")
  mkdir -p "$dir/dotnet"
  # dotnet refuses to start as "ld-linux.so dotnet", so the host is a copy whose interpreter is Debian 13's loader,
  # beside links to everything else of the real dotnet root (a renamed host would not find its runtimes).
  for entry in "$dotnet_root"/*; do
    [ "$(basename "$entry")" = dotnet ] || ln -s "$entry" "$dir/dotnet/"
  done
  cp "$dotnet_host" "$dir/dotnet/dotnet"
  "$dir/root/usr/bin/patchelf" --set-interpreter "$libs/ld-linux-x86-64.so.2" "$dir/dotnet/dotnet" || return 1
}

if fetch_swiftshader; then
  echo "setup-drivers: SwiftShader: $root/swiftshader/icd.json"
else
  rm -rf "$root/swiftshader"
  echo "setup-drivers: SwiftShader could not be fetched (Debian 12's chromium-common): it is left out"
fi
if fetch_mesa25; then
  echo "setup-drivers: Mesa 25 (lavapipe, RADV null hardware): $root/mesa25"
else
  rm -rf "$root/mesa25"
  echo "setup-drivers: Mesa 25 could not be fetched (Debian 13's mesa-vulkan-drivers): it is left out"
fi
exit 0
