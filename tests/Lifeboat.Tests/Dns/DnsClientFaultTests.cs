using System.Net;
using System.Net.Sockets;
using Lifeboat.Abstractions;
using Lifeboat.Core.Traffic;
using Lifeboat.Providers.Dns;
using Lifeboat.Tests.Infrastructure;
using Xunit;

namespace Lifeboat.Tests.Dns;

/// <summary>The client against a scripted UDP peer on 127.0.0.1: silence (timeouts on a manual clock) and forged answers.</summary>
public sealed class DnsClientFaultTests
{
    private static readonly TsigKey Key = TsigKeyFile.Parse("k.key", "key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=\"; };").Single();

    private static Socket Peer(out int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 30_000 };
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        port = ((IPEndPoint)s.LocalEndPoint!).Port;
        return s;
    }

    [Fact]
    public async Task Silence_IsRetried_ThenReportedWithTheServer()
    {
        using var peer = Peer(out var port);
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_795_000_000));
        var client = new DnsClient(new DnsClientOptions { Host = "127.0.0.1", Port = port, Key = Key, Timeout = TimeSpan.FromSeconds(2), Attempts = 2, Time = clock });
        var query = client.QueryAsync("a.example.internal", DnsType.A, CancellationToken.None);

        var buf = new byte[1024];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        var n1 = peer.ReceiveFrom(buf, ref from);
        var first = DnsMessage.Decode(buf.AsMemory(0, n1).ToArray());
        Assert.NotNull(first.Tsig); // queries are signed
        clock.Advance(TimeSpan.FromSeconds(2));
        var n2 = peer.ReceiveFrom(buf, ref from);
        Assert.Equal(first.Id, DnsMessage.Decode(buf.AsMemory(0, n2).ToArray()).Id); // the same request again
        clock.Advance(TimeSpan.FromSeconds(2));

        var e = await Assert.ThrowsAsync<StoreException>(() => query);
        Assert.Equal(StoreErrorKind.Transient, e.Kind);
        Assert.Contains($"no answer from 127.0.0.1:{port}/udp after 2 attempt(s) of 2 s", e.Message);
    }

    [Fact]
    public async Task ForgedAnswers_AreIgnoredOrRejected()
    {
        using var peer = Peer(out var port);
        var client = new DnsClient(new DnsClientOptions { Host = "127.0.0.1", Port = port, Key = Key, Timeout = TimeSpan.FromSeconds(20), Attempts = 1 });
        var query = client.QueryAsync("a.example.internal", DnsType.A, CancellationToken.None);

        var buf = new byte[1024];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        var n = peer.ReceiveFrom(buf, ref from);
        var request = DnsMessage.Decode(buf.AsMemory(0, n).ToArray());

        DnsMessage Answer(ushort id)
        {
            var m = new DnsMessage { Id = id, IsResponse = true, Opcode = DnsOpcode.Query, Authoritative = true };
            m.Questions.Add(request.Questions[0]);
            m.Answers.Add(new DnsRecord("a.example.internal", DnsType.A, DnsClass.IN, 300, [6, 6, 6, 6]));
            return m;
        }
        // Another ID: skipped. Then the right ID but unsigned (or signed with another key): rejected, never believed.
        peer.SendTo(Answer((ushort)(request.Id + 1)).Encode(), from);
        peer.SendTo(Answer(request.Id).Encode(), from);
        var e = await Assert.ThrowsAsync<StoreException>(() => query);
        Assert.Contains("not signed although the request was signed with key 'k'", e.Message);
        Assert.Contains($"127.0.0.1:{port}", e.Message);

        query = client.QueryAsync("a.example.internal", DnsType.A, CancellationToken.None);
        n = peer.ReceiveFrom(buf, ref from);
        request = DnsMessage.Decode(buf.AsMemory(0, n).ToArray());
        var other = new Tsig(Key with { Secret = new byte[32] });
        var (signed, _) = other.Sign(Answer(request.Id).Encode(), TimeProvider.System.GetUtcNow().ToUnixTimeSeconds());
        peer.SendTo(signed, from);
        e = await Assert.ThrowsAsync<StoreException>(() => query);
        Assert.Contains("MAC does not verify", e.Message);
    }
}
