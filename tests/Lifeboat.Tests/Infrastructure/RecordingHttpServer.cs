using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// A small real HTTP service on 127.0.0.1 (Kestrel): stands for an application in one region (GET /health answers
/// 200 "ok NAME" while <see cref="Healthy"/>, else 503), or for a webhook receiver (records POST bodies).
/// <see cref="Stop"/> closes the listener: connections are refused, as when a service dies. Its port is reserved for
/// the whole test run (<see cref="TestPorts"/>), so a new server started with <c>port: old.Port</c> comes back on it.
/// </summary>
public sealed class RecordingHttpServer : IDisposable
{
    private readonly WebApplication _app;
    private readonly List<string> _bodies = [];
    private int _stopped;
    private int _requests;

    public RecordingHttpServer(string host = "127.0.0.1", int? port = null, string name = "service")
    {
        Name = name;
        Port = port ?? TestPorts.Reserve();
        Url = $"http://{host}:{Port}/";
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => { k.Listen(IPAddress.Parse(host), Port); k.AddServerHeader = false; });
        _app = builder.Build();
        _app.Run(async http =>
        {
            Interlocked.Increment(ref _requests);
            if (HttpMethods.IsPost(http.Request.Method))
            {
                using var r = new StreamReader(http.Request.Body, Encoding.UTF8);
                var body = await r.ReadToEndAsync();
                lock (_bodies) _bodies.Add(body);
                http.Response.StatusCode = 200;
                return;
            }
            var healthy = Healthy;
            http.Response.StatusCode = healthy ? 200 : 503;
            await http.Response.WriteAsync(healthy ? $"ok {Name}\n" : "unavailable\n");
        });
        Task.Run(() => _app.StartAsync()).GetAwaiter().GetResult();
    }

    public string Name { get; }
    public int Port { get; }
    public string Url { get; }
    public volatile bool Healthy = true;

    /// <summary>Requests answered so far (any method).</summary>
    public int Requests => Volatile.Read(ref _requests);

    public IReadOnlyList<string> Bodies { get { lock (_bodies) return [.. _bodies]; } }

    /// <summary>A port for a listener the test cannot bind itself (see <see cref="TestPorts"/>).</summary>
    public static int FreePort() => TestPorts.Reserve();

    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0) Task.Run(() => _app.StopAsync()).GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        Stop();
        Task.Run(() => _app.DisposeAsync().AsTask()).GetAwaiter().GetResult();
    }
}
