using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Lifeboat.Core.Traffic;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Recovery;

/// <summary>Restores a resource for a <c>restore:</c> step (bucket/table restore through the existing restore code;
/// implemented by the CLI's composition root, which knows the providers). Returns a one-line summary.</summary>
public interface IRestoreRunner
{
    Task<string> RestoreAsync(RestoreStepSpec spec, CancellationToken ct);
}

/// <summary>What the recovery engine needs from the outside: clock, state, HTTP, traffic stores, probes.</summary>
public sealed class RecoveryContext
{
    public required LifeboatConfig Config { get; init; }
    public required TimeProvider Time { get; init; }
    public required ExecutionStore Executions { get; init; }
    public required StateStore State { get; init; }
    public required HttpClient Http { get; init; }
    public required Func<string, IDnsRecordStore> TrafficStore { get; init; }
    public required ProbeFactory Probes { get; init; }
    public IRestoreRunner? Restore { get; init; }
    public ILogger Log { get; init; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Human-readable progress lines (the failover command prints them); null = none.</summary>
    public TextWriter? Progress { get; init; }

    /// <summary>How often waits on another process (approvals, replication confirmations) look at the state store.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromMilliseconds(250);

    public long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    public string ConfigDir => Path.GetDirectoryName(Path.GetFullPath(Config.File)) ?? ".";
}

/// <summary>A notification's body as it always was: compact, field names as given (string and number values).</summary>
[JsonSerializable(typeof(Dictionary<string, object?>), TypeInfoPropertyName = "Fields")]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(bool))]
internal sealed partial class NotifyJson : JsonSerializerContext;

/// <summary>Webhook notifications: POST of JSON with a Slack-compatible <c>text</c> field plus structured fields.</summary>
public static class Notifier
{
    public static async Task SendAsync(HttpClient http, NotifySpec spec, string text, IReadOnlyDictionary<string, object?> fields, CancellationToken ct)
    {
        var body = new Dictionary<string, object?>(fields) { ["text"] = spec.Text is null ? text : $"{spec.Text}: {text}" };
        using var resp = await http.PostAsync(spec.Url, JsonContent.Create(body, NotifyJson.Default.Fields), ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
            throw new HttpRequestException($"notify {Redact.Url(spec.Url.OriginalString)}: status {(int)resp.StatusCode} {resp.ReasonPhrase}");
    }
}
