using System.Net;
using System.Net.Sockets;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// A TCP proxy on 127.0.0.1 (port 0, read back) in front of a real server (Ceph RGW, DynamoDB Local) that lets a
/// budget of request bytes through and then holds all traffic: crash tests kill the CLI at a point of progress the copy
/// cannot outrun. While the budget lasts, bytes pass both ways unchanged. Once <see cref="Allow"/>'s budget of
/// client-to-server bytes is used up (<see cref="Exhausted"/>), nothing more reaches the server and no answer reaches
/// the client, however fast the client is: a copy that needs more bytes than the budget is provably still in progress.
/// After the kill, <see cref="DropConnections"/> discards what was held (the server sees the connections close, as when
/// a client dies), and the next budget, or <see cref="Open"/>, lets the next run through.
/// </summary>
public sealed class GatedProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _upstreamHost;
    private readonly int _upstreamPort;
    private readonly Lock _gate = new();
    private readonly List<Link> _links = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private long _limit = long.MaxValue;
    private long _forwarded;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public GatedProxy(string upstream)
    {
        var u = new Uri(upstream);
        (_upstreamHost, _upstreamPort) = (u.Host, u.Port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>The proxy as an endpoint URL, for a store's <c>endpoint:</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Client-to-server bytes passed on so far.</summary>
    public long Forwarded { get { lock (_gate) return _forwarded; } }

    /// <summary>The budget is used up: from now on the proxy holds every byte, both ways.</summary>
    public bool Exhausted { get { lock (_gate) return _forwarded >= _limit; } }

    /// <summary>Lets <paramref name="bytes"/> more client-to-server bytes through, then holds all traffic.</summary>
    public void Allow(long bytes)
    {
        lock (_gate)
        {
            _limit = _forwarded + bytes;
            Changed();
        }
    }

    /// <summary>No budget: everything passes.</summary>
    public void Open()
    {
        lock (_gate)
        {
            _limit = long.MaxValue;
            Changed();
        }
    }

    /// <summary>Closes every connection, discarding held bytes (call it once the client was killed).</summary>
    public void DropConnections()
    {
        List<Link> links;
        lock (_gate) { links = [.. _links]; _links.Clear(); }
        foreach (var l in links) l.Close();
    }

    private void Changed()
    {
        var old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try { await server.ConnectAsync(_upstreamHost, _upstreamPort, _stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }
            var link = new Link(client, server);
            lock (_gate) _links.Add(link);
            _ = Task.Run(() => RunAsync(link));
        }
    }

    private async Task RunAsync(Link link)
    {
        await Task.WhenAll(PumpAsync(link, request: true), PumpAsync(link, request: false));
        lock (_gate) _links.Remove(link);
        link.Close();
    }

    /// <summary>Copies one direction until its sender closes; a failure on either side closes the whole link.</summary>
    private async Task PumpAsync(Link link, bool request)
    {
        var (from, to) = request ? (link.Client, link.Server) : (link.Server, link.Client);
        var buf = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buf, SocketFlags.None, link.Token);
                if (n == 0) break;
                for (var off = 0; off < n;)
                {
                    var take = request ? await TakeAsync(n - off, link.Token) : await WhileExhaustedAsync(n - off, link.Token);
                    await to.SendAsync(buf.AsMemory(off, take), SocketFlags.None, link.Token);
                    off += take;
                }
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            link.Close();
        }
    }

    /// <summary>Takes up to <paramref name="want"/> bytes of the budget, waiting while none is left.</summary>
    private async Task<int> TakeAsync(int want, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                var left = _limit - _forwarded;
                if (left > 0)
                {
                    var n = (int)Math.Min(left, want);
                    _forwarded += n;
                    if (_forwarded >= _limit) Changed();
                    return n;
                }
                wait = _changed.Task;
            }
            await wait.WaitAsync(ct);
        }
    }

    /// <summary>Answers pass while the budget lasts; once it is used up they are held too.</summary>
    private async Task<int> WhileExhaustedAsync(int n, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_forwarded < _limit) return n;
                wait = _changed.Task;
            }
            await wait.WaitAsync(ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        DropConnections();
        await _accept;
        _stop.Dispose();
    }

    private sealed class Link(Socket client, Socket server)
    {
        private readonly CancellationTokenSource _cts = new();
        private int _closed;
        public Socket Client { get; } = client;
        public Socket Server { get; } = server;
        public CancellationToken Token => _cts.Token;

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            _cts.Cancel();
            Client.Dispose();
            Server.Dispose();
        }
    }
}
