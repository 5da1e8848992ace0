#!/usr/bin/env bash
# Makes sure the build has a glslc that compiles GL_KHR_cooperative_matrix (shaderc 2023.8 or newer).
# Uses the system's glslc when it is new enough. On Debian 12, whose glslc (2023.2) is too old, it fetches
# Debian 13's glslc with a private APT configuration (the system's sources, packages and state are never
# touched), unpacks it with the C and C++ runtime libraries it needs into .tools/glslc/, and writes
# .tools/glslc/glslc, a wrapper that runs it through its own dynamic loader. Shaders/Shaders.targets uses
# that wrapper when it exists. Idempotent; prints which glslc the build will use.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/private-apt.sh
root=$PWD/.tools/glslc
wrapper=$root/glslc

# Whether the glslc named by $1 compiles a minimal cooperative-matrix shader.
compiles_coopmat() {
  local probe
  probe=$(mktemp -d)
  cat > "$probe/probe.comp" <<'GLSL'
#version 450
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
layout(local_size_x = 32) in;
void main() { coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> c = coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0); }
GLSL
  local status=0
  "$1" --target-env=vulkan1.3 -o "$probe/probe.spv" "$probe/probe.comp" >/dev/null 2>&1 || status=1
  rm -rf "$probe"
  return $status
}

if [ -x "$wrapper" ] && compiles_coopmat "$wrapper"; then
  echo "setup: glslc for cooperative-matrix shaders: $wrapper ($("$wrapper" --version | head -n 1))"
  exit 0
fi
if command -v glslc >/dev/null 2>&1 && compiles_coopmat glslc; then
  echo "setup: glslc for cooperative-matrix shaders: $(command -v glslc) ($(glslc --version | head -n 1))"
  exit 0
fi

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ "$codename" != "bookworm" ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'TXT'
setup: this system's glslc cannot compile cooperative-matrix shaders (shaderc 2023.8 or newer is needed).
  Debian 13 / Ubuntu 24.04 and newer: apt-get install glslc      Fedora: dnf install glslc
  Arch: pacman -S shaderc      Windows/macOS: the LunarG Vulkan SDK (its Bin folder on PATH)
  Or point the build at one: dotnet build -p:Glslc=/path/to/glslc
TXT
  exit 3
fi

echo "setup: Debian 12's glslc is too old for cooperative-matrix shaders; fetching Debian 13's into .tools/glslc"
rm -rf "$root"
private_apt_download trixie "$root/debs" glslc libshaderc1 libc6 libstdc++6 libgcc-s1
unpack_debs "$root/debs" "$root/root"
rm -rf "$root/debs"

libs=$root/root/usr/lib/x86_64-linux-gnu
cat > "$wrapper" <<WRAP
#!/bin/sh
# Debian 13's glslc with its own C library (it needs glibc 2.38); written by scripts/setup-glslc.sh.
exec "$libs/ld-linux-x86-64.so.2" --library-path "$libs" "$root/root/usr/bin/glslc" "\$@"
WRAP
chmod +x "$wrapper"
if ! compiles_coopmat "$wrapper"; then
  echo "setup: the fetched glslc ($wrapper) cannot compile cooperative-matrix shaders either" >&2
  exit 3
fi
echo "setup: glslc for cooperative-matrix shaders: $wrapper ($("$wrapper" --version | head -n 1))"
