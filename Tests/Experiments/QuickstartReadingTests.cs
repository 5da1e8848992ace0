using VkDiffusion.Model;
using VkDiffusion.Trainer.Experiments;
using VkDiffusion.Trainer.Training;

namespace VkDiffusion.Tests.Experiments;

public sealed class QuickstartReadingTests
{
    private static TrainingSummary Run(Objective objective, double best, double bestEpoch, double final) =>
        new("run", objective, 100, 1000, 1.0, final, best, bestEpoch, 1.0, "cpu", LossesReadLate: 0);

    [Fact]
    public void The_summary_says_ar_turned_up_while_mdm_kept_falling_when_the_runs_show_it()
    {
        // The H100's tiny runs at U = 30k, 64 epochs: AR best 2.430 at epoch 19, final 2.578; MDM best = final at 63.
        string reading = Quickstart.Reading(Run(Objective.Mdm, 3.034, 63, 3.034), Run(Objective.Ar, 2.430, 19, 2.578), 64);
        Assert.StartsWith("AR's validation loss turned up after epoch 19 (best 2.430, final 2.578", reading);
        Assert.Contains("while MDM's was still falling at epoch 64", reading);
        Assert.Contains("At scale the paper found", reading);
    }

    [Fact]
    public void The_summary_does_not_claim_a_turn_up_the_runs_do_not_show()
    {
        // AR 0.01 above its best is inside the margin; MDM best at epoch 40 of 64 and 0.05 above it at the end.
        string reading = Quickstart.Reading(Run(Objective.Mdm, 3.0, 40, 3.05), Run(Objective.Ar, 2.40, 60, 2.41), 64);
        Assert.StartsWith("Neither curve turned up within 64 epochs (AR best at epoch 60, MDM at 40)", reading);
    }
}
