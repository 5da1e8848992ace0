using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Runtime;

namespace VkDiffusion.Tests.Model;

public sealed class SampleOrderOptionTests
{
    [Fact]
    public void An_unknown_order_is_one_line_naming_the_choices_before_any_file_is_read()
    {
        var (exitCode, _, standardError) = CliErrorTests.RunVkdiff(null, "sample", "--checkpoint", "/nonexistent.safetensors", "--order", "left-to-right");
        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Equal("vkdiff: --order must be confidence, random or remask, got left-to-right; see vkdiff sample --help", standardError.Trim());
    }
}
