using FsCheck.Fluent;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Unit;

public sealed class FuzzSelfTests
{
    [Fact]
    public void Check_AFalseProperty_FailsNamingTheSeed()
    {
        var e = Assert.ThrowsAny<Exception>(() => Fuzz.Check(Gen.Choose(0, 1000), n => Assert.True(n < 500), runs: 200));
        Assert.Contains("LIFEBOAT_FUZZ_SEED=", e.Message);
    }

    [Fact]
    public void Check_ATrueProperty_Passes() => Fuzz.Check(Gen.Choose(0, 1000), n => Assert.True(n <= 1000));
}
