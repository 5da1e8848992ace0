using BenchmarkDotNet.Running;

// dotnet run -c Release --project Benchmarks -- --filter '*Matmul*'   (VKDIFF_DEVICE picks the device;
// add --inProcess when choosing a job on the command line, e.g. --job Dry --inProcess)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
