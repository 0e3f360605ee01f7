using System.Net;
using System.Net.Sockets;

namespace Lifeboat.Tests.Infrastructure;

/// <summary>
/// Ports for listeners a test cannot bind itself (the CLI's <c>serve</c>, <c>events</c> and <c>metrics</c> listeners,
/// the product's webhook server, a PostgreSQL server, a service that must come back on the port it had), without a
/// pick-then-bind race. Listeners the test owns bind port 0 and read the port back instead (Kestrel, TcpListener).
/// <para>
/// <see cref="Reserve"/> binds a socket to 127.0.0.1:0 with SO_REUSEADDR and never listens on it, and keeps it for the
/// life of the test process. The kernel chose the port and, while that socket is bound, gives it to no other port-0
/// bind and no outgoing connection; a connection to it is refused until a server listens there. The server's own
/// bind then succeeds because it also sets SO_REUSEADDR (Kestrel and PostgreSQL do on Linux), and a server stopped
/// and started again gets the same port back.
/// </para>
/// </summary>
public static class TestPorts
{
    private static readonly List<Socket> Held = [];

    public static int Reserve()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Exactly SO_REUSEADDR (Linux: level SOL_SOCKET 1, option 2), set directly rather than through .NET's mapping.
        s.SetRawSocketOption(1, 2, BitConverter.GetBytes(1));
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        lock (Held) Held.Add(s);
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
