using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Lifeboat.Core.Config;

/// <summary>
/// The HTTP listeners a config opens (S3 event webhooks of bucket resources, <c>metrics:</c>, <c>serve:</c>) and their
/// authentication: a token is never empty, a listener reachable from other hosts has a token or says
/// <c>insecure: true</c>, and no two listeners or routes collide (a collision fails at start, or worse, makes every
/// request to the route answer 500).
/// </summary>
public static partial class ConfigLoader
{
    /// <summary><c>token</c> or <c>token_env</c> of an <c>events:</c> or <c>serve:</c> section; null when neither is
    /// given. An empty token would let every request through, so it is an error wherever it comes from.</summary>
    private static string? ReadToken(YamlMap m)
    {
        var token = m.OptString("token");
        if (m.Has("token") && string.IsNullOrWhiteSpace(token))
            throw m.Error("token", "is empty: an empty token would accept every request; set one (token_env preferred) or remove the key");
        if (m.Has("token_env"))
        {
            var env = m.OptString("token_env") ?? throw m.Error("token_env", "name an environment variable");
            if (token is not null) throw m.Error("token_env", "give token or token_env, not both");
            token = Environment.GetEnvironmentVariable(env);
            if (token is null) throw m.Error("token_env", $"environment variable {env} is not set");
            if (string.IsNullOrWhiteSpace(token)) throw m.Error("token_env", $"environment variable {env} is empty: an empty token would accept every request");
        }
        if (token is not null && token.Trim().Length != token.Length)
            throw m.Error(m.Has("token_env") ? "token_env" : "token", "the token begins or ends with white space, which HTTP drops from a header: remove it");
        return token;
    }

    /// <summary>A POST route's path: it starts with '/' and is plain (ASP.NET would read braces as a parameter).</summary>
    private static string ReadPath(YamlMap m, string key)
    {
        var path = m.OptString(key) ?? "/events";
        if (!path.StartsWith('/')) throw m.Error(key, "must start with '/'");
        if (path.Any(c => c is '{' or '}' or '*' or '?' or '#' or '\\' || char.IsWhiteSpace(c) || char.IsControl(c)))
            throw m.Error(key, $"'{path}' is not a plain URL path (no braces, '*', '?', '#', '\\' or spaces)");
        return path;
    }

    /// <summary>A listener other hosts can reach needs a token, or <c>insecure: true</c> said knowingly (then true:
    /// logged as a warning at every start).</summary>
    private static bool ReadInsecure(YamlMap m, string listenKey, IPEndPoint listen, string? token)
    {
        var insecure = m.OptBool("insecure") ?? false;
        if (token is not null || IPAddress.IsLoopback(listen.Address)) return false;
        if (!insecure)
            throw m.Error(listenKey, $"{listen} is reachable from other hosts but no token is set: set token_env (or token), " +
                                     "or write insecure: true to accept requests without one");
        return true;
    }

    /// <param name="Shared">a resource's event route: resources with the same path share it.</param>
    /// <param name="Fixed">built in (not a config key): the other route of a collision is the one to change.</param>
    private sealed record RouteUse(string Method, string Path, ConfigLocation Where, string What, bool Shared, bool Fixed = false);

    private sealed record ListenerUse(IPEndPoint Listen, ConfigLocation Where, string What, List<RouteUse> Routes);

    // Routes every listener serves (WebhookServer), and those serve adds to its own (ServeCommand.MapApi).
    private static readonly (string Method, string Path)[] BuiltIn = [("GET", "/metrics"), ("GET", "/healthz")];

    private static readonly (string Method, string Path)[] ServeApi =
    [
        ("GET", "/api/status"), ("GET", "/api/executions"), ("GET", "/api/executions/{id}"),
        ("POST", "/api/executions/{id}/approve"), ("POST", "/api/failover"),
    ];

    /// <summary>
    /// Refuses listeners that cannot work together, as <c>replicate</c> composes them (one listener per events
    /// address; <c>metrics:</c> on its own unless on an events address) and, with <paramref name="withServe"/>, as
    /// <c>serve</c> does (events on serve's address join its listener, beside the API and the rules' event path):
    /// two addresses that bind the same port (one of them every interface), and two routes of one listener with the
    /// same method and path (resources sharing a path share one route, as designed).
    /// </summary>
    public static void CheckListeners(LifeboatConfig cfg, bool withServe)
    {
        Check(Compose(cfg, serve: false));
        if (withServe) Check(Compose(cfg, serve: true));
    }

    private static List<ListenerUse> Compose(LifeboatConfig cfg, bool serve)
    {
        var listeners = new List<ListenerUse>();
        ListenerUse Listener(IPEndPoint ep, ConfigLocation where, string what)
        {
            if (listeners.FirstOrDefault(l => l.Listen.Equals(ep)) is { } l) return l;
            var n = new ListenerUse(ep, where, what, []);
            foreach (var (method, path) in BuiltIn) n.Routes.Add(new RouteUse(method, path, where, $"the built-in {method} {path}", false, Fixed: true));
            listeners.Add(n);
            return n;
        }
        if (serve)
        {
            var s = cfg.Recovery.Serve;
            // Line 0: serve's defaults, written nowhere (never the place an error is reported).
            var where = s.ListenWhere ?? new ConfigLocation(cfg.File, 0, $"serve's default: listen {s.Listen}, events_path {s.EventsPath}");
            var l = Listener(s.Listen, where, "serve.listen");
            foreach (var (method, path) in ServeApi) l.Routes.Add(new RouteUse(method, path, where, $"serve's API ({method} {path})", false, Fixed: true));
            l.Routes.Add(new RouteUse("POST", s.EventsPath, s.PathWhere ?? where, "serve.events_path (the rules' event endpoint)", false));
        }
        foreach (var r in cfg.Resources)
        {
            if (r.Events is not { } e) continue;
            var listenAt = e.ListenWhere ?? new ConfigLocation(cfg.File, r.Where.Line, $"{r.Where.Key}.events.listen");
            var l = Listener(e.Listen, listenAt, $"{r.Where.Key}.events.listen");
            l.Routes.Add(new RouteUse("POST", e.Path, e.PathWhere ?? listenAt, $"{r.Where.Key}.events.path", true));
        }
        // replicate only: serve answers /metrics on its own listener and opens no metrics: listener.
        if (!serve && cfg.Metrics is { } m) Listener(m.Listen, m.Where ?? new ConfigLocation(cfg.File, 1, "metrics.listen"), "metrics.listen");
        return listeners;
    }

    private static void Check(List<ListenerUse> listeners)
    {
        for (var i = 0; i < listeners.Count; i++)
        for (var j = 0; j < i; j++)
        {
            var (a, b) = (listeners[j], listeners[i]);
            if (a.Listen.Port != b.Listen.Port || !Overlap(a.Listen.Address, b.Listen.Address)) continue;
            var (first, later) = Order(a.Where, a, b.Where, b);
            throw Conflict(later.Where, $"{later.What} {later.Listen} and {first.What} {first.Listen} ({Place(first.Where)}) bind the same port " +
                                        $"{a.Listen.Port.ToString(CultureInfo.InvariantCulture)}: give them the same address (one listener then serves both) or different ports");
        }
        foreach (var l in listeners)
        for (var i = 0; i < l.Routes.Count; i++)
        for (var j = 0; j < i; j++)
        {
            var (a, b) = (l.Routes[j], l.Routes[i]);
            if (a.Method != b.Method || !SamePath(a.Path, b.Path)) continue;
            if (a.Shared && b.Shared && a.Path == b.Path) continue; // resources sharing one path share its route
            // Reported at the key to change: a resource's path before serve's, a config key before a built-in route.
            var (first, later) = Rank(a) != Rank(b) ? (Rank(a) < Rank(b) ? (a, b) : (b, a)) : Order(a.Where, a, b.Where, b);
            throw Conflict(later.Where, $"{later.What} {later.Method} {later.Path} on {l.Listen} collides with {first.What} ({Place(first.Where)}): " +
                                        "requests to it would fail as ambiguous; give it another path");
        }
    }

    private static (T First, T Later) Order<T>(ConfigLocation wa, T a, ConfigLocation wb, T b) =>
        (wa.Line, wa.Column).CompareTo((wb.Line, wb.Column)) <= 0 ? (a, b) : (b, a);

    private static int Rank(RouteUse r) => r.Fixed ? 0 : r.Shared ? 2 : 1;

    private static string Place(ConfigLocation w) => w.Line == 0 ? w.Key : $"line {w.Line.ToString(CultureInfo.InvariantCulture)}";

    private static ConfigException Conflict(ConfigLocation at, string message) => new(at.File, at.Line, at.Column, at.Key, message);

    /// <summary>Whether two listen addresses take the same sockets: equal, or one of them every interface (IPv6's
    /// any-address listens in dual mode, so it takes IPv4's too).</summary>
    private static bool Overlap(IPAddress a, IPAddress b)
    {
        static bool Covers(IPAddress any, IPAddress x) =>
            any.Equals(IPAddress.IPv6Any) || (any.Equals(IPAddress.Any) && x.AddressFamily == AddressFamily.InterNetwork);
        return a.Equals(b) || Covers(a, b) || Covers(b, a);
    }

    /// <summary>Paths as ASP.NET routing matches them: case-insensitive, a trailing '/' ignored, a <c>{parameter}</c>
    /// segment matching any one segment.</summary>
    private static bool SamePath(string a, string b)
    {
        var sa = a.TrimEnd('/').Split('/');
        var sb = b.TrimEnd('/').Split('/');
        if (sa.Length != sb.Length) return false;
        for (var i = 0; i < sa.Length; i++)
        {
            if (sa[i].StartsWith('{') || sb[i].StartsWith('{')) { if (sa[i].Length == 0 || sb[i].Length == 0) return false; continue; }
            if (!string.Equals(sa[i], sb[i], StringComparison.OrdinalIgnoreCase)) return false;
        }
        return true;
    }
}
