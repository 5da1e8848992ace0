using System.Globalization;
using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Trainer.Experiments;

/// <summary>What results.csv must hold before `vkdiff fit` reads anything out of it; each failure is one actionable line.</summary>
public static class FitInput
{
    /// <summary>Distinct model sizes and unique-token budgets per objective below which the joint fit is not identified.</summary>
    public const int JointMinSizes = 3, JointMinBudgets = 2;

    /// <summary>Refuses runs of two datasets or vocabularies (a file from before those columns cannot say) and repeated runs.</summary>
    public static void Check(IReadOnlyList<RunResult> runs, string source)
    {
        foreach (var (column, value) in new (string, Func<RunResult, string>)[] { ("dataset", run => run.Dataset), ("vocabulary", run => run.Vocabulary) })
        {
            var distinct = runs.Select(value).Where(v => v.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            if (distinct.Count > 1)
                throw new InvalidInputException(
                    $"{source} mixes runs of {distinct.Count} {column} values ({string.Join(", ", distinct)}); fit one {column} at a time (split the file by its {column} column).");
        }
        var repeated = runs.GroupBy(RunKey, StringComparer.OrdinalIgnoreCase).FirstOrDefault(group => group.Count() > 1);
        if (repeated is not null)
            throw new InvalidInputException(
                $"{source} has run {repeated.Key} {repeated.Count()} times; keep one row per run (objective, preset, parameters, unique tokens, epochs).");
    }

    /// <summary>Null when the joint fit is identified on these points, else what is missing.</summary>
    public static string? JointFitShortfall(string objective, IReadOnlyList<FitPoint> points)
    {
        int sizes = points.Select(p => p.Params).Distinct().Count(), budgets = points.Select(p => p.UniqueTokens).Distinct().Count();
        if (sizes >= JointMinSizes && budgets >= JointMinBudgets && points.Any(p => !p.IsSingleEpoch)) return null;
        return $"{objective}: the joint fit needs at least {JointMinSizes} model sizes, {JointMinBudgets} unique-token budgets and a multi-epoch run; " +
               $"the results have {sizes} size(s), {budgets} budget(s) and {points.Count(p => !p.IsSingleEpoch)} multi-epoch run(s)";
    }

    private static string RunKey(RunResult run) => string.Create(CultureInfo.InvariantCulture,
        $"{run.Objective}-{run.Preset}-N{run.Params}-U{run.UniqueTokens}-E{run.Epochs}");
}
