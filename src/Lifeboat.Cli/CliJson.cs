using Lifeboat.Core.Status;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lifeboat.Cli.Commands;
using Lifeboat.Cost.Output;
using Lifeboat.Providers.Postgres;
using Lifeboat.Recovery;

namespace Lifeboat.Cli;

// The CLI's JSON output, source-generated: the release package is compiled ahead of time and serialises nothing by
// reflection (ADR 0008). Records instead of anonymous types; property names come out as before (snake_case).

/// <summary>`verify --json`: one entry per resource.</summary>
public sealed record VerifyJson(string Resource, string Type, string Source, string Target, bool Ok, long Checked, long Equal,
    IReadOnlyList<DifferenceJson> Differences, IReadOnlyList<string> HeldByDeletePolicy, IReadOnlyList<SkippedJson> Skipped,
    string? Repair = null);

public sealed record DifferenceJson(string Key, string Kind, string Detail);

/// <summary>An entry a folder store's listing passed over (a link, a FIFO...): <c>side</c> is source or target.</summary>
public sealed record SkippedJson(string Side, string Path, string What);

/// <summary>`executions --json`: one entry per execution.</summary>
public sealed record ExecutionSummaryJson(long Id, string Runbook, string Kind, string Status, string Trigger, DateTimeOffset CreatedAt, double? RtoSeconds);

/// <summary>`serve`: GET /api/status.</summary>
public sealed record ServeStatusJson(IReadOnlyList<CheckStatusJson> Checks, IReadOnlyList<ModeJson> Replication, IReadOnlyList<ExecutionRow> ActiveExecutions);

/// <summary>A check in GET /api/status: <see cref="LastResult"/> is pass, fail or unknown (no evidence either way; then
/// <see cref="LastOk"/> is null too), null before the first probe.</summary>
public sealed record CheckStatusJson(string Name, string Probe, bool Failing, bool? LastOk, string? Last, DateTimeOffset? LastAt, string Threshold,
    string? LastResult = null);

/// <summary>`verify` of an rds resource: the newest copy Lifeboat made, the copies in the target region, problems.</summary>
public sealed record RdsVerifyJson(string Resource, string Type, bool Ok, string? LastSnapshot, IReadOnlyList<RdsCopyJson> Copies, IReadOnlyList<string> Problems);

public sealed record RdsCopyJson(string Id, string Status);

/// <summary>A resource's replication mode in the serve API, with its kind (bucket, table, postgres, rds).</summary>
public sealed record ModeJson(string Resource, string Mode)
{
    public string? Type { get; init; }
}

/// <summary>`serve`: answers of the state-changing API calls.</summary>
public sealed record ApprovedJson(long Execution, IReadOnlyList<string> Approved);

public sealed record CreatedJson(long Execution);

public sealed record EventAcceptedJson(IReadOnlyList<string> Matched, bool Recorded);

/// <summary>Indented snake_case: every `--json` output and the API's answers.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(List<VerifyJson>))]
[JsonSerializable(typeof(List<WindowJson>))]
[JsonSerializable(typeof(List<ExecutionSummaryJson>))]
[JsonSerializable(typeof(ExecutionReport))]
[JsonSerializable(typeof(IReadOnlyList<ExecutionRow>))]
[JsonSerializable(typeof(List<ResourceStatus>))]
[JsonSerializable(typeof(List<object>))] // status with postgres resources: ResourceStatus and PgStatus rows
[JsonSerializable(typeof(ResourceStatus))]
[JsonSerializable(typeof(PgStatus))]
[JsonSerializable(typeof(PgVerifyJson))]
[JsonSerializable(typeof(RdsVerifyJson))]
[JsonSerializable(typeof(ConfigJson))]
[JsonSerializable(typeof(ScenarioJson))]
[JsonSerializable(typeof(ServeStatusJson))]
[JsonSerializable(typeof(ApprovedJson))]
[JsonSerializable(typeof(CreatedJson))]
[JsonSerializable(typeof(EventAcceptedJson))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>The API's error answers: {"error": ...} as ASP.NET Core writes by default (camelCase, compact).</summary>
public sealed record ApiError(string Error);

public sealed record ApiConflict(string Error, long Execution);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(ApiConflict))]
internal sealed partial class ApiErrorJson : JsonSerializerContext;
