using System.Net;
using System.Net.Sockets;

namespace Lifeboat.Providers.Aws;

/// <summary>
/// The TCP connections of Lifeboat's own HTTP clients (<c>SocketsHttpHandler.ConnectCallback</c>): what the handler
/// does by default (a dual-mode socket with Nagle off, connected to the request's host and port), except that on Linux
/// every read first asks the kernel for an immediate ACK (TCP_QUICKACK).
/// Why: a server that writes a response in two pieces (headers, then a small chunked body) with Nagle's algorithm on,
/// as Ceph RGW's default frontend does, holds the body until the headers are acknowledged; on a reused connection the
/// client kernel delays that ACK by up to 40 ms (delayed ACK in "pingpong" mode), so every listing page and every
/// CopyObject answer on a kept-alive connection took 40 ms longer than the server needed (seen in tcpdump, ADR 0007).
/// Quick-ack mode is not sticky (the kernel leaves it when the connection turns interactive again), hence one
/// setsockopt per read; the cost is one syscall and, on bulk downloads, somewhat more ACK packets.
/// </summary>
public static class QuickAckConnection
{
    private const int IpProtoTcp = 6;   // IPPROTO_TCP
    private const int TcpQuickAck = 12; // TCP_QUICKACK (linux/tcp.h)

    /// <summary>For <c>SocketsHttpHandler.ConnectCallback</c>.</summary>
    public static ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct) => ConnectAsync(context.DnsEndPoint, ct);

    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return OperatingSystem.IsLinux() ? new QuickAckStream(socket) : new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Whether the socket is in quick-ack mode now (Linux; for tests).</summary>
    public static bool InQuickAckMode(Socket socket)
    {
        var value = new byte[4];
        socket.GetRawSocketOption(IpProtoTcp, TcpQuickAck, value);
        return BitConverter.ToInt32(value) != 0;
    }

    internal sealed class QuickAckStream(Socket socket) : NetworkStream(socket, ownsSocket: true)
    {
        private static readonly byte[] On = BitConverter.GetBytes(1);
        private bool _unsupported;

        private void QuickAck()
        {
            if (_unsupported) return;
            try { Socket.SetRawSocketOption(IpProtoTcp, TcpQuickAck, On); }
            catch (SocketException) { _unsupported = true; } // e.g. a kernel without it: reads work as usual
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            QuickAck();
            return base.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            QuickAck();
            return base.ReadAsync(buffer, offset, count, cancellationToken);
        }

        public override int Read(Span<byte> buffer)
        {
            QuickAck();
            return base.Read(buffer);
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            QuickAck();
            return base.Read(buffer, offset, count);
        }
    }
}
