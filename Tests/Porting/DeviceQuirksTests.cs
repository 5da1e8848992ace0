using VkDiffusion.Runtime.Vulkan;
using VkDiffusion.Tests.Infrastructure;

namespace VkDiffusion.Tests.Porting;

public sealed class DeviceQuirksTests(GpuFixture fixture) : GpuTest(fixture)
{
    private DeviceInfo Radv(string version, string name = "AMD Radeon RX 7900 XTX (RADV NAVI31)") =>
        Context.Info with { VendorId = 0x1002, DriverId = 3, DriverVersion = version, Name = name };

    [Fact]
    public void A_quirk_matches_on_vendor_driver_version_range_and_name_together()
    {
        var quirk = new DeviceQuirk("test bug", "test", new Dictionary<string, string> { ["VKDIFF_MATMUL"] = "tiled" },
            VendorId: 0x1002, DriverId: 3, MinDriverVersion: "24.1", BelowDriverVersion: "25.0.3", DeviceNamePattern: "NAVI3[0-9]");
        Assert.True(quirk.Matches(Radv("24.1.0")));
        Assert.True(quirk.Matches(Radv("25.0.2")));
        Assert.False(quirk.Matches(Radv("25.0.3")));
        Assert.False(quirk.Matches(Radv("24.0.9")));
        Assert.False(quirk.Matches(Radv("25.0.0", name: "AMD Radeon RX 6800 (RADV NAVI21)")));
        Assert.False(quirk.Matches(Radv("25.0.0") with { DriverId = 1 }));
        Assert.False(quirk.Matches(Radv("25.0.0") with { VendorId = 0x10de }));
        // A quirk without criteria on a field accepts any value there.
        Assert.True(new DeviceQuirk("any AMD", "test", new Dictionary<string, string>(), VendorId: 0x1002).Matches(Radv("1.0")));
        Assert.Equal("VKDIFF_MATMUL=tiled", quirk.SwitchText);
    }

    [Fact]
    public void Applying_a_quirk_sets_its_switch_unless_the_user_set_it()
    {
        const string unset = "VKDIFF_TEST_QUIRK_UNSET", chosen = "VKDIFF_TEST_QUIRK_CHOSEN";
        Environment.SetEnvironmentVariable(chosen, "user");
        try
        {
            var table = new[] { new DeviceQuirk("test bug", "test", new Dictionary<string, string> { [unset] = "off", [chosen] = "off" }, VendorId: 0x1002) };
            var log = new StringWriter();
            Assert.Single(DeviceQuirks.Apply(Radv("25.0.0"), log, table));
            Assert.Equal("off", Environment.GetEnvironmentVariable(unset));
            Assert.Equal("user", Environment.GetEnvironmentVariable(chosen));
            Assert.Contains($"set {unset}=off", log.ToString());
            Assert.DoesNotContain(chosen, log.ToString());
            Assert.Empty(DeviceQuirks.Apply(Radv("25.0.0") with { VendorId = 0x8086 }, log, table));
        }
        finally
        {
            Environment.SetEnvironmentVariable(unset, null);
            Environment.SetEnvironmentVariable(chosen, null);
        }
    }

    [Fact]
    public void Every_quirk_in_the_table_names_its_source_and_only_documented_switches()
    {
        string porting = File.ReadAllText(Path.Combine(DriverRun.RepositoryRoot, "docs", "porting.md"));
        foreach (DeviceQuirk quirk in DeviceQuirks.Table)
        {
            Assert.False(string.IsNullOrWhiteSpace(quirk.Reference), quirk.Description);
            Assert.NotEmpty(quirk.Switches);
            Assert.All(quirk.Switches.Keys, variable => Assert.Contains($"`{variable}", porting));
        }
    }
}
