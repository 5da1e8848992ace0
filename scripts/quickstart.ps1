# The README's main job on Windows (scripts/quickstart.sh is the Linux one): builds vkdiff from this checkout and runs
# the quickstart, a short data-constrained MDM vs AR run on the default corpus, on the best Vulkan device.
#   powershell -ExecutionPolicy Bypass -File scripts\quickstart.ps1 [QUICKSTART OPTIONS]
#   powershell -ExecutionPolicy Bypass -File scripts\quickstart.ps1 -Vkdiff C:\vkdiff\vkdiff.exe [QUICKSTART OPTIONS]
# With -Vkdiff (a release build, docs/windows.md) nothing is built. Building needs the .NET 10 SDK and glslc, which the
# LunarG Vulkan SDK installs (its Bin folder, found through VULKAN_SDK). Runs with Windows PowerShell 5.1 and PowerShell 7.
# A plain param block, not [Parameter(...)]: that would make this an advanced script, whose common parameters
# (-OutVariable, -OutBuffer) would claim --out; here every other argument goes to $args, and on to vkdiff.
param([string] $Vkdiff)
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')

if (-not $Vkdiff) {
    if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
        Write-Host 'quickstart: the .NET 10 SDK is missing: install it (winget install Microsoft.DotNet.SDK.10), or pass -Vkdiff with a release build of vkdiff.'
        exit 3
    }
    # The Vulkan SDK's installer sets VULKAN_SDK but puts Bin on PATH only for new sessions.
    if (-not (Get-Command glslc -ErrorAction SilentlyContinue) -and $env:VULKAN_SDK) {
        $env:PATH = (Join-Path $env:VULKAN_SDK 'Bin') + [IO.Path]::PathSeparator + $env:PATH
    }
    if (-not (Get-Command glslc -ErrorAction SilentlyContinue) -and -not (Test-Path '.tools/glslc/glslc')) {
        Write-Host 'quickstart: glslc (the shader compiler) is missing: install the LunarG Vulkan SDK (https://vulkan.lunarg.com), or pass -Vkdiff with a release build of vkdiff.'
        exit 3
    }
    dotnet build Cli -c Release -v quiet -nologo
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    & dotnet (Join-Path 'Cli' (Join-Path 'bin' (Join-Path 'Release' (Join-Path 'net10.0' 'vkdiff.dll')))) quickstart @args
} else {
    & $Vkdiff quickstart @args
}
exit $LASTEXITCODE
