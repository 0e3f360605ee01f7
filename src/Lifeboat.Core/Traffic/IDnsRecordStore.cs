namespace Lifeboat.Core.Traffic;

/// <summary>One DNS record set: every value of one name and type (e.g. the A records of app.example.internal).</summary>
public sealed record DnsRecordSet(string Name, string Type, IReadOnlyList<string> Values, int Ttl);

/// <summary>
/// Where traffic is switched: an authoritative DNS zone updated by RFC 2136 (BIND, Knot, PowerDNS) or a Route 53
/// hosted zone. A failed or refused change throws with the server's answer (never returns quietly).
/// </summary>
public interface IDnsRecordStore
{
    /// <summary>The store's name in the config, for messages.</summary>
    string Name { get; }

    /// <summary>Replace the record set (all values of name+type) and return once the authoritative side has applied it
    /// (RFC 2136: the server answered NOERROR; Route 53: the change is INSYNC).</summary>
    Task SetAsync(DnsRecordSet records, CancellationToken ct);

    /// <summary>The record set as the authoritative server answers it now; null when there is none.</summary>
    Task<DnsRecordSet?> GetAsync(string name, string type, CancellationToken ct);
}
