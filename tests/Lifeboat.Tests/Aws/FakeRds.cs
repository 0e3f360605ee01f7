using System.Globalization;
using System.Security;
using System.Text;
using Lifeboat.Providers.Aws;
using Lifeboat.Tests.Infrastructure;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// A FAKE Amazon RDS (no local RDS exists) for two or more regions, one <see cref="FakeAwsServer"/> per region. Its
/// answers are built on the XML of AWS's documented sample responses for the 2014-10-31 API (API_CreateDBSnapshot,
/// API_DescribeDBSnapshots, API_CopyDBSnapshot, API_DeleteDBSnapshot, API_AddTagsToResource in the Amazon RDS API
/// Reference; the ErrorResponse/Error/Code,Message error shape of the Query protocol) with this fake's values
/// substituted: recorded/documented responses, not live ones. Snapshots become available after
/// <see cref="CreateTakes"/> / <see cref="CopyTakes"/> of the test's manual clock. Each request is checked: SigV4
/// (by <see cref="FakeAwsServer"/>), a form body with Version=2014-10-31 and the action's required parameters, and for
/// CopyDBSnapshot a PreSignedUrl that verifies as a GET signed for the source region's endpoint and names the same
/// source, target, KmsKeyId and DestinationRegion = the region called.
/// </summary>
public sealed class FakeRds : IAsyncDisposable
{
    public const string Account = "123456789012";
    private readonly Dictionary<string, FakeAwsServer> _servers = new(StringComparer.Ordinal);
    private readonly FakeTimeProvider _time;
    private readonly Lock _gate = new();

    public sealed class Snap
    {
        public required string Id;
        public required string Region;
        public required string Instance;
        public required DateTimeOffset CreatedAt;
        public required DateTimeOffset ReadyAt;
        public DateTimeOffset? OriginalCreatedAt;
        public string? SourceArn;
        public string? SourceRegion;
        public bool Encrypted;
        public string? KmsKeyId;
        public bool Failed;
        public Dictionary<string, string> Tags = new(StringComparer.Ordinal);
        public string Arn => $"arn:aws:rds:{Region}:{Account}:snapshot:{Id}";
    }

    private FakeRds(FakeTimeProvider time) => _time = time;

    public Dictionary<string, Dictionary<string, Snap>> Snapshots { get; } = new(StringComparer.Ordinal);
    public List<(string Region, string Action, Dictionary<string, string> Form)> Calls { get; } = [];
    public TimeSpan CreateTakes { get; set; } = TimeSpan.FromMinutes(10);
    public TimeSpan CopyTakes { get; set; } = TimeSpan.FromMinutes(30);
    public int ManualSnapshotQuota { get; set; } = 100;
    public int PageSize { get; set; } = 2;
    public Dictionary<string, int> ThrottleNext { get; } = new(StringComparer.Ordinal);
    /// <summary>Answers the next N calls of an action with HTTP 503 (the request did not take effect).</summary>
    public Dictionary<string, int> UnavailableNext { get; } = new(StringComparer.Ordinal);
    public int CopyLimitErrors;
    public bool EncryptedInstances { get; set; }

    public static async Task<FakeRds> StartAsync(FakeTimeProvider time, params string[] regions)
    {
        var f = new FakeRds(time);
        foreach (var r in regions)
        {
            f.Snapshots[r] = new Dictionary<string, Snap>(StringComparer.Ordinal);
            f._servers[r] = await FakeAwsServer.StartAsync(r, "rds", req => f.Handle(r, req));
        }
        return f;
    }

    public Uri Endpoint(string region) => _servers[region].Endpoint;
    public IEnumerable<string> Problems => _servers.Values.SelectMany(s => s.Problems);

    public IEnumerable<(string Action, Dictionary<string, string> Form)> CallsTo(string region) =>
        Calls.Where(c => c.Region == region).Select(c => (c.Action, c.Form));

    public string Status(Snap s) => s.Failed ? "failed" : _time.GetUtcNow() >= s.ReadyAt ? "available" : s.SourceArn is null ? "creating" : "copying";

    /// <summary>Adds a snapshot as if it existed before the test (e.g. someone else's, or an older Lifeboat one).</summary>
    public Snap Seed(string region, string id, string instance, DateTimeOffset at, IDictionary<string, string>? tags = null, bool copyInProgress = false)
    {
        var s = new Snap { Id = id, Region = region, Instance = instance, CreatedAt = at, ReadyAt = copyInProgress ? DateTimeOffset.MaxValue : at };
        if (copyInProgress) { s.SourceArn = $"arn:aws:rds:other-region-1:{Account}:snapshot:{id}"; s.SourceRegion = "other-region-1"; }
        if (tags is not null) foreach (var (k, v) in tags) s.Tags[k] = v;
        lock (_gate) Snapshots[region][id] = s;
        return s;
    }

    private static Dictionary<string, string> ParseForm(string body)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in body.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var i = part.IndexOf('=');
            var k = Uri.UnescapeDataString(i < 0 ? part : part[..i]);
            var v = Uri.UnescapeDataString(i < 0 ? "" : part[(i + 1)..]);
            if (!d.TryAdd(k, v)) throw new FakeAssertionException($"form parameter {k} given twice");
        }
        return d;
    }

    private static string Need(Dictionary<string, string> f, string key) =>
        f.TryGetValue(key, out var v) && v.Length > 0 ? v : throw new FakeAssertionException($"{f.GetValueOrDefault("Action")}: required parameter {key} missing");

    private static Dictionary<string, string> Tags(Dictionary<string, string> f)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; f.TryGetValue($"Tags.Tag.{i}.Key", out var k); i++) tags[k] = f.GetValueOrDefault($"Tags.Tag.{i}.Value") ?? "";
        return tags;
    }

    private static FakeAwsServer.Response Error(int status, string code, string message) => new(status,
        $"""
        <ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
          <Error>
            <Type>Sender</Type>
            <Code>{code}</Code>
            <Message>{SecurityElement.Escape(message)}</Message>
          </Error>
          <RequestId>{Guid.NewGuid()}</RequestId>
        </ErrorResponse>
        """);

    private static FakeAwsServer.Response Ok(string action, string result) => new(200,
        $"""
        <{action}Response xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
          <{action}Result>
        {result}
          </{action}Result>
          <ResponseMetadata>
            <RequestId>{Guid.NewGuid()}</RequestId>
          </ResponseMetadata>
        </{action}Response>
        """);

    private static string T(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A DBSnapshot element with the fields of the documented sample (Port, OptionGroupName, Engine, Status,
    /// SnapshotType, ...), plus the ARN, encryption, source and TagList fields of the DBSnapshot data type.</summary>
    private string Xml(Snap s)
    {
        var sb = new StringBuilder();
        sb.Append($"""
              <DBSnapshot>
                <Port>5432</Port>
                <OptionGroupName>default:postgres-15</OptionGroupName>
                <Engine>postgres</Engine>
                <Status>{Status(s)}</Status>
                <SnapshotType>manual</SnapshotType>
                <LicenseModel>postgresql-license</LicenseModel>
                <EngineVersion>15.4</EngineVersion>
                <DBInstanceIdentifier>{s.Instance}</DBInstanceIdentifier>
                <DBSnapshotIdentifier>{s.Id}</DBSnapshotIdentifier>
                <SnapshotCreateTime>{T(s.CreatedAt)}</SnapshotCreateTime>
                <OriginalSnapshotCreateTime>{T(s.OriginalCreatedAt ?? s.CreatedAt)}</OriginalSnapshotCreateTime>
                <AvailabilityZone>{s.Region}a</AvailabilityZone>
                <InstanceCreateTime>2021-01-29T22:58:24.231Z</InstanceCreateTime>
                <PercentProgress>{(Status(s) == "available" ? 100 : 42)}</PercentProgress>
                <AllocatedStorage>100</AllocatedStorage>
                <MasterUsername>admin</MasterUsername>
                <Encrypted>{(s.Encrypted ? "true" : "false")}</Encrypted>
                <DBSnapshotArn>{s.Arn}</DBSnapshotArn>

            """);
        if (s.KmsKeyId is not null) sb.Append($"        <KmsKeyId>{SecurityElement.Escape(s.KmsKeyId)}</KmsKeyId>\n");
        if (s.SourceArn is not null)
            sb.Append($"        <SourceDBSnapshotIdentifier>{s.SourceArn}</SourceDBSnapshotIdentifier>\n        <SourceRegion>{s.SourceRegion}</SourceRegion>\n");
        sb.Append("        <TagList>\n");
        foreach (var (k, v) in s.Tags) sb.Append($"          <Tag><Key>{SecurityElement.Escape(k)}</Key><Value>{SecurityElement.Escape(v)}</Value></Tag>\n");
        sb.Append("        </TagList>\n      </DBSnapshot>");
        return sb.ToString();
    }

    private FakeAwsServer.Response Handle(string region, FakeAwsServer.Request req)
    {
        if (req.Method != "POST" || req.Path != "/") throw new FakeAssertionException($"RDS Query calls are POST /, got {req.Method} {req.Path}");
        if (!req.Headers.ContentType.ToString().StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal))
            throw new FakeAssertionException($"RDS Query calls send a form body, got Content-Type {req.Headers.ContentType}");
        var f = ParseForm(req.Text);
        var action = Need(f, "Action");
        if (f.GetValueOrDefault("Version") != "2014-10-31") throw new FakeAssertionException($"{action}: Version must be 2014-10-31, got {f.GetValueOrDefault("Version")}");
        lock (_gate)
        {
            Calls.Add((region, action, f));
            if (ThrottleNext.TryGetValue(action, out var n) && n > 0)
            {
                ThrottleNext[action] = n - 1;
                return Error(400, "Throttling", "Rate exceeded");
            }
            if (UnavailableNext.TryGetValue(action, out var u) && u > 0)
            {
                UnavailableNext[action] = u - 1;
                return new FakeAwsServer.Response(503, "");
            }
            var snaps = Snapshots[region];
            var now = _time.GetUtcNow();
            switch (action)
            {
                case "CreateDBSnapshot":
                {
                    var id = Need(f, "DBSnapshotIdentifier");
                    var instance = Need(f, "DBInstanceIdentifier");
                    if (snaps.ContainsKey(id)) return Error(400, "DBSnapshotAlreadyExists", $"Cannot create the snapshot because a snapshot with the identifier {id} already exists.");
                    if (snaps.Count >= ManualSnapshotQuota) return Error(400, "SnapshotQuotaExceeded", "Cannot create more than 100 manual snapshots");
                    var s = new Snap { Id = id, Region = region, Instance = instance, CreatedAt = now, ReadyAt = now + CreateTakes, Encrypted = EncryptedInstances, Tags = Tags(f) };
                    if (s.Encrypted) s.KmsKeyId = $"arn:aws:kms:{region}:{Account}:key/source-key";
                    snaps[id] = s;
                    return Ok(action, Xml(s));
                }
                case "DescribeDBSnapshots":
                {
                    IEnumerable<Snap> list = snaps.Values.OrderBy(s => s.Id, StringComparer.Ordinal);
                    if (f.TryGetValue("DBSnapshotIdentifier", out var id))
                    {
                        if (!snaps.ContainsKey(id)) return Error(404, "DBSnapshotNotFound", $"DBSnapshot {id} not found.");
                        list = [snaps[id]];
                    }
                    if (f.TryGetValue("DBInstanceIdentifier", out var inst)) list = list.Where(s => s.Instance == inst);
                    if (f.TryGetValue("SnapshotType", out var type) && type != "manual") list = [];
                    var all = list.ToList();
                    var start = f.TryGetValue("Marker", out var m) ? int.Parse(m, CultureInfo.InvariantCulture) : 0;
                    var page = all.Skip(start).Take(PageSize).ToList();
                    var marker = start + page.Count < all.Count ? $"    <Marker>{start + page.Count}</Marker>\n" : "";
                    return Ok(action, $"    <DBSnapshots>\n{string.Join("\n", page.Select(Xml))}\n    </DBSnapshots>\n{marker}");
                }
                case "CopyDBSnapshot":
                    return Copy(region, f, snaps, now);
                case "DeleteDBSnapshot":
                {
                    var id = Need(f, "DBSnapshotIdentifier");
                    if (!snaps.Remove(id, out var s)) return Error(404, "DBSnapshotNotFound", $"DBSnapshot {id} not found.");
                    return Ok(action, Xml(s).Replace($"<Status>{Status(s)}</Status>", "<Status>deleted</Status>", StringComparison.Ordinal));
                }
                case "AddTagsToResource":
                {
                    var arn = Need(f, "ResourceName");
                    var s = snaps.Values.FirstOrDefault(x => x.Arn == arn) ?? throw new FakeAssertionException($"AddTagsToResource: no snapshot {arn} in {region}");
                    var tags = Tags(f);
                    if (tags.Count == 0) throw new FakeAssertionException("AddTagsToResource: no Tags.Tag.N given");
                    foreach (var (k, v) in tags) s.Tags[k] = v;
                    return new FakeAwsServer.Response(200, $"<AddTagsToResourceResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><ResponseMetadata><RequestId>{Guid.NewGuid()}</RequestId></ResponseMetadata></AddTagsToResourceResponse>");
                }
                default:
                    throw new FakeAssertionException($"unexpected RDS action {action}");
            }
        }
    }

    private FakeAwsServer.Response Copy(string region, Dictionary<string, string> f, Dictionary<string, Snap> snaps, DateTimeOffset now)
    {
        var sourceArn = Need(f, "SourceDBSnapshotIdentifier");
        var target = Need(f, "TargetDBSnapshotIdentifier");
        var parts = sourceArn.Split(':');
        if (parts.Length != 7 || parts[2] != "rds" || parts[5] != "snapshot") throw new FakeAssertionException($"CopyDBSnapshot across regions needs the source ARN, got {sourceArn}");
        var sourceRegion = parts[3];
        if (sourceRegion == region) throw new FakeAssertionException("CopyDBSnapshot must be called in the destination region");
        var presigned = Need(f, "PreSignedUrl");
        CheckPresigned(presigned, sourceRegion, region, f);
        if (!Snapshots.TryGetValue(sourceRegion, out var srcSnaps) || !srcSnaps.TryGetValue(parts[6], out var src))
            return Error(404, "DBSnapshotNotFound", $"DBSnapshot {sourceArn} not found.");
        if (Status(src) != "available") return Error(400, "InvalidDBSnapshotState", $"Snapshot {parts[6]} is not in available state.");
        if (src.Encrypted && !f.ContainsKey("KmsKeyId"))
            return Error(400, "InvalidParameterCombination", "KmsKeyId is required when copying an encrypted snapshot to another region.");
        if (snaps.ContainsKey(target)) return Error(400, "DBSnapshotAlreadyExists", $"Cannot create the snapshot because a snapshot with the identifier {target} already exists.");
        // The concurrent-copy refusal: its exact code/message is not in AWS's documentation; this fake answers with the
        // quota code and a message naming the concurrent copies. The runner is expected never to get here.
        if (snaps.Values.Count(s => s.SourceArn is not null && Status(s) != "available") >= 5)
        {
            CopyLimitErrors++;
            return Error(400, "SnapshotQuotaExceeded", "Cannot have more than 5 concurrent cross-region snapshot copies in progress");
        }
        if (snaps.Count >= ManualSnapshotQuota) return Error(400, "SnapshotQuotaExceeded", $"Cannot create more than {ManualSnapshotQuota} manual snapshots");
        var copy = new Snap
        {
            Id = target, Region = region, Instance = src.Instance, CreatedAt = now, ReadyAt = now + CopyTakes, OriginalCreatedAt = src.CreatedAt,
            SourceArn = sourceArn, SourceRegion = sourceRegion, Encrypted = src.Encrypted || f.ContainsKey("KmsKeyId"), KmsKeyId = f.GetValueOrDefault("KmsKeyId"),
            Tags = Tags(f),
        };
        snaps[target] = copy;
        return Ok("CopyDBSnapshot", Xml(copy));
    }

    private void CheckPresigned(string url, string sourceRegion, string destination, Dictionary<string, string> f)
    {
        var uri = new Uri(url);
        if (uri.Authority != Endpoint(sourceRegion).Authority)
            throw new FakeAssertionException($"PreSignedUrl must go to the source region's endpoint {Endpoint(sourceRegion).Authority}, got {uri.Authority}");
        if (!SigV4Signer.VerifyPresigned(uri, "GET", FakeAwsServer.SecretKey, out var r, out var svc, out var why))
            throw new FakeAssertionException($"PreSignedUrl signature invalid: {why}");
        if (r != sourceRegion || svc != "rds") throw new FakeAssertionException($"PreSignedUrl must be signed for rds in {sourceRegion}, got {svc} in {r}");
        var q = ParseForm(uri.Query.TrimStart('?'));
        void Eq(string k, string? v)
        {
            if (q.GetValueOrDefault(k) != v) throw new FakeAssertionException($"PreSignedUrl {k} must be '{v}', got '{q.GetValueOrDefault(k)}'");
        }
        Eq("Action", "CopyDBSnapshot");
        Eq("Version", "2014-10-31");
        Eq("DestinationRegion", destination);
        Eq("SourceDBSnapshotIdentifier", f["SourceDBSnapshotIdentifier"]);
        Eq("TargetDBSnapshotIdentifier", f["TargetDBSnapshotIdentifier"]);
        Eq("KmsKeyId", f.GetValueOrDefault("KmsKeyId"));
        Eq("X-Amz-Expires", "3600");
        var signedAt = DateTimeOffset.ParseExact(q["X-Amz-Date"], "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        if (_time.GetUtcNow() - signedAt > TimeSpan.FromHours(1)) throw new FakeAssertionException("PreSignedUrl expired");
        PresignedUrls.Add(url);
    }

    public List<string> PresignedUrls { get; } = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _servers.Values) await s.DisposeAsync();
    }
}
