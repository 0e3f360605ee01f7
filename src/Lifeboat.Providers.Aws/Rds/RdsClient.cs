using System.Globalization;
using System.Text;
using System.Xml.Linq;

namespace Lifeboat.Providers.Aws.Rds;

/// <summary>One DB snapshot as DescribeDBSnapshots (and Create/Copy/Delete) answer it.</summary>
public sealed record DbSnapshot(
    string Id,
    string? Arn,
    string? InstanceId,
    string Status,
    string? SnapshotType,
    DateTimeOffset? CreateTime,
    DateTimeOffset? OriginalCreateTime,
    bool Encrypted,
    string? KmsKeyId,
    string? SourceRegion,
    string? SourceSnapshotId,
    int? PercentProgress,
    IReadOnlyDictionary<string, string> Tags)
{
    /// <summary>When the data was taken: for a copy, the original snapshot's time.</summary>
    public DateTimeOffset? TakenAt => OriginalCreateTime ?? CreateTime;

    /// <summary>A cross-region (or cross-account) copy still running: RDS shows copies as pending, creating or copying
    /// until they are available, and only copies carry SourceDBSnapshotIdentifier.</summary>
    public bool IsCopyInProgress => SourceSnapshotId is not null && Status is "pending" or "creating" or "copying";
}

/// <summary>RDS's manual snapshot quota was reached (SnapshotQuotaExceeded). Retrying cannot help until snapshots
/// are deleted or the quota raised, so Lifeboat does not retry it.</summary>
public sealed class RdsSnapshotQuotaExceededException(string region, AwsServiceException e)
    : AwsServiceException(e.Code, e.Status,
        $"RDS manual snapshot quota reached in {region} ({e.Message}): delete manual snapshots there or raise the " +
        "'Manual DB instance snapshots' quota in Service Quotas; Lifeboat does not retry this", transient: false, e.RequestId, e);

/// <summary>The region already runs the most cross-region snapshot copies RDS allows at once (5 per destination
/// region); the copy must wait for one to finish.</summary>
public sealed class RdsCopyLimitExceededException(string region, AwsServiceException e)
    : AwsServiceException(e.Code, e.Status, $"RDS cross-region copy limit reached in {region}: {e.Message}", transient: false, e.RequestId, e);

public sealed class RdsSnapshotAlreadyExistsException(AwsServiceException e)
    : AwsServiceException(e.Code, e.Status, e.Message, transient: false, e.RequestId, e);

/// <summary>
/// The smallest correct Amazon RDS client for snapshots (AWSSDK.RDS is not in the reachable NuGet copy): the Query
/// protocol (POST / with a form body Action=...&amp;Version=2014-10-31, SigV4 service "rds", XML answers, errors as
/// ErrorResponse/Error/Code+Message), for CreateDBSnapshot, DescribeDBSnapshots (following Marker), CopyDBSnapshot
/// across regions (called in the destination region, with a pre-signed CopyDBSnapshot URL for the source region that
/// names DestinationRegion and KmsKeyId, as the SDKs' SourceRegion parameter builds it), DeleteDBSnapshot and
/// AddTagsToResource. Throttling and 5xx are retried by <see cref="AwsHttp"/>; SnapshotQuotaExceeded,
/// DBSnapshotAlreadyExists and the concurrent-copy limit are typed exceptions. Exercised against recorded AWS answers
/// (tests/Lifeboat.Tests/Aws), since no real RDS is reachable from here.
/// </summary>
public sealed class RdsClient : IDisposable
{
    public const string ApiVersion = "2014-10-31";
    public const string Service = "rds";
    private readonly AwsHttp _http;

    public RdsClient(AwsClientOptions options) => _http = new AwsHttp(options);

    public string Region => _http.Options.Region;
    public Uri Endpoint => _http.Options.Endpoint;
    public long Retries => _http.Retries;

    public static Uri DefaultEndpoint(string region) =>
        new($"https://rds.{region}.amazonaws.com{(region.StartsWith("cn-", StringComparison.Ordinal) ? ".cn" : "")}/");

    /// <summary>The form body of a Query call: Action, Version, then the parameters, RFC 3986-encoded.</summary>
    public static string Form(string action, IEnumerable<KeyValuePair<string, string>> parameters)
    {
        var sb = new StringBuilder($"Action={action}&Version={ApiVersion}");
        foreach (var (k, v) in parameters) sb.Append('&').Append(SigV4Signer.Encode(k)).Append('=').Append(SigV4Signer.Encode(v));
        return sb.ToString();
    }

    private static void AddTags(List<KeyValuePair<string, string>> p, IReadOnlyDictionary<string, string>? tags)
    {
        if (tags is null) return;
        var i = 1;
        foreach (var (k, v) in tags.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            p.Add(new($"Tags.Tag.{i}.Key", k));
            p.Add(new($"Tags.Tag.{i}.Value", v));
            i++;
        }
    }

    private async Task<XElement> CallAsync(string action, List<KeyValuePair<string, string>> p, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(Form(action, p));
        try
        {
            var root = await _http.SendAsync(HttpMethod.Post, "/", body, "application/x-www-form-urlencoded; charset=utf-8", action, ct).ConfigureAwait(false);
            return root.Child(action + "Result") ?? root;
        }
        catch (AwsServiceException e) when (e.Code == "SnapshotQuotaExceeded" && !IsCopyLimit(e))
        {
            throw new RdsSnapshotQuotaExceededException(Region, e);
        }
        catch (AwsServiceException e) when (IsCopyLimit(e))
        {
            throw new RdsCopyLimitExceededException(Region, e);
        }
        catch (AwsServiceException e) when (e.Code == "DBSnapshotAlreadyExists")
        {
            throw new RdsSnapshotAlreadyExistsException(e);
        }
    }

    /// <summary>RDS reports too many concurrent cross-region copies with a quota-style error whose message names the
    /// copies in progress (the code is not documented per case); the runner also counts copies itself first, so this
    /// is the fallback when something else started copies meanwhile.</summary>
    private static bool IsCopyLimit(AwsServiceException e) =>
        e.Code is "SnapshotQuotaExceeded" or "SnapshotCopyQuotaExceeded" or "LimitExceeded" or "LimitExceededException"
        && (e.Message.Contains("concurrent", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("in progress", StringComparison.OrdinalIgnoreCase));

    public static DbSnapshot Parse(XElement s)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (s.Child("TagList") is { } tl)
            foreach (var t in tl.Elements())
                if (t.Text("Key") is { } k) tags[k] = t.Text("Value") ?? "";
        return new DbSnapshot(
            s.Text("DBSnapshotIdentifier") ?? throw new AwsServiceException("", 200, "RDS answer: a DBSnapshot without DBSnapshotIdentifier", false),
            s.Text("DBSnapshotArn"), s.Text("DBInstanceIdentifier"), s.Text("Status") ?? "", s.Text("SnapshotType"),
            s.Time("SnapshotCreateTime"), s.Time("OriginalSnapshotCreateTime"),
            s.Text("Encrypted") == "true", s.Text("KmsKeyId"), s.Text("SourceRegion"), s.Text("SourceDBSnapshotIdentifier"),
            int.TryParse(s.Text("PercentProgress"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pp) ? pp : null, tags);
    }

    public async Task<DbSnapshot> CreateSnapshotAsync(string instance, string snapshotId, IReadOnlyDictionary<string, string>? tags, CancellationToken ct)
    {
        var p = new List<KeyValuePair<string, string>> { new("DBInstanceIdentifier", instance), new("DBSnapshotIdentifier", snapshotId) };
        AddTags(p, tags);
        var r = await CallAsync("CreateDBSnapshot", p, ct).ConfigureAwait(false);
        return Parse(r.Required("DBSnapshot", "CreateDBSnapshot"));
    }

    /// <summary>One snapshot by identifier; null when RDS answers DBSnapshotNotFound.</summary>
    public async Task<DbSnapshot?> DescribeSnapshotAsync(string snapshotId, CancellationToken ct)
    {
        try
        {
            var r = await CallAsync("DescribeDBSnapshots", [new("DBSnapshotIdentifier", snapshotId)], ct).ConfigureAwait(false);
            return r.Child("DBSnapshots")?.Elements().Select(Parse).FirstOrDefault(s => s.Id == snapshotId);
        }
        catch (AwsServiceException e) when (e.Code == "DBSnapshotNotFound")
        {
            return null;
        }
    }

    /// <summary>Every snapshot matching (all pages, following Marker).</summary>
    public async Task<IReadOnlyList<DbSnapshot>> DescribeSnapshotsAsync(string? instance, string? snapshotType, CancellationToken ct)
    {
        var all = new List<DbSnapshot>();
        string? marker = null;
        do
        {
            var p = new List<KeyValuePair<string, string>>();
            if (instance is not null) p.Add(new("DBInstanceIdentifier", instance));
            if (snapshotType is not null) p.Add(new("SnapshotType", snapshotType));
            p.Add(new("MaxRecords", "100"));
            if (marker is not null) p.Add(new("Marker", marker));
            var r = await CallAsync("DescribeDBSnapshots", p, ct).ConfigureAwait(false);
            if (r.Child("DBSnapshots") is { } list) all.AddRange(list.Elements().Select(Parse));
            marker = r.Text("Marker");
            if (marker?.Length == 0) marker = null;
        } while (marker is not null);
        return all;
    }

    /// <summary>
    /// Copies <paramref name="sourceArn"/> from <paramref name="sourceRegion"/> into this client's region (the
    /// destination: RDS copies are started from the destination side). Sends, as the SDKs do for SourceRegion, a
    /// PreSignedUrl: a GET to the source region's endpoint for the same CopyDBSnapshot with DestinationRegion set,
    /// SigV4 query-signed for the source region (valid 1 hour). AWS only requires it in GovCloud and ignores it
    /// elsewhere, but sending it is always correct. <paramref name="kmsKeyId"/> (a key in the destination region) is
    /// required for encrypted snapshots.
    /// </summary>
    public async Task<DbSnapshot> CopySnapshotAsync(string sourceArn, string sourceRegion, Uri sourceEndpoint, string targetId,
        string? kmsKeyId, IReadOnlyDictionary<string, string>? tags, CancellationToken ct)
    {
        var p = new List<KeyValuePair<string, string>> { new("SourceDBSnapshotIdentifier", sourceArn), new("TargetDBSnapshotIdentifier", targetId) };
        if (kmsKeyId is not null) p.Add(new("KmsKeyId", kmsKeyId));
        AddTags(p, tags);
        var presign = new List<KeyValuePair<string, string>>(p) { new("DestinationRegion", Region) };
        var presignedUrl = await PresignAsync("CopyDBSnapshot", presign, sourceRegion, sourceEndpoint).ConfigureAwait(false);
        p.Add(new("PreSignedUrl", presignedUrl));
        var r = await CallAsync("CopyDBSnapshot", p, ct).ConfigureAwait(false);
        return Parse(r.Required("DBSnapshot", "CopyDBSnapshot"));
    }

    /// <summary>A SigV4 query-signed GET URL for <paramref name="action"/> in <paramref name="region"/> (same
    /// credentials as this client).</summary>
    public async Task<string> PresignAsync(string action, List<KeyValuePair<string, string>> parameters, string region, Uri endpoint)
    {
        var keys = await _http.KeysAsync().ConfigureAwait(false);
        var url = new Uri(endpoint, "/?" + Form(action, parameters));
        var (signed, _) = SigV4Signer.Presign(new SigV4Request("GET", url, [new("Host", url.Authority)], ReadOnlyMemory<byte>.Empty),
            keys.AccessKey, keys.SecretKey, keys.UseToken ? keys.Token : null, region, Service, _http.Options.Time.GetUtcNow(), TimeSpan.FromHours(1));
        return signed;
    }

    /// <summary>Deletes a manual snapshot; false when it was already gone.</summary>
    public async Task<bool> DeleteSnapshotAsync(string snapshotId, CancellationToken ct)
    {
        try
        {
            await CallAsync("DeleteDBSnapshot", [new("DBSnapshotIdentifier", snapshotId)], ct).ConfigureAwait(false);
            return true;
        }
        catch (AwsServiceException e) when (e.Code == "DBSnapshotNotFound")
        {
            return false;
        }
    }

    public async Task AddTagsAsync(string resourceArn, IReadOnlyDictionary<string, string> tags, CancellationToken ct)
    {
        var p = new List<KeyValuePair<string, string>> { new("ResourceName", resourceArn) };
        AddTags(p, tags);
        await CallAsync("AddTagsToResource", p, ct).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();
}
