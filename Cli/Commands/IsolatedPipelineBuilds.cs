using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Cli.Commands;

/// <summary>
/// Builds pipelines in a child vkdiff (`kernels --build-stdin`), one JSON line per pipeline as it finishes, so that a
/// driver that aborts the process while compiling one (SwiftShader's "LLVM ERROR: Local variable exceeds stack size
/// limit") or never returns costs that pipeline, reported with the driver's last words, and a fresh child builds the rest.
/// </summary>
internal static class IsolatedPipelineBuilds
{
    /// <summary>How long one pipeline may take to build before its child is ended (generous: ACO or LLVM on a big kernel takes seconds).</summary>
    private static readonly TimeSpan BuildDeadline = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Resident memory a child may reach before it is ended: building every pipeline takes well under 1 GiB on lavapipe and
    /// RADV, while SwiftShader grew to many GiB on one kernel until the kernel's OOM killer ended it (it may end something else first).
    /// </summary>
    private const long MemoryCapBytes = 4L << 30;

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>What a child writes for one pipeline.</summary>
    private sealed record BuildLine(string? Error, uint? RequiredSubgroupSize, IReadOnlyList<PipelineExecutable> Executables);

    public static IReadOnlyList<PipelineBuild> Build(string? device, IReadOnlyList<Kernel> kernels)
    {
        var builds = new List<PipelineBuild>();
        while (builds.Count < kernels.Count)
        {
            IReadOnlyList<Kernel> remaining = [.. kernels.Skip(builds.Count)];
            builds.AddRange(RunChild(device, remaining));
        }
        return builds;
    }

    // Builds as many of the kernels as one child gets through; when it dies or hangs, the kernel it was on is reported as failed.
    private static List<PipelineBuild> RunChild(string? device, IReadOnlyList<Kernel> kernels)
    {
        string[] arguments = device is null ? ["kernels", "--build-stdin"] : ["kernels", "--build-stdin", "--device", device];
        using Process child = Process.Start(VkdiffProcess.StartInfo(arguments))!;
        Task<string> errors = child.StandardError.ReadToEndAsync();
        foreach (Kernel kernel in kernels) child.StandardInput.WriteLine(Encode(kernel));
        child.StandardInput.Close();

        var builds = new List<PipelineBuild>();
        foreach (Kernel kernel in kernels)
        {
            Task<string?> next = child.StandardOutput.ReadLineAsync();
            var clock = Stopwatch.StartNew();
            while (!next.Wait(PollInterval))
            {
                if (child.HasExited) continue;
                string? excess = clock.Elapsed > BuildDeadline ? $"did not finish building it within {BuildDeadline.TotalMinutes:0} minutes"
                    : VkdiffProcess.ResidentBytes(child) > MemoryCapBytes ? $"took more than {MemoryCapBytes >> 30} GiB of memory building it"
                    : null;
                if (excess is null) continue;
                VkdiffProcess.End(child);
                builds.Add(Failed(kernel, $"the driver {excess}, so vkdiff ended it"));
                return builds;
            }
            if (next.Result is not string line)
            {
                child.WaitForExit();
                string lastWords = errors.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no message";
                builds.Add(Failed(kernel, $"the driver ended the process building it (exit code {child.ExitCode}): {lastWords}"));
                return builds;
            }
            BuildLine built = JsonSerializer.Deserialize<BuildLine>(line)!;
            builds.Add(new PipelineBuild(kernel, built.Error, built.RequiredSubgroupSize, built.Executables));
        }
        child.WaitForExit();
        return builds;
    }

    private static PipelineBuild Failed(Kernel kernel, string error) => new(kernel, error, null, []);

    /// <summary>The child's side: builds each kernel named on standard input and writes its line as soon as it is built.</summary>
    public static int Serve(string? device, TextReader input, TextWriter output)
    {
        using GpuContext context = GpuContext.CreateCompileOnly(device);
        while (input.ReadLine() is string line)
        {
            var (name, specialization) = Decode(line);
            PipelineBuild build = context.Kernels.Build(context.Kernels.Get(name, specialization));
            output.WriteLine(JsonSerializer.Serialize(new BuildLine(build.Error, build.RequiredSubgroupSize, build.Executables)));
            output.Flush();
        }
        return ExitCodes.Success;
    }

    // "name c0 c1 ...": the kernel's name and its specialization constants.
    private static string Encode(Kernel kernel) => string.Join(' ', [kernel.Name, .. kernel.Specialization.Select(c => c.ToString(CultureInfo.InvariantCulture))]);

    private static (string Name, uint[] Specialization) Decode(string line)
    {
        string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (words[0], [.. words.Skip(1).Select(word => uint.Parse(word, CultureInfo.InvariantCulture))]);
    }
}
