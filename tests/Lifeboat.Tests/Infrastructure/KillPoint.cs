using System.Text;
using Xunit;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// kill -9 of the CLI at an observed point of progress. The caller makes sure the run cannot end by itself before
/// the kill, whatever the CLI's speed: a <see cref="FileGate"/> on a source file, a <see cref="GatedProxy"/> holding
/// the traffic to the server after a budget, or continuous mode (which never ends by itself). So a kill never
/// depends on the CLI being slower than a timer, and a test fails loudly when its point is never reached or when
/// the run ends anyway.
/// </summary>
public static class KillPoint
{
    /// <summary>Starts the CLI, waits until <paramref name="reached"/> holds (at most <paramref name="timeout"/>, 2 min by
    /// default), then a random extra moment of up to <paramref name="maxExtraMs"/>, and kills it with SIGKILL.</summary>
    public static async Task RunAndKillAsync(string cwd, IDictionary<string, string?>? env, Func<bool> reached, string what, Random rng,
        int maxExtraMs, string[] args, TimeSpan? timeout = null)
    {
        var output = new StringBuilder();
        using var p = LifeboatCli.Start(cwd, env, output, args);
        try
        {
            await Eventually.TrueAsync(() => reached() || p.HasExited, timeout ?? TimeSpan.FromMinutes(2), () => $"{what}; output:\n{Text(output)}");
            Assert.False(p.HasExited, $"the run ended before the kill point ({what}); output:\n{Text(output)}");
            // A random moment after the point, to vary what is in flight; the run cannot end meanwhile.
            Assert.False(p.WaitForExit(rng.Next(0, maxExtraMs)), $"the run ended before the kill although it cannot finish ({what}); output:\n{Text(output)}");
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: false); // SIGKILL
            await p.WaitForExitAsync();
        }
    }

    private static string Text(StringBuilder output) { lock (output) return output.ToString(); }
}
