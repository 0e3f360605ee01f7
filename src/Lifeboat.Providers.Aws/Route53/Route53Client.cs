using System.Globalization;
using System.Text;
using System.Xml.Linq;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Providers.Aws.Route53;

/// <summary>A submitted Route 53 change: its id (/change/C...) and status (PENDING, INSYNC).</summary>
public sealed record Route53Change(string Id, string Status, DateTimeOffset? SubmittedAt);

/// <summary>
/// The smallest correct Route 53 client for switching traffic (AWSSDK.Route53 is not in the reachable NuGet copy):
/// REST-XML API version 2013-04-01 at https://route53.amazonaws.com, SigV4 service "route53" in us-east-1.
/// ChangeResourceRecordSets (UPSERT), GetChange (polled on the injected clock until INSYNC) and
/// ListResourceRecordSets (reads). Errors are loud: InvalidChangeBatch carries every message Route 53 gave; throttling
/// and PriorRequestNotComplete are retried by <see cref="AwsHttp"/>. Exercised against recorded Route 53 answers
/// (tests/Lifeboat.Tests/Aws), since no real Route 53 is reachable from here.
/// </summary>
public sealed class Route53Client : IDisposable
{
    public const string Ns = "https://route53.amazonaws.com/doc/2013-04-01/";
    public const string Service = "route53";
    public static readonly Uri DefaultEndpoint = new("https://route53.amazonaws.com/");
    private readonly AwsHttp _http;

    public Route53Client(AwsClientOptions options) => _http = new AwsHttp(options);

    public TimeProvider Time => _http.Options.Time;

    /// <summary>A record name in Route 53's form: fully qualified, with the trailing dot.</summary>
    public static string Fqdn(string name) => name.EndsWith('.') ? name : name + ".";

    public static string ChangeBody(string action, DnsRecordSet records, string? comment)
    {
        XNamespace ns = Ns;
        var rrset = new XElement(ns + "ResourceRecordSet",
            new XElement(ns + "Name", Fqdn(records.Name)),
            new XElement(ns + "Type", records.Type.ToUpperInvariant()),
            new XElement(ns + "TTL", records.Ttl.ToString(CultureInfo.InvariantCulture)),
            new XElement(ns + "ResourceRecords", records.Values.Select(v => new XElement(ns + "ResourceRecord", new XElement(ns + "Value", v)))));
        var batch = new XElement(ns + "ChangeBatch");
        if (comment is not null) batch.Add(new XElement(ns + "Comment", comment));
        batch.Add(new XElement(ns + "Changes", new XElement(ns + "Change", new XElement(ns + "Action", action), rrset)));
        var doc = new XDocument(new XDeclaration("1.0", "UTF-8", null), new XElement(ns + "ChangeResourceRecordSetsRequest", batch));
        return doc.Declaration + "\n" + doc.Root!.ToString(SaveOptions.DisableFormatting);
    }

    private static Route53Change ParseChange(XElement root, string op)
    {
        var info = root.Name.LocalName == "ChangeInfo" ? root : root.Required("ChangeInfo", op);
        return new Route53Change(info.Text("Id") ?? throw new AwsServiceException("", 200, $"{op}: ChangeInfo without Id", false),
            info.Text("Status") ?? "", info.Time("SubmittedAt"));
    }

    /// <summary>Submits one change (UPSERT, CREATE or DELETE) of a record set.</summary>
    public async Task<Route53Change> ChangeAsync(string hostedZoneId, string action, DnsRecordSet records, string? comment, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(ChangeBody(action, records, comment));
        var root = await _http.SendAsync(HttpMethod.Post, $"/2013-04-01/hostedzone/{Uri.EscapeDataString(hostedZoneId)}/rrset", body,
            "application/xml", "ChangeResourceRecordSets", ct).ConfigureAwait(false);
        return ParseChange(root, "ChangeResourceRecordSets");
    }

    public async Task<Route53Change> GetChangeAsync(string changeId, CancellationToken ct)
    {
        var id = changeId.StartsWith("/change/", StringComparison.Ordinal) ? changeId["/change/".Length..] : changeId;
        var root = await _http.SendAsync(HttpMethod.Get, $"/2013-04-01/change/{Uri.EscapeDataString(id)}", null, null, "GetChange", ct).ConfigureAwait(false);
        return ParseChange(root, "GetChange");
    }

    /// <summary>Polls GetChange every <paramref name="every"/> (on the injected clock) until INSYNC; throws when
    /// <paramref name="timeout"/> passes first.</summary>
    public async Task<Route53Change> WaitInSyncAsync(Route53Change change, TimeSpan every, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Time.GetUtcNow() + timeout;
        while (change.Status != "INSYNC")
        {
            if (Time.GetUtcNow() >= deadline)
                throw new AwsServiceException("Timeout", 0, $"Route 53 change {change.Id} is still {change.Status} after {timeout.TotalSeconds:0}s", transient: false);
            await Task.Delay(every, Time, ct).ConfigureAwait(false);
            change = await GetChangeAsync(change.Id, ct).ConfigureAwait(false);
        }
        return change;
    }

    /// <summary>The record set of exactly this name and type, or null (ListResourceRecordSets from name+type, one item).</summary>
    public async Task<DnsRecordSet?> GetRecordSetAsync(string hostedZoneId, string name, string type, CancellationToken ct)
    {
        var fqdn = Fqdn(name);
        var q = $"name={Uri.EscapeDataString(fqdn)}&type={Uri.EscapeDataString(type.ToUpperInvariant())}&maxitems=1";
        var root = await _http.SendAsync(HttpMethod.Get, $"/2013-04-01/hostedzone/{Uri.EscapeDataString(hostedZoneId)}/rrset?{q}", null, null,
            "ListResourceRecordSets", ct).ConfigureAwait(false);
        var set = root.Child("ResourceRecordSets")?.Elements().FirstOrDefault();
        if (set is null) return null;
        var setName = set.Text("Name") ?? "";
        if (!string.Equals(Unescape(setName), fqdn, StringComparison.OrdinalIgnoreCase) ||
            !string.Equals(set.Text("Type"), type, StringComparison.OrdinalIgnoreCase))
            return null; // the list starts at the next name in the zone
        var values = set.Child("ResourceRecords")?.Elements().Select(r => r.Text("Value") ?? "").ToList() ?? [];
        var ttl = int.TryParse(set.Text("TTL"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) ? t : 0;
        return new DnsRecordSet(setName.TrimEnd('.'), type.ToUpperInvariant(), values, ttl);
    }

    /// <summary>Route 53 returns some characters of names as \ooo octal escapes (e.g. \052 for '*').</summary>
    private static string Unescape(string name)
    {
        if (!name.Contains('\\')) return name;
        var sb = new StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            if (name[i] == '\\' && i + 3 < name.Length &&
                int.TryParse(name.AsSpan(i + 1, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var o))
            {
                sb.Append((char)Convert.ToInt32(o.ToString(CultureInfo.InvariantCulture), 8));
                i += 3;
            }
            else sb.Append(name[i]);
        }
        return sb.ToString();
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A <c>type: route53</c> store as an <see cref="IDnsRecordStore"/>: set = UPSERT, then wait until INSYNC.</summary>
public sealed class Route53RecordStore : IDnsRecordStore, IDisposable
{
    private readonly Route53Client _client;
    private readonly string _zone;
    private readonly TimeSpan _timeout;

    public Route53RecordStore(string name, string hostedZoneId, Route53Client client, TimeSpan changeTimeout)
    {
        Name = name;
        _zone = hostedZoneId;
        _client = client;
        _timeout = changeTimeout;
    }

    /// <summary>A store from its config: endpoint (default Route 53's), credentials resolved like every AWS store.</summary>
    public static Route53RecordStore ForStore(StoreConfig cfg, TimeProvider time, HttpMessageHandler? handler = null)
    {
        if (cfg.Type != StoreType.Route53 || cfg.HostedZoneId is null)
            throw new UserErrorException($"{cfg.Where}: store '{cfg.Name}' is not a route53 store");
        var client = new Route53Client(new AwsClientOptions
        {
            Endpoint = cfg.Endpoint is { } e ? new Uri(e + "/") : Route53Client.DefaultEndpoint,
            Region = "us-east-1",
            Service = Route53Client.Service,
            Credentials = AwsCredentialResolver.Source(AwsCredentialResolver.Resolve(cfg), cfg.Where.ToString()),
            Time = time,
            Handler = handler,
        });
        return new Route53RecordStore(cfg.Name, cfg.HostedZoneId, client, cfg.ChangeTimeout ?? TimeSpan.FromMinutes(10));
    }

    public string Name { get; }

    /// <summary>How often GetChange is polled (Route 53 changes usually reach INSYNC within 60 s).</summary>
    public TimeSpan PollEvery { get; init; } = TimeSpan.FromSeconds(5);

    public async Task SetAsync(DnsRecordSet records, CancellationToken ct)
    {
        try
        {
            var change = await _client.ChangeAsync(_zone, "UPSERT", records, "lifeboat", ct).ConfigureAwait(false);
            await _client.WaitInSyncAsync(change, PollEvery, _timeout, ct).ConfigureAwait(false);
        }
        catch (AwsServiceException e)
        {
            throw new AwsServiceException(e.Code, e.Status, $"route53 store '{Name}' (zone {_zone}): set {records.Name} {records.Type}: {e.Message}", e.Transient, e.RequestId, e);
        }
    }

    public Task<DnsRecordSet?> GetAsync(string name, string type, CancellationToken ct) => _client.GetRecordSetAsync(_zone, name, type, ct);

    public void Dispose() => _client.Dispose();
}
