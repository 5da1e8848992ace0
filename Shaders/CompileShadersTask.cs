// MSBuild inline task (loaded by Shaders.targets): compiles Shaders/*.comp and their declared
// variants to SPIR-V with glslc, incrementally, and writes the generated kernel index.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class CompileShaders : Microsoft.Build.Utilities.Task
{
    [Required] public string ShaderDirectory { get; set; } = "";
    [Required] public string OutputDirectory { get; set; } = "";
    [Required] public string IndexFile { get; set; } = "";
    [Required] public string Glslc { get; set; } = "";
    [Output] public ITaskItem[] SpirvFiles { get; set; } = Array.Empty<ITaskItem>();

    private sealed class Variant
    {
        public string Name = "";
        public string Source = "";
        public List<string> Defines = new List<string>();
        public string TargetEnvironment = "vulkan1.2";
    }

    public override bool Execute()
    {
        Directory.CreateDirectory(OutputDirectory);
        if (!ProbeCooperativeMatrix(out string version))
        {
            Log.LogError("glslc '{0}' cannot compile GL_KHR_cooperative_matrix shaders (shaderc 2023.8 or newer is needed): " +
                "run scripts/setup.sh, or build with -p:Glslc=/path/to/a/newer/glslc", Glslc);
            return false;
        }
        Log.LogMessage(MessageImportance.High, "shaders: compiling with {0} ({1})", Glslc, version);
        var variants = new List<Variant>();
        foreach (string source in Directory.GetFiles(ShaderDirectory, "*.comp").OrderBy(s => s, StringComparer.Ordinal))
            variants.AddRange(ReadVariants(source));

        var duplicates = variants.GroupBy(v => v.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        foreach (string name in duplicates) Log.LogError("shader variant name '{0}' is declared twice", name);
        if (duplicates.Count > 0) return false;

        var built = variants;
        var errors = new ConcurrentBag<string>();
        Parallel.ForEach(built, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, variant =>
        {
            string error = CompileIfStale(variant);
            if (error != null) errors.Add(error);
        });
        foreach (string error in errors.OrderBy(e => e, StringComparer.Ordinal)) Log.LogError("{0}", error);
        if (!errors.IsEmpty) return false;

        SpirvFiles = built.Select(v => (ITaskItem)new TaskItem(Path.Combine(OutputDirectory, v.Name + ".spv"))).ToArray();
        WriteIfChanged(IndexFile, GenerateIndex(built));
        return true;
    }

    private static List<Variant> ReadVariants(string source)
    {
        // A file that declares variants builds only those; otherwise it builds one kernel named after it.
        var declared = new List<Variant>();
        foreach (string line in File.ReadLines(source))
        {
            string trimmed = line.Trim();
            if (!trimmed.StartsWith("//! variant ", StringComparison.Ordinal)) continue;
            string[] words = trimmed.Substring("//! variant ".Length).Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
            var variant = new Variant { Name = words[0], Source = source };
            foreach (string word in words.Skip(1))
            {
                if (word.StartsWith("target=", StringComparison.Ordinal)) variant.TargetEnvironment = word.Substring("target=".Length);
                else variant.Defines.Add(word);
            }
            declared.Add(variant);
        }
        if (declared.Count == 0) declared.Add(new Variant { Name = Path.GetFileNameWithoutExtension(source), Source = source });
        return declared;
    }

    private string Arguments(Variant variant, string output, string depfile)
    {
        var args = new StringBuilder();
        args.Append("--target-env=").Append(variant.TargetEnvironment).Append(" -O -Werror -std=450 ");
        args.Append("-I \"").Append(ShaderDirectory.TrimEnd('/', '\\')).Append("\" ");
        foreach (string define in variant.Defines) args.Append(define).Append(' ');
        args.Append("-MD -MF \"").Append(depfile).Append("\" ");
        args.Append("-o \"").Append(output).Append("\" \"").Append(variant.Source).Append('"');
        return args.ToString();
    }

    private string CompileIfStale(Variant variant)
    {
        string output = Path.Combine(OutputDirectory, variant.Name + ".spv");
        string depfile = Path.Combine(OutputDirectory, variant.Name + ".d");
        string argsFile = Path.Combine(OutputDirectory, variant.Name + ".args");
        string arguments = Arguments(variant, output, depfile);
        // Another compiler may emit other code, so the stamp names it too.
        string stamp = Glslc + " " + arguments;
        if (!IsStale(variant, output, depfile, argsFile, stamp)) return null;

        int exitCode = RunGlslc(arguments, out string stdout, out string stderr);
        if (exitCode == -1)
            return "cannot run glslc ('" + Glslc + "'): " + stderr + ". Install it: sudo apt-get install glslc (or run scripts/setup.sh).";
        if (exitCode != 0 || stderr.Trim().Length > 0)
        {
            File.Delete(output);
            return "glslc failed on " + variant.Name + " (" + Path.GetFileName(variant.Source) + "):\n" + stderr + stdout;
        }
        File.WriteAllText(argsFile, stamp);
        return null;
    }

    private static bool IsStale(Variant variant, string output, string depfile, string argsFile, string stamp)
    {
        if (!File.Exists(output) || !File.Exists(depfile) || !File.Exists(argsFile)) return true;
        if (File.ReadAllText(argsFile) != stamp) return true;
        DateTime built = File.GetLastWriteTimeUtc(output);
        foreach (string dependency in ReadDepfile(depfile).Append(variant.Source))
            if (!File.Exists(dependency) || File.GetLastWriteTimeUtc(dependency) > built) return true;
        return false;
    }

    // glslc writes make syntax: "out.spv: dep1 dep2 \\\n dep3"; paths with spaces are escaped with '\ '.
    private static IEnumerable<string> ReadDepfile(string depfile)
    {
        string text = File.ReadAllText(depfile).Replace("\\\r\n", " ").Replace("\\\n", " ");
        int colon = text.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0) yield break;
        string list = text.Substring(colon + 2).Replace("\\ ", "\u0001");
        foreach (string path in list.Split(new[] { ' ', '\t', '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries))
            yield return path.Replace('\u0001', ' ');
    }

    // Whether this glslc compiles a minimal cooperative-matrix shader; version is its first --version line.
    private bool ProbeCooperativeMatrix(out string version)
    {
        version = "";
        string probe = Path.Combine(OutputDirectory, "coopmat_probe.comp");
        File.WriteAllText(probe,
            "#version 450\n#extension GL_KHR_cooperative_matrix : require\n#extension GL_KHR_memory_scope_semantics : require\n" +
            "layout(local_size_x = 32) in;\nvoid main() { coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> c = " +
            "coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0); }\n");
        if (RunGlslc("--version", out string versionText, out _) != 0) return false;
        version = versionText.Split('\n')[0].Trim();
        return RunGlslc("--target-env=vulkan1.3 -o \"" + probe + ".spv\" \"" + probe + "\"", out _, out _) == 0;
    }

    // glslc's exit code, or -1 (with the reason in stderr) when it cannot be started.
    private int RunGlslc(string arguments, out string stdout, out string stderr)
    {
        stdout = "";
        stderr = "";
        var start = new ProcessStartInfo(Glslc, arguments)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        try
        {
            using (Process process = Process.Start(start))
            {
                stdout = process.StandardOutput.ReadToEnd();
                stderr = process.StandardError.ReadToEnd();
                process.WaitForExit();
                return process.ExitCode;
            }
        }
        catch (Exception e)
        {
            stderr = e.Message;
            return -1;
        }
    }

    private static string GenerateIndex(List<Variant> built)
    {
        var text = new StringBuilder();
        text.AppendLine("// <auto-generated> by Shaders/CompileShadersTask.cs: the SPIR-V kernels embedded in this assembly.");
        text.AppendLine("namespace VkDiffusion.Runtime.Vulkan;");
        text.AppendLine("internal static class ShaderIndex");
        text.AppendLine("{");
        text.AppendLine("    public static readonly string[] KernelNames =");
        text.AppendLine("    [");
        foreach (Variant variant in built.OrderBy(v => v.Name, StringComparer.Ordinal))
            text.AppendLine("        \"" + variant.Name + "\",");
        text.AppendLine("    ];");
        text.AppendLine("}");
        return text.ToString();
    }

    private static void WriteIfChanged(string path, string content)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path));
        File.WriteAllText(path, content);
    }
}
