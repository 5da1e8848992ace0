using System.Text.Json;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>Scaling-law constants held at given values instead of fitted (null = fit it).</summary>
public sealed record FixedConstants(
    double? A = null, double? B = null, double? E0 = null, double? Alpha = null, double? Beta = null,
    double? RDStar = null, double? RNStar = null)
{
    public static readonly FixedConstants None = new();

    /// <summary>The names as the JSON file and fit.json spell them, in the order of <see cref="ScalingLaw"/>.</summary>
    public static readonly string[] Names = ["A", "B", "E0", "alpha", "beta", "RDstar", "RNstar"];

    public IReadOnlyList<string> FixedNames =>
        Names.Where((_, i) => Values[i] is not null).ToList();

    internal double?[] Values => [A, B, E0, Alpha, Beta, RDStar, RNStar];

    /// <summary>The law with our fixed values in place of its own.</summary>
    public ScalingLaw Apply(ScalingLaw law) => new(A ?? law.A, B ?? law.B, E0 ?? law.E0, Alpha ?? law.Alpha, Beta ?? law.Beta,
        RDStar ?? law.RDStar, RNStar ?? law.RNStar);

    /// <summary>Values from <paramref name="overrides"/> where it fixes them, else ours.</summary>
    public FixedConstants With(FixedConstants overrides) => new(
        overrides.A ?? A, overrides.B ?? B, overrides.E0 ?? E0, overrides.Alpha ?? Alpha, overrides.Beta ?? Beta,
        overrides.RDStar ?? RDStar, overrides.RNStar ?? RNStar);

    /// <summary>
    /// Reads a constants file: a JSON object with any of A, B, E0, alpha, beta, RDstar, RNstar (applied to every
    /// objective), and optionally objects keyed by objective name ("ar", "mdm") whose values override those.
    /// Returns the constants to fix for each objective name ("" = the ones for every objective).
    /// </summary>
    public static IReadOnlyDictionary<string, FixedConstants> Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"Constants file '{path}' does not exist.");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            return Parse(document.RootElement, path);
        }
        catch (JsonException error)
        {
            throw new InvalidInputException($"{path}: not valid JSON ({error.Message}).", error);
        }
    }

    public static IReadOnlyDictionary<string, FixedConstants> Parse(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidInputException($"{source}: expected a JSON object.");
        var common = ParseFlat(root, source, allowObjects: true);
        var result = new Dictionary<string, FixedConstants>(StringComparer.OrdinalIgnoreCase) { [""] = common };
        foreach (var property in root.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
            result[property.Name] = common.With(ParseFlat(property.Value, $"{source} ({property.Name})", allowObjects: false));
        return result;
    }

    /// <summary>The constants to fix for one objective: its own section over the common ones.</summary>
    public static FixedConstants For(IReadOnlyDictionary<string, FixedConstants> file, string objective) =>
        file.TryGetValue(objective, out var specific) ? specific : file.TryGetValue("", out var common) ? common : None;

    private static FixedConstants ParseFlat(JsonElement element, string source, bool allowObjects)
    {
        var values = new double?[Names.Length];
        foreach (var property in element.EnumerateObject())
        {
            if (allowObjects && property.Value.ValueKind == JsonValueKind.Object) continue;
            int index = Array.FindIndex(Names, name => string.Equals(name, property.Name, StringComparison.OrdinalIgnoreCase));
            if (index < 0)
                throw new InvalidInputException(
                    $"{source}: unknown key '{property.Name}'; use any of {string.Join(", ", Names)} or an object per objective (\"ar\", \"mdm\").");
            if (property.Value.ValueKind != JsonValueKind.Number || !double.IsFinite(property.Value.GetDouble()))
                throw new InvalidInputException($"{source}: '{property.Name}' must be a finite number.");
            double value = property.Value.GetDouble();
            if (value <= 0) throw new InvalidInputException($"{source}: '{property.Name}' must be positive, got {value}.");
            values[index] = value;
        }
        return new FixedConstants(values[0], values[1], values[2], values[3], values[4], values[5], values[6]);
    }
}
