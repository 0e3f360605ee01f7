using FsCheck;
using FsCheck.Fluent;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// Property-based and fuzz tests (FsCheck): a fixed seed in CI so a run is repeatable, a random one when
/// <c>LIFEBOAT_FUZZ_SEED=random</c> (or a given number) asks for it; <c>LIFEBOAT_FUZZ_RUNS</c> raises the number of
/// cases. A failure names the seed, so <c>LIFEBOAT_FUZZ_SEED=N</c> replays it.
/// </summary>
public static class Fuzz
{
    /// <summary>The seed of this run: the variable's number, a random one for "random", else <paramref name="fixedSeed"/>.</summary>
    public static ulong Seed(ulong fixedSeed)
    {
        var v = Environment.GetEnvironmentVariable("LIFEBOAT_FUZZ_SEED");
        if (string.IsNullOrEmpty(v)) return fixedSeed;
        if (v == "random") return (ulong)System.Random.Shared.NextInt64(1, long.MaxValue);
        return ulong.Parse(v, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>How many cases a property runs: <paramref name="runs"/>, or LIFEBOAT_FUZZ_RUNS when set.</summary>
    public static int Runs(int runs) =>
        int.TryParse(Environment.GetEnvironmentVariable("LIFEBOAT_FUZZ_RUNS"), out var n) && n > 0 ? n : runs;

    /// <summary>Checks <paramref name="property"/> for every generated value; throws (failing the test) with the
    /// smallest counter-example FsCheck found and the seed that replays it.</summary>
    public static void Check<T>(Gen<T> gen, Action<T> property, int runs = 200, ulong fixedSeed = 20261203)
    {
        var seed = Seed(fixedSeed);
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(Runs(runs))
            .WithQuietOnSuccess(true)
            .WithReplay(new Replay(new Rnd(seed), null));
        var arb = Arb.From(gen);
        try
        {
            Prop.ForAll(arb, property).Check(config);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"property failed (LIFEBOAT_FUZZ_SEED={seed} replays it):\n{e.Message}");
        }
    }
}
