using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Providers.Dns;

/// <summary>Details of a DNS error answer, kept as the inner exception of the <see cref="StoreException"/> thrown.</summary>
public sealed class DnsErrorException(string message, int rcode, int tsigError, string server) : Exception(message)
{
    /// <summary>The header RCODE (e.g. 9 NOTAUTH), or -1 when there was no answer.</summary>
    public int Rcode { get; } = rcode;
    /// <summary>The TSIG error (16 BADSIG, 17 BADKEY, 18 BADTIME), 0 when none.</summary>
    public int TsigError { get; } = tsigError;
    public string Server { get; } = server;
}

public sealed class DnsClientOptions
{
    /// <summary>An IP address or host name.</summary>
    public required string Host { get; init; }
    public int Port { get; init; } = 53;
    /// <summary>Null: requests are sent unsigned (only for queries, or tests of the server's refusal).</summary>
    public TsigKey? Key { get; init; }
    public DnsTransport Transport { get; init; } = DnsTransport.Udp;
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public int Attempts { get; init; } = 3;
    public bool SignQueries { get; init; } = true;
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public string Server => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public static DnsClientOptions From(DnsStoreSettings s, TimeProvider time) => new()
    {
        Host = s.Host, Port = s.Port, Key = s.Key, Transport = s.Transport, Timeout = s.Timeout, Attempts = s.Attempts,
        SignQueries = s.SignQueries, Time = time,
    };
}

/// <summary>The answer to a query: the response's RCODE, whether it was authoritative, and its records.</summary>
public sealed record DnsQueryResult(int Rcode, bool Authoritative, IReadOnlyList<DnsRecord> Answers, IReadOnlyList<DnsRecord> Authority, bool OverTcp);

/// <summary>
/// A DNS client for RFC 2136 UPDATE and plain queries against one authoritative server, TSIG-signed (RFC 8945).
/// UDP with retries and a TCP retry when the answer is truncated (TC), or TCP only. Every error names the server.
/// Written by hand: no DNS library is reachable here.
/// </summary>
public sealed class DnsClient(DnsClientOptions options)
{
    private readonly Tsig? _tsig = options.Key is null ? null : new Tsig(options.Key);

    public DnsClientOptions Options { get; } = options;

    private long Now => Options.Time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>Sends an RFC 2136 UPDATE for <paramref name="zone"/>; throws a <see cref="StoreException"/> naming the
    /// server, zone and key unless the server answers NOERROR with a valid signature.</summary>
    public async Task UpdateAsync(string zone, IReadOnlyList<DnsRecord> prerequisites, IReadOnlyList<DnsRecord> updates, CancellationToken ct, bool sign = true)
    {
        var m = new DnsMessage { Id = NewId(), Opcode = DnsOpcode.Update };
        m.Questions.Add(new DnsQuestion(DnsName.Normalize(zone), DnsType.SOA));
        m.Answers.AddRange(prerequisites);
        m.Authority.AddRange(updates);
        var what = $"DNS update of zone {DnsName.Normalize(zone)} at {Options.Server}";
        var (resp, _) = await ExchangeAsync(m, sign, what, ct).ConfigureAwait(false);
        if (resp.Rcode != DnsRcode.NoError)
            throw Failure(what, resp.Rcode, 0, Explain(resp.Rcode, zone, sign && _tsig is not null), StoreErrorKind.Permanent);
    }

    /// <summary>Asks the server for <paramref name="name"/> <paramref name="type"/> (no recursion). Error RCODEs other
    /// than NXDOMAIN throw.</summary>
    public async Task<DnsQueryResult> QueryAsync(string name, ushort type, CancellationToken ct)
    {
        var m = new DnsMessage { Id = NewId(), Opcode = DnsOpcode.Query };
        m.Questions.Add(new DnsQuestion(DnsName.Normalize(name), type));
        var what = $"DNS query {DnsName.Normalize(name)} {DnsType.Name(type)} at {Options.Server}";
        var (resp, tcp) = await ExchangeAsync(m, Options.SignQueries, what, ct).ConfigureAwait(false);
        if (resp.Rcode is not (DnsRcode.NoError or DnsRcode.NxDomain))
            throw Failure(what, resp.Rcode, 0, Explain(resp.Rcode, null, Options.SignQueries && _tsig is not null), resp.Rcode == DnsRcode.ServFail ? StoreErrorKind.Transient : StoreErrorKind.Permanent);
        if (resp.Questions.Count != 1 || !DnsName.Equal(resp.Questions[0].Name, name) || resp.Questions[0].Type != type)
            throw Failure(what, resp.Rcode, 0, "the answer is for another question", StoreErrorKind.Permanent);
        return new DnsQueryResult(resp.Rcode, resp.Authoritative, resp.Answers, resp.Authority, tcp);
    }

    private static ushort NewId() => (ushort)RandomNumberGenerator.GetInt32(0, 65536);

    private StoreException Failure(string what, int rcode, int tsigError, string detail, StoreErrorKind kind)
    {
        var code = tsigError != 0 ? $"{DnsRcode.Name(rcode)}/{DnsRcode.Name(tsigError)}" : rcode >= 0 ? DnsRcode.Name(rcode) : "no answer";
        var msg = $"{what} failed: {code}: {detail}";
        return new StoreException(kind, msg, new DnsErrorException(msg, rcode, tsigError, Options.Server));
    }

    private string KeyText => Options.Key is null ? "no key" : $"key '{Options.Key.Name}' ({Options.Key.Algorithm})";

    private string Explain(int rcode, string? zone, bool signed) => rcode switch
    {
        DnsRcode.Refused => signed
            ? $"the server refused it: {KeyText} is not allowed to make this change (the zone's update-policy / allow-update), or updates are not accepted for {zone ?? "this zone"}"
            : "the server refused the unsigned request (updates must be signed with a TSIG key)",
        DnsRcode.NotAuth => zone is null ? "the server is not authoritative for the name" : $"the server is not authoritative for zone {zone}",
        DnsRcode.NotZone => $"a name in the update is outside zone {zone}",
        DnsRcode.ServFail => "the server failed to process it (SERVFAIL; e.g. it could not write the zone journal; see its log)",
        DnsRcode.FormErr => "the server could not parse the request (FORMERR)",
        DnsRcode.NotImp => "the server does not implement this operation (NOTIMP: dynamic updates not supported?)",
        DnsRcode.YxDomain => "prerequisite failed: a name that must not exist exists",
        DnsRcode.YxRrset => "prerequisite failed: a record set that must not exist exists",
        DnsRcode.NxRrset => "prerequisite failed: a record set that must exist does not (or has other values)",
        DnsRcode.NxDomain => "prerequisite failed: a name that must exist does not",
        _ => $"the server answered {DnsRcode.Name(rcode)}",
    };

    private string TsigExplain(int error, TsigRdata t) => error switch
    {
        DnsRcode.BadSig => $"the server rejected the signature of {KeyText}: its copy of the key has another secret (or algorithm)",
        DnsRcode.BadKey => $"the server does not know {KeyText}",
        DnsRcode.BadTime => t.OtherData.Length == 6
            ? $"the server's clock ({DateTimeOffset.FromUnixTimeSeconds(ReadU48(t.OtherData)):u}) and ours ({Options.Time.GetUtcNow():u}) differ by more than the fudge of {t.Fudge} s"
            : $"our clock ({Options.Time.GetUtcNow():u}) differs from the server's by more than the fudge of {t.Fudge} s",
        DnsRcode.BadTrunc => "the server rejected the truncated MAC",
        _ => $"TSIG error {error}",
    };

    private static long ReadU48(byte[] b) => ((long)b[0] << 40) | ((long)b[1] << 32) | ((long)b[2] << 24) | ((long)b[3] << 16) | ((long)b[4] << 8) | b[5];

    /// <summary>Sends a message (signed when asked and a key is set) and returns the verified response.</summary>
    internal async Task<(DnsMessage Response, bool OverTcp)> ExchangeAsync(DnsMessage request, bool sign, string what, CancellationToken ct)
    {
        var bytes = request.Encode();
        byte[]? requestMac = null;
        if (sign && _tsig is not null)
            (bytes, requestMac) = _tsig.Sign(bytes, Now);
        var endpoint = await ResolveAsync(what, ct).ConfigureAwait(false);

        // RFC 1035 4.2.1: UDP messages are limited to 512 bytes (no EDNS here); larger requests go over TCP.
        var tcp = Options.Transport == DnsTransport.Tcp || bytes.Length > 512;
        byte[] raw = [];
        DnsMessage? resp = null;
        if (!tcp)
        {
            raw = await UdpAsync(endpoint, bytes, request.Id, what, ct).ConfigureAwait(false);
            resp = Parse(raw, what);
            if (resp.Truncated) tcp = true; // RFC 1035 4.2.1 / RFC 7766: retry over TCP
        }
        if (tcp)
        {
            raw = await TcpAsync(endpoint, bytes, what, ct).ConfigureAwait(false);
            resp = Parse(raw, what);
            if (resp.Id != request.Id) throw Failure(what, -1, 0, $"the answer's ID {resp.Id} does not match the request's {request.Id}", StoreErrorKind.Permanent);
            if (resp.Truncated) throw Failure(what, -1, 0, "the answer over TCP is truncated", StoreErrorKind.Permanent);
        }
        if (!resp!.IsResponse || resp.Opcode != request.Opcode)
            throw Failure(what, -1, 0, "the server's answer is not a response to this request (QR/opcode)", StoreErrorKind.Permanent);

        if (requestMac is not null)
        {
            var tsigRr = resp.Tsig;
            if (tsigRr is null)
            {
                // BIND answers an update it cannot authenticate without TSIG (e.g. FORMERR); a NOERROR answer must be signed.
                if (resp.Rcode != DnsRcode.NoError)
                    throw Failure(what, resp.Rcode, 0, $"{Explain(resp.Rcode, request.Opcode == DnsOpcode.Update ? request.Questions[0].Name : null, true)} (the answer is unsigned)", StoreErrorKind.Permanent);
                throw Failure(what, resp.Rcode, 0, $"the answer is not signed although the request was signed with {KeyText}: it cannot be trusted", StoreErrorKind.Permanent);
            }
            TsigRdata t;
            try { t = TsigRdata.Decode(tsigRr.Data); }
            catch (DnsFormatException e) { throw Failure(what, resp.Rcode, 0, $"the answer's TSIG record does not parse: {e.Message}", StoreErrorKind.Permanent); }
            if (t.Error != 0)
            {
                // BADSIG and BADKEY answers carry no MAC (RFC 8945 5.3.2); a BADTIME answer is signed.
                var reason = t.Error == DnsRcode.BadTime && t.Mac.Length > 0 ? _tsig!.VerifyResponse(requestMac, raw, resp, t, ReadU48Safe(t)) : null;
                throw Failure(what, resp.Rcode, t.Error, TsigExplain(t.Error, t) + (reason is null ? "" : $" ({reason})"), StoreErrorKind.Permanent);
            }
            var problem = _tsig!.VerifyResponse(requestMac, raw, resp, t, Now);
            if (problem is not null)
                throw Failure(what, resp.Rcode, 0, problem, StoreErrorKind.Permanent);
        }
        return (resp, tcp);
    }

    // For a BADTIME answer, the signature is checked against the server's own time (its clock is what differs).
    private static long ReadU48Safe(TsigRdata t) => t.OtherData.Length == 6 ? ReadU48(t.OtherData) : t.TimeSigned;

    private DnsMessage Parse(byte[] raw, string what)
    {
        try { return DnsMessage.Decode(raw); }
        catch (DnsFormatException e)
        {
            throw Failure(what, -1, 0, $"the server's answer does not parse: {e.Message}", StoreErrorKind.Permanent);
        }
    }

    private async Task<IPEndPoint> ResolveAsync(string what, CancellationToken ct)
    {
        if (IPAddress.TryParse(Options.Host, out var ip)) return new IPEndPoint(ip, Options.Port);
        try
        {
            var addrs = await System.Net.Dns.GetHostAddressesAsync(Options.Host, ct).ConfigureAwait(false);
            var a = addrs.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addrs.FirstOrDefault()
                    ?? throw Failure(what, -1, 0, $"host name {Options.Host} has no address", StoreErrorKind.Transient);
            return new IPEndPoint(a, Options.Port);
        }
        catch (SocketException e)
        {
            throw Failure(what, -1, 0, $"cannot resolve {Options.Host}: {e.Message}", StoreErrorKind.Transient);
        }
    }

    private async Task<byte[]> UdpAsync(IPEndPoint endpoint, byte[] request, ushort id, string what, CancellationToken ct)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
        var buffer = new byte[65535];
        for (var attempt = 1; attempt <= Options.Attempts; attempt++)
        {
            using var timeout = new CancellationTokenSource(Options.Timeout, Options.Time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            try
            {
                await socket.SendAsync(request, SocketFlags.None, linked.Token).ConfigureAwait(false);
                while (true)
                {
                    var n = await socket.ReceiveAsync(buffer, SocketFlags.None, linked.Token).ConfigureAwait(false);
                    // Datagrams of other (earlier, timed-out) requests are skipped: the answer must carry our ID.
                    if (n >= 12 && BinaryPrimitives.ReadUInt16BigEndian(buffer) == id) return buffer[..n];
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // no answer in time: try again
            }
            catch (SocketException e)
            {
                throw Failure(what, -1, 0, e.SocketErrorCode == SocketError.ConnectionRefused
                    ? $"nothing answers on {Options.Server}/udp (connection refused)"
                    : $"{Options.Server}/udp: {e.Message}", StoreErrorKind.Transient);
            }
        }
        throw Failure(what, -1, 0, $"no answer from {Options.Server}/udp after {Options.Attempts} attempt(s) of {Options.Timeout.TotalSeconds:0.#} s", StoreErrorKind.Transient);
    }

    private async Task<byte[]> TcpAsync(IPEndPoint endpoint, byte[] request, string what, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(Options.Timeout * Math.Max(1, Options.Attempts), Options.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, linked.Token).ConfigureAwait(false);
            var framed = new byte[request.Length + 2];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)request.Length);
            request.CopyTo(framed, 2);
            await socket.SendAsync(framed, SocketFlags.None, linked.Token).ConfigureAwait(false);
            var len = new byte[2];
            await ReadExactAsync(socket, len, linked.Token).ConfigureAwait(false);
            var body = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
            await ReadExactAsync(socket, body, linked.Token).ConfigureAwait(false);
            return body;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw Failure(what, -1, 0, $"no answer from {Options.Server}/tcp in {(Options.Timeout * Math.Max(1, Options.Attempts)).TotalSeconds:0.#} s", StoreErrorKind.Transient);
        }
        catch (SocketException e)
        {
            throw Failure(what, -1, 0, e.SocketErrorCode == SocketError.ConnectionRefused
                ? $"nothing listens on {Options.Server}/tcp (connection refused)"
                : $"{Options.Server}/tcp: {e.Message}", StoreErrorKind.Transient);
        }
        catch (EndOfStreamException)
        {
            throw Failure(what, -1, 0, $"{Options.Server}/tcp closed the connection before answering", StoreErrorKind.Transient);
        }
    }

    private static async Task ReadExactAsync(Socket s, byte[] buf, CancellationToken ct)
    {
        var got = 0;
        while (got < buf.Length)
        {
            var n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException();
            got += n;
        }
    }
}
