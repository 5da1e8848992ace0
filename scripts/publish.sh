#!/usr/bin/env bash
# Release builds: a self-contained vkdiff for each platform, one executable with everything inside (the .NET runtime,
# the SPIR-V shaders, which are embedded in the Runtime assembly, and the default corpus), so a user needs only a
# Vulkan driver: no .NET, no Vulkan SDK, no glslc. Each lands in publish/RID/ and is packed as
# publish/vkdiff-VERSION-RID.zip (Windows) or .tar.gz (others).
#   usage: scripts/publish.sh [RID...]     default: linux-x64 linux-arm64 win-x64 osx-arm64
# The same build by hand: `dotnet publish Cli -c Release -r RID`; Cli/Cli.csproj sets what a runtime identifier
# implies (self-contained, single file, compressed, all content extracted at first start; docs/windows.md says why).
set -euo pipefail
cd "$(dirname "$0")/.."
rids=("$@")
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 linux-arm64 win-x64 osx-arm64)
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
mkdir -p publish
for rid in "${rids[@]}"; do
  out=publish/$rid
  rm -rf "$out"
  dotnet publish Cli -c Release -r "$rid" -nologo -v quiet -o "$out"
  archive=publish/vkdiff-$version-$rid
  rm -f "$archive.zip" "$archive.tar.gz"
  case $rid in
    win-*) (cd "$out" && python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z: [z.write(f) for f in sys.argv[2:]]' "../vkdiff-$version-$rid.zip" *)
           archive=$archive.zip ;;
    *) tar -czf "$archive.tar.gz" -C "$out" . && archive=$archive.tar.gz ;;
  esac
  echo "publish: $rid: $(du -sh "$out" | cut -f1) in $out ($(ls "$out" | tr '\n' ' ')), packed $(du -h "$archive" | cut -f1) $archive"
done
