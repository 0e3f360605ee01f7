using System.Net;
using System.Net.Sockets;
using System.Text;
using Lifeboat.Providers.Aws;
using Xunit;

namespace Lifeboat.Tests.Unit;

/// <summary>The connections of Lifeboat's HTTP clients ask Linux for immediate ACKs before each read (ADR 0007): a
/// server with Nagle on (Ceph RGW) otherwise holds a response's body ~40 ms until the headers are acknowledged.</summary>
public sealed class QuickAckConnectionTests
{
    private static (TcpListener Listener, int Port) Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return (listener, ((IPEndPoint)listener.LocalEndpoint).Port);
    }

    [Fact] // Linux only (TCP_QUICKACK), as the suite
    public async Task EachRead_PutsTheSocketBackInQuickAckMode()
    {
        var (listener, port) = Listen();
        using var _ = listener;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang fails the test, it does not time it
        var ct = cts.Token;
        var accept = listener.AcceptSocketAsync(ct);
        await using var stream = (NetworkStream)await QuickAckConnection.ConnectAsync(new DnsEndPoint("127.0.0.1", port), ct);
        using var server = await accept;

        // Delayed-ACK ("pingpong") mode, as the kernel enters it on a kept-alive request/response connection.
        stream.Socket.SetRawSocketOption(6, 12, BitConverter.GetBytes(0));
        Assert.False(QuickAckConnection.InQuickAckMode(stream.Socket));

        await server.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\n"), ct);
        var buffer = new byte[64];
        var n = await stream.ReadAsync(buffer, ct);
        Assert.Equal("HTTP/1.1 200 OK\r\n", Encoding.ASCII.GetString(buffer, 0, n));
        Assert.True(QuickAckConnection.InQuickAckMode(stream.Socket));
        Assert.True(stream.Socket.NoDelay);
    }

    [Fact]
    public async Task HttpClient_ReadsAResponseWrittenInPieces()
    {
        // A server writing the headers and each chunk of the body apart, as RGW answers a listing.
        var (listener, port) = Listen();
        using var _ = listener;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang fails the test, it does not time it
        var ct = cts.Token;
        var serve = Task.Run(async () =>
        {
            using var s = await listener.AcceptSocketAsync(ct);
            var request = new byte[4096];
            for (var i = 0; i < 2; i++)
            {
                var got = 0;
                while (!Encoding.ASCII.GetString(request, 0, got).Contains("\r\n\r\n", StringComparison.Ordinal))
                    got += await s.ReceiveAsync(request.AsMemory(got), ct);
                await s.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ct);
                await s.SendAsync(Encoding.ASCII.GetBytes($"6\r\n<a>{i}</\r\n"), ct);
                await s.SendAsync(Encoding.ASCII.GetBytes("2\r\na>\r\n0\r\n\r\n"), ct);
            }
        }, ct);
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = QuickAckConnection.ConnectAsync });
        Assert.Equal("<a>0</a>", await http.GetStringAsync($"http://127.0.0.1:{port}/one", ct));
        Assert.Equal("<a>1</a>", await http.GetStringAsync($"http://127.0.0.1:{port}/two", ct)); // the kept-alive connection
        await serve;
    }
}
