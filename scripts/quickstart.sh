#!/usr/bin/env bash
# The README's main job: installs what is missing, builds vkdiff, and runs the quickstart
# (a short data-constrained MDM vs AR study on the built-in default corpus) on the best device.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet build Cli -c Release -v quiet -nologo
exec dotnet Cli/bin/Release/net10.0/vkdiff.dll quickstart "$@"
