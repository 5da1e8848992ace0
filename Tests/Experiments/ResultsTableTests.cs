using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class ResultsTableTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"vkdiff-results-{Guid.NewGuid():N}.csv");

    public void Dispose() => File.Delete(path);

    private static readonly RunResult[] Runs =
    [
        new("mdm", "117M", 123_532_032, 100_000_000, 500, 50_000_000_000, 3.7059609600000004e19, 3.55, 3.5499999, 499.5, 12345.678, "llvmpipe (LLVM 15.0.6, 256 bits)",
            "0123456789ab", "bytes"),
        // Awkward text: a comma, a quote, a leading space and a line break must survive.
        new("ar", "a,b", 7_000_448, 25_000_000, 0.1 + 0.2, 7_500_000, 1 / 3.0, double.Epsilon, 1e-300, 0, 0.5, " \"GPU\", quoted\nline"),
    ];

    [Fact]
    public void Write_then_read_returns_every_value_exactly()
    {
        ResultsTable.Write(path, Runs);
        Assert.Equal(Runs, ResultsTable.Read(path));
        Assert.Equal(ResultsTable.Header, File.ReadLines(path).First());
    }

    [Fact]
    public void Append_adds_rows_after_one_header()
    {
        ResultsTable.Append(path, Runs.Take(1));
        ResultsTable.Append(path, Runs.Skip(1));
        Assert.Equal(Runs, ResultsTable.Read(path));
        Assert.Single(File.ReadLines(path), line => line == ResultsTable.Header);
    }

    [Fact]
    public void A_file_from_before_the_dataset_and_vocabulary_columns_reads_with_both_empty()
    {
        var runs = ResultsTable.Parse("""
            objective,preset,params,unique_tokens,epochs,tokens,flops,final_val_loss,best_val_loss,best_epoch,wall_s,device
            ar,tiny,99136,30000,4,118784,70654623744,3.25,3.24,3.9,1.5,gpu
            """);
        Assert.Equal(new RunResult("ar", "tiny", 99136, 30000, 4, 118784, 70654623744, 3.25, 3.24, 3.9, 1.5, "gpu", "", ""), Assert.Single(runs));
    }

    [Fact]
    public void Header_is_the_documented_schema()
    {
        Assert.Equal("objective,preset,params,unique_tokens,epochs,tokens,flops,final_val_loss,best_val_loss,best_epoch,wall_s,device,dataset,vocabulary",
            ResultsTable.Header);
    }

    [Fact]
    public void Columns_may_come_in_any_order_and_bad_rows_name_their_line()
    {
        string text = "device,objective,preset,params,unique_tokens,epochs,tokens,flops,final_val_loss,best_val_loss,best_epoch,wall_s\n" +
                      "cpu,ar,7M,7000448,1000,2,2000,8.4e13,5.5,5.4,1,3.5\n";
        var run = Assert.Single(ResultsTable.Parse(text));
        Assert.Equal(new RunResult("ar", "7M", 7000448, 1000, 2, 2000, 8.4e13, 5.5, 5.4, 1, 3.5, "cpu"), run);

        var error = Assert.Throws<InvalidInputException>(() => ResultsTable.Parse(ResultsTable.Header + "\nar,7M,x,1,1,1,1,1,1,1,1,cpu,0123456789ab,bytes\n", "r.csv"));
        Assert.Contains("r.csv line 2", error.Message);
        Assert.Contains("params", error.Message);
        Assert.Throws<InvalidInputException>(() => ResultsTable.Parse("objective,preset\nar,7M\n"));
    }

    [Fact]
    public void Appending_to_a_file_with_another_header_is_refused()
    {
        File.WriteAllText(path, "something,else\n");
        Assert.Throws<InvalidInputException>(() => ResultsTable.Append(path, Runs));
    }
}
