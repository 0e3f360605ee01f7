using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// A small real HTTP service on 127.0.0.1 (HttpListener): stands for an application in one region (GET /health answers
/// 200 "ok" while <see cref="Healthy"/>, else 503), or for a webhook receiver (records POST bodies).
/// <see cref="Stop"/> closes the listener: connections are refused, as when a service dies.
/// </summary>
public sealed class RecordingHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<string> _bodies = [];
    private readonly Task _loop;

    public RecordingHttpServer(string host = "127.0.0.1", int? port = null, string name = "service")
    {
        Name = name;
        Port = port ?? FreePort();
        Url = $"http://{host}:{Port}/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Name { get; }
    public int Port { get; }
    public string Url { get; }
    public volatile bool Healthy = true;

    public IReadOnlyList<string> Bodies { get { lock (_bodies) return [.. _bodies]; } }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try
            {
                if (ctx.Request.HttpMethod == "POST")
                {
                    using var r = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
                    var body = await r.ReadToEndAsync();
                    lock (_bodies) _bodies.Add(body);
                    ctx.Response.StatusCode = 200;
                }
                else
                {
                    ctx.Response.StatusCode = Healthy ? 200 : 503;
                    var bytes = Encoding.UTF8.GetBytes(Healthy ? $"ok {Name}\n" : "unavailable\n");
                    await ctx.Response.OutputStream.WriteAsync(bytes);
                }
                ctx.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException) { }
        }
    }

    public void Stop()
    {
        if (_listener.IsListening) _listener.Stop();
    }

    public void Dispose()
    {
        // Close alone (it stops too). After Stop (an outage a test made), the managed HttpListener's Close binds the port
        // again to remove its prefix, which fails with "Address already in use" when another socket has taken the port.
        try { _listener.Close(); }
        catch (HttpListenerException) { }
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
