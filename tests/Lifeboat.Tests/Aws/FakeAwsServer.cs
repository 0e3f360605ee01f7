using System.Net;
using System.Text;
using Lifeboat.Providers.Aws;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Tests.Aws;

/// <summary>
/// A local HTTP endpoint standing in for one AWS API endpoint (one RDS region, or Route 53). This is a FAKE: no local
/// counterpart of RDS or Route 53 exists, so the tests serve answers in the shapes of AWS's documented/recorded sample
/// responses (see FakeRds / FakeRoute53), not live ones. Every request is checked as AWS would: the SigV4
/// Authorization header is recomputed from the request as received with the test secret and must match, for the
/// expected region and service, with host and x-amz-date signed. A failed check answers 403 SignatureDoesNotMatch
/// and is recorded in <see cref="Problems"/> (tests assert it stays empty).
/// Kestrel on 127.0.0.1 with an ephemeral port.
/// </summary>
public sealed class FakeAwsServer : IAsyncDisposable
{
    public const string AccessKey = "AKIDLIFEBOATTEST";
    public const string SecretKey = "lifeboat/test+secret/KEY";

    private readonly WebApplication _app;

    public sealed record Request(string Method, string Path, string Query, IHeaderDictionary Headers, byte[] Body)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }

    public sealed record Response(int Status, string Xml);

    private FakeAwsServer(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }
    public List<string> Problems { get; } = [];
    public int Requests;

    public static async Task<FakeAwsServer> StartAsync(string region, string service, Func<Request, Response> handle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => { k.Listen(IPAddress.Loopback, 0); k.AddServerHeader = false; });
        var app = builder.Build();
        FakeAwsServer? self = null;
        app.Run(async http =>
        {
            using var ms = new MemoryStream();
            await http.Request.Body.CopyToAsync(ms);
            var req = new Request(http.Request.Method, http.Request.PathBase.Add(http.Request.Path).ToUriComponent(),
                http.Request.QueryString.Value ?? "", http.Request.Headers, ms.ToArray());
            Interlocked.Increment(ref self!.Requests);
            Response resp;
            var problem = self.CheckSignature(req, region, service);
            if (problem is not null)
            {
                lock (self.Problems) self.Problems.Add(problem);
                resp = new Response(403, $"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>{System.Security.SecurityElement.Escape(problem)}</Message></Error><RequestId>fake</RequestId></ErrorResponse>");
            }
            else
            {
                try { resp = handle(req); }
                catch (FakeAssertionException e)
                {
                    lock (self.Problems) self.Problems.Add(e.Message);
                    resp = new Response(400, $"<ErrorResponse><Error><Type>Sender</Type><Code>FakeAssertion</Code><Message>{System.Security.SecurityElement.Escape(e.Message)}</Message></Error><RequestId>fake</RequestId></ErrorResponse>");
                }
            }
            http.Response.StatusCode = resp.Status;
            http.Response.ContentType = "text/xml";
            await http.Response.WriteAsync(resp.Xml);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new FakeAwsServer(app, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/"));
        return self;
    }

    private string? CheckSignature(Request req, string region, string service)
    {
        var auth = req.Headers.Authorization.ToString();
        var date = req.Headers["X-Amz-Date"].ToString();
        if (auth.Length == 0 || date.Length == 0) return $"{req.Method} {req.Path}: no Authorization or X-Amz-Date header";
        var signedPart = auth.Split(", ").FirstOrDefault(p => p.StartsWith("SignedHeaders=", StringComparison.Ordinal));
        if (signedPart is null) return $"{req.Method} {req.Path}: Authorization without SignedHeaders: {auth}";
        var names = signedPart["SignedHeaders=".Length..].Split(';');
        if (!names.Contains("host") || !names.Contains("x-amz-date")) return $"{req.Method} {req.Path}: host and x-amz-date must be signed: {auth}";
        var headers = names.Select(n => new KeyValuePair<string, string>(n, req.Headers[n].ToString())).ToList();
        var time = DateTimeOffset.ParseExact(date, "yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal);
        var sig = SigV4Signer.Sign(new SigV4Request(req.Method, new Uri("http://" + req.Headers.Host + "/"), headers, req.Body)
        {
            RawPath = req.Path,
            RawQuery = req.Query,
        }, AccessKey, SecretKey, region, service, time);
        return sig.Authorization == auth ? null : $"{req.Method} {req.Path}: signature mismatch: got {auth}, expected {sig.Authorization} (canonical request:\n{sig.CanonicalRequest})";
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A request the fake finds wrong (bad form body, bad pre-signed URL...): answered 400 and recorded.</summary>
public sealed class FakeAssertionException(string message) : Exception(message);
