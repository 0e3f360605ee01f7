using System.Globalization;
using System.Net;
using System.Security;
using System.Xml.Linq;
using Amazon.Runtime;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Aws;
using Lifeboat.Providers.Aws.Route53;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// A FAKE Route 53 (none is reachable from here) answering in the shapes of AWS's documented responses for API
/// 2013-04-01 (ChangeResourceRecordSetsResponse/ChangeInfo, GetChangeResponse/ChangeInfo, ListResourceRecordSetsResponse;
/// errors: InvalidChangeBatch/Messages/Message as Route 53 sends it for a refused batch, ErrorResponse/Error for the
/// rest): recorded/documented responses, not live ones. Checks SigV4 (us-east-1, route53) and the request XML.
/// A change becomes INSYNC <see cref="InSyncAfter"/> of the manual clock after it was submitted.
/// </summary>
public sealed class FakeRoute53 : IAsyncDisposable
{
    private const string Ns = "https://route53.amazonaws.com/doc/2013-04-01/";
    private readonly FakeTimeProvider _time;
    private readonly Lock _gate = new();
    private FakeAwsServer _server = null!;
    private int _changes;

    private FakeRoute53(FakeTimeProvider time) => _time = time;

    public string Zone { get; } = "Z1D633PJN98FT9";
    public TimeSpan InSyncAfter { get; set; } = TimeSpan.FromSeconds(20);
    public Dictionary<(string Name, string Type), (int Ttl, List<string> Values)> Records { get; } = [];
    public Dictionary<string, DateTimeOffset> Changes { get; } = new(StringComparer.Ordinal);
    public int GetChangeCalls;
    public Uri Endpoint => _server.Endpoint;
    public List<string> Problems => _server.Problems;

    public static async Task<FakeRoute53> StartAsync(FakeTimeProvider time)
    {
        var f = new FakeRoute53(time);
        f._server = await FakeAwsServer.StartAsync("us-east-1", "route53", f.Handle);
        return f;
    }

    private static FakeAwsServer.Response Error(int status, string code, string message) => new(status,
        $"""
        <?xml version="1.0" encoding="UTF-8"?>
        <ErrorResponse xmlns="{Ns}"><Error><Type>Sender</Type><Code>{code}</Code><Message>{SecurityElement.Escape(message)}</Message></Error><RequestId>{Guid.NewGuid()}</RequestId></ErrorResponse>
        """);

    private string ChangeInfo(string root, string id)
    {
        var submitted = Changes[id];
        var status = _time.GetUtcNow() - submitted >= InSyncAfter ? "INSYNC" : "PENDING";
        return $"""
            <?xml version="1.0" encoding="UTF-8"?>
            <{root} xmlns="{Ns}">
               <ChangeInfo>
                  <Comment>lifeboat</Comment>
                  <Id>/change/{id}</Id>
                  <Status>{status}</Status>
                  <SubmittedAt>{submitted.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}</SubmittedAt>
               </ChangeInfo>
            </{root}>
            """;
    }

    private FakeAwsServer.Response Handle(FakeAwsServer.Request req)
    {
        lock (_gate)
        {
            var zonePrefix = $"/2013-04-01/hostedzone/{Zone}/rrset";
            if (req.Path.StartsWith("/2013-04-01/hostedzone/", StringComparison.Ordinal) && req.Path != zonePrefix)
                return Error(404, "NoSuchHostedZone", $"No hosted zone found with ID: {req.Path.Split('/')[3]}");
            if (req.Method == "POST" && req.Path == zonePrefix)
            {
                XNamespace ns = Ns;
                var doc = XDocument.Parse(req.Text);
                if (doc.Root!.Name != ns + "ChangeResourceRecordSetsRequest") throw new FakeAssertionException($"unexpected body root {doc.Root.Name}");
                var changes = doc.Root.Element(ns + "ChangeBatch")?.Element(ns + "Changes")?.Elements(ns + "Change").ToList()
                              ?? throw new FakeAssertionException("ChangeBatch/Changes missing");
                var errors = new List<string>();
                foreach (var ch in changes)
                {
                    var action = ch.Element(ns + "Action")?.Value;
                    var set = ch.Element(ns + "ResourceRecordSet") ?? throw new FakeAssertionException("ResourceRecordSet missing");
                    var name = set.Element(ns + "Name")!.Value;
                    var type = set.Element(ns + "Type")!.Value;
                    var ttl = int.Parse(set.Element(ns + "TTL")!.Value, CultureInfo.InvariantCulture);
                    var values = set.Element(ns + "ResourceRecords")?.Elements(ns + "ResourceRecord").Select(r => r.Element(ns + "Value")!.Value).ToList() ?? [];
                    if (action != "UPSERT") throw new FakeAssertionException($"Lifeboat switches with UPSERT, got {action}");
                    if (!name.EndsWith('.')) throw new FakeAssertionException($"names are sent fully qualified, got {name}");
                    // Route 53's own validation of A records (the messages as Route 53 words them).
                    foreach (var v in values)
                        if (type == "A" && !IPAddress.TryParse(v, out _))
                            errors.Add($"[Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '{v}'']");
                    if (values.Count == 0) errors.Add($"[Tried to create resource record set [name='{name}', type='{type}'] but it has no resource records]");
                    if (errors.Count == 0) Records[(name, type)] = (ttl, values);
                }
                if (errors.Count > 0)
                    return new FakeAwsServer.Response(400, $"""
                        <?xml version="1.0" encoding="UTF-8"?>
                        <InvalidChangeBatch xmlns="{Ns}">
                          <Messages>
                            {string.Join("\n    ", errors.Select(e => $"<Message>{SecurityElement.Escape(e)}</Message>"))}
                          </Messages>
                          <RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId>
                        </InvalidChangeBatch>
                        """);
                var id = $"C{++_changes:D4}LIFEBOAT";
                Changes[id] = _time.GetUtcNow();
                return new FakeAwsServer.Response(200, ChangeInfo("ChangeResourceRecordSetsResponse", id));
            }
            if (req.Method == "GET" && req.Path.StartsWith("/2013-04-01/change/", StringComparison.Ordinal))
            {
                GetChangeCalls++;
                var id = req.Path["/2013-04-01/change/".Length..];
                return Changes.ContainsKey(id) ? new FakeAwsServer.Response(200, ChangeInfo("GetChangeResponse", id)) : Error(404, "NoSuchChange", $"A change with the specified change ID does not exist.");
            }
            if (req.Method == "GET" && req.Path == zonePrefix)
            {
                var q = req.Query.TrimStart('?').Split('&').Select(p => p.Split('=')).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));
                if (q.GetValueOrDefault("maxitems") != "1") throw new FakeAssertionException("reads ask for one record set");
                var start = (q["name"], q["type"]);
                var next = Records.Keys.Where(k => string.CompareOrdinal(k.Name + k.Type, start.Item1 + start.Item2) >= 0)
                    .OrderBy(k => k.Name + k.Type, StringComparer.Ordinal).FirstOrDefault();
                var sets = next == default ? "" : $"""
                      <ResourceRecordSet>
                         <Name>{next.Name}</Name>
                         <Type>{next.Type}</Type>
                         <TTL>{Records[next].Ttl}</TTL>
                         <ResourceRecords>
                            {string.Join("", Records[next].Values.Select(v => $"<ResourceRecord><Value>{v}</Value></ResourceRecord>"))}
                         </ResourceRecords>
                      </ResourceRecordSet>
                    """;
                return new FakeAwsServer.Response(200, $"""
                    <?xml version="1.0" encoding="UTF-8"?>
                    <ListResourceRecordSetsResponse xmlns="{Ns}">
                       <ResourceRecordSets>
                    {sets}
                       </ResourceRecordSets>
                       <IsTruncated>false</IsTruncated>
                       <MaxItems>1</MaxItems>
                    </ListResourceRecordSetsResponse>
                    """);
            }
            throw new FakeAssertionException($"unexpected Route 53 call {req.Method} {req.Path}");
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

public sealed class Route53Tests : IAsyncLifetime
{
    private readonly SleepAwareTimeProvider _time = new(new DateTimeOffset(2026, 11, 22, 3, 0, 0, TimeSpan.Zero));
    private FakeRoute53 _r53 = null!;

    public async Task InitializeAsync() => _r53 = await FakeRoute53.StartAsync(_time);
    public async Task DisposeAsync() => await _r53.DisposeAsync();

    private Route53RecordStore Store(string? zone = null) => new("r53", zone ?? _r53.Zone, new Route53Client(new AwsClientOptions
    {
        Endpoint = _r53.Endpoint,
        Region = "us-east-1",
        Service = Route53Client.Service,
        Credentials = () => new BasicAWSCredentials(FakeAwsServer.AccessKey, FakeAwsServer.SecretKey),
        Time = _time,
    }), TimeSpan.FromMinutes(2));

    /// <summary>Runs <paramref name="work"/>, moving the manual clock (by at most 1 s) while it sleeps on it, so GetChange
    /// polls proceed; never while a request is in flight.</summary>
    private Task PumpAsync(Task work) => _time.RunAsync(work, TimeSpan.FromSeconds(1));

    [Fact]
    public async Task Upsert_WaitsUntilInSync_ThenReadsBack()
    {
        using var store = Store();
        var set = store.SetAsync(new DnsRecordSet("app.example.com", "A", ["192.0.2.10"], 60), CancellationToken.None);
        await PumpAsync(set);
        // Not before INSYNC: the change was polled until the fake's 20 s had passed.
        var submitted = _r53.Changes.Values.Single();
        Assert.True(_time.GetUtcNow() - submitted >= _r53.InSyncAfter);
        Assert.True(_r53.GetChangeCalls >= 2);
        var stored = _r53.Records[("app.example.com.", "A")];
        Assert.Equal(60, stored.Ttl);
        Assert.Equal(["192.0.2.10"], stored.Values);
        var read = await store.GetAsync("app.example.com", "A", CancellationToken.None);
        Assert.Equal("app.example.com", read!.Name);
        Assert.Equal(["192.0.2.10"], read.Values);
        Assert.Equal(60, read.Ttl);
        Assert.Null(await store.GetAsync("other.example.com", "A", CancellationToken.None));
        Assert.Empty(_r53.Problems);
    }

    [Fact]
    public async Task InvalidChangeBatch_FailsLoudly_WithRoute53sMessages()
    {
        using var store = Store();
        var e = await Assert.ThrowsAsync<AwsServiceException>(() => store.SetAsync(new DnsRecordSet("app.example.com", "A", ["not-an-ip"], 60), CancellationToken.None));
        Assert.Equal("InvalidChangeBatch", e.Code);
        Assert.Contains("route53 store 'r53' (zone Z1D633PJN98FT9): set app.example.com A", e.Message, StringComparison.Ordinal);
        Assert.Contains("ARRDATAIllegalIPv4Address", e.Message, StringComparison.Ordinal);
        Assert.False(e.Transient);
        Assert.Empty(_r53.Records);
    }

    [Fact]
    public async Task UnknownZone_FailsLoudly()
    {
        using var store = Store("ZNOSUCHZONE");
        var e = await Assert.ThrowsAsync<AwsServiceException>(() => store.SetAsync(new DnsRecordSet("app.example.com", "A", ["192.0.2.1"], 60), CancellationToken.None));
        Assert.Equal("NoSuchHostedZone", e.Code);
        Assert.Contains("ZNOSUCHZONE", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChangeThatNeverSyncs_TimesOut()
    {
        _r53.InSyncAfter = TimeSpan.FromHours(1);
        using var store = Store();
        var e = await Assert.ThrowsAsync<AwsServiceException>(() => PumpAsync(store.SetAsync(new DnsRecordSet("app.example.com", "A", ["192.0.2.1"], 60), CancellationToken.None)));
        Assert.Contains("still PENDING after 120s", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChangeBody_IsTheDocumentedRequestShape()
    {
        var body = Route53Client.ChangeBody("UPSERT", new DnsRecordSet("app.example.com", "a", ["192.0.2.1", "192.0.2.2"], 5), "lifeboat");
        Assert.Equal("""<?xml version="1.0" encoding="UTF-8"?>""" + "\n" +
            """<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>lifeboat</Comment><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>app.example.com.</Name><Type>A</Type><TTL>5</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>""",
            body);
    }
}
