using System.Diagnostics;
using System.Text.Json;
using Lifeboat.Core.Config;
using Lifeboat.Cost.Input;
using Lifeboat.Cost.Model;
using Lifeboat.Cost.Output;

namespace Lifeboat.Cli.Commands;

/// <summary>
/// <c>lifeboat cost -c FILE</c>: the monthly DR-related cost of each resource, native option versus Lifeboat, every
/// line item shown, from the resource's <c>workload:</c> block or from what the state store measured.
/// <c>lifeboat cost --scenario FILE|seed</c>: a sweep across writes a month, as a table (Markdown) and the break-even
/// points on standard output; with <c>--out DIR</c> also written as files there, with a chart (SVG, and PNG when
/// rsvg-convert is installed). A read verb: without --out it writes no file.
/// </summary>
public static class CostCommand
{

    public static int Run(string? config, string? scenario, bool json, string? outDir, TextWriter stdout, TextWriter stderr, TimeProvider time)
    {
        if ((config is null) == (scenario is null))
            throw new UserErrorException("cost: give exactly one of -c/--config FILE or --scenario FILE (or a built-in scenario: " + string.Join(", ", Scenario.BuiltIns) + ")");
        if (config is not null && outDir is not null)
            throw new UserErrorException("cost: --out is for --scenario (where the chart and table files go)");
        return config is not null ? RunConfig(config, json, stdout, time) : RunScenario(scenario!, json, outDir, stdout, stderr);
    }

    public static IReadOnlyList<ResourceEstimate> Estimate(CostConfig cfg, DateTimeOffset now)
    {
        var list = new List<ResourceEstimate>();
        foreach (var r in cfg.Resources)
        {
            var where = $"{r.Map.File}:{r.Map.Node.Start.Line}";
            var measured = StateMeasurements.Read(cfg.StatePath, r.Name, now, cfg.Prices.HoursPerMonth);
            var (w, figures, missing) = r.Workload.Resolve(measured);
            if (w is null)
            {
                if (r.Workload.Map is not null) r.Workload.Require(measured, null, r.Map, "workload"); // throws, naming the block
                var reason = measured is null
                    ? $"no workload: block, and no measurements in the state store {cfg.StatePath}"
                    : $"no workload: block, and the measurements ({measured.Note}) do not give {missing}";
                list.Add(new ResourceEstimate(r.Name, r.Type, r.Kind, where, figures, [], reason));
                continue;
            }
            list.Add(new ResourceEstimate(r.Name, r.Type, r.Kind, where, figures, Formulas.Options(r.Kind, w, r.Workload.Options, cfg.Prices), null));
        }
        return list;
    }

    private static int RunConfig(string file, bool json, TextWriter stdout, TimeProvider time)
    {
        var cfg = CostConfig.Load(file);
        if (cfg.Resources.Count == 0) throw new UserErrorException($"{file}: the config lists no resources to estimate");
        var estimates = Estimate(cfg, time.GetUtcNow());
        if (estimates.All(e => e.Skipped is not null))
            throw new UserErrorException($"{file}: no resource could be estimated: add a workload: block to each (see docs/cost.md), or replicate first so the state store has measurements");
        stdout.Write(json ? JsonSerializer.Serialize(Reports.Json(cfg, estimates), CliJson.Default.ConfigJson) + Environment.NewLine : Reports.Text(cfg, estimates));
        return Cli.Ok;
    }

    private static int RunScenario(string arg, bool json, string? outDir, TextWriter stdout, TextWriter stderr)
    {
        var s = Scenario.Load(arg);
        var result = s.Run();
        var figures = s.At(s.From).Figures;
        if (outDir is null)
        {
            // Nothing asked for files: the table (or the data) on standard output only, without a chart to link to.
            stdout.Write(json ? JsonSerializer.Serialize(Reports.Json(s, result, figures, []), CliJson.Default.ScenarioJson) + Environment.NewLine
                              : Reports.Markdown(s, result, figures, null));
            return Cli.Ok;
        }
        try { Directory.CreateDirectory(outDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"--out {outDir}: cannot create the folder: {e.Message}");
        }
        var svgName = $"cost-{s.Name}.svg";
        var svg = Path.Combine(outDir, svgName);
        var md = Path.Combine(outDir, $"cost-{s.Name}.md");
        var png = Path.Combine(outDir, $"cost-{s.Name}.png");
        var markdown = Reports.Markdown(s, result, figures, svgName);
        Write(svg, SvgChart.Render(s.Title, s.Prices.Currency, result));
        Write(md, markdown);
        var files = new List<string> { md, svg };
        var pngNote = ConvertToPng(svg, png);
        if (pngNote is null) files.Add(png);
        stdout.Write(json ? JsonSerializer.Serialize(Reports.Json(s, result, figures, files), CliJson.Default.ScenarioJson) + Environment.NewLine : markdown);
        foreach (var f in files) stderr.WriteLine($"lifeboat: wrote {f}");
        if (pngNote is not null) stderr.WriteLine($"lifeboat: PNG skipped: {pngNote}");
        return Cli.Ok;
    }

    private static void Write(string path, string text)
    {
        try { File.WriteAllText(path, text); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{path}: cannot write: {e.Message}");
        }
    }

    /// <summary>Converts the SVG with rsvg-convert (Debian: librsvg2-bin) when it is on PATH. Returns why it was
    /// skipped, or null when the PNG was written.</summary>
    public static string? ConvertToPng(string svg, string png)
    {
        var tool = FindOnPath("rsvg-convert");
        if (tool is null) return "rsvg-convert is not installed (Debian package librsvg2-bin)";
        var psi = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "--format", "png", "--output", png, svg }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new UserErrorException($"cannot start {tool}");
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000))
        {
            p.Kill();
            return "rsvg-convert did not finish within 60 s";
        }
        return p.ExitCode == 0 ? null : $"rsvg-convert failed (exit {p.ExitCode}): {err.Result.Trim()}";
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
