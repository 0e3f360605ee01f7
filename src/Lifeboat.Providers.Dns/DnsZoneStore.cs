using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Providers.Dns;

/// <summary>
/// A <c>type: dns</c> store: one authoritative zone changed by RFC 2136 dynamic updates signed with TSIG (BIND, Knot,
/// PowerDNS). <see cref="SetAsync"/> replaces a record set in one UPDATE message (delete the RRset, add every value:
/// applied atomically by the server), then reads it back from the server and fails if the server answered NOERROR
/// but holds something else (RFC 2136 3.4.2 lets a server silently ignore e.g. a CNAME next to other data).
/// <see cref="GetAsync"/> asks the server itself (no recursion) and requires an authoritative answer.
/// </summary>
public sealed class DnsZoneStore : IDnsRecordStore
{
    public DnsZoneStore(string name, string zone, DnsClient client)
    {
        Name = name;
        Zone = DnsName.Normalize(zone).ToLowerInvariant();
        Client = client;
    }

    public string Name { get; }
    public string Zone { get; }
    public DnsClient Client { get; }

    private string Where => $"dns store '{Name}' (zone {Zone} at {Client.Options.Server})";

    private (string Name, ushort Type) Check(string name, string type)
    {
        if (!DnsType.TryParse(type, out var t) || !DnsType.Settable.Contains(DnsType.Name(t)))
            throw new UserErrorException($"{Where}: record type '{type}' is not supported (supported: {string.Join(", ", DnsType.Settable)})");
        var n = DnsName.Normalize(name.Trim());
        try { DnsName.Labels(n); }
        catch (FormatException e) { throw new UserErrorException($"{Where}: '{name}' is not a valid domain name: {e.Message}"); }
        if (!DnsName.IsInZone(n, Zone))
            throw new UserErrorException($"{Where}: {n} is outside zone {Zone}: the server is authoritative only for names ending in .{Zone}");
        return (n, t);
    }

    public Task SetAsync(DnsRecordSet records, CancellationToken ct) => SetAsync(records, null, ct);

    /// <summary>
    /// Compare-and-set: like <see cref="SetAsync(DnsRecordSet, CancellationToken)"/>, but the server applies the change
    /// only if the record set holds exactly <paramref name="expectedCurrent"/> (empty: only if there is none), checked
    /// by RFC 2136 prerequisites in the same message, so two switches cannot race. Null: no condition. A failed
    /// condition throws and changes nothing.
    /// </summary>
    public async Task SetAsync(DnsRecordSet records, IReadOnlyList<string>? expectedCurrent, CancellationToken ct)
    {
        var (name, type) = Check(records.Name, records.Type);
        var prerequisites = new List<DnsRecord>();
        if (expectedCurrent is { Count: 0 })
            prerequisites.Add(new DnsRecord(name, type, DnsClass.NONE, 0, [])); // RFC 2136 2.4.3: RRset does not exist
        else if (expectedCurrent is not null)
        {
            foreach (var v in expectedCurrent) // 2.4.2: RRset exists (value dependent)
            {
                try { prerequisites.Add(new DnsRecord(name, type, DnsClass.IN, 0, Rdata.Encode(type, v))); }
                catch (FormatException e) { throw new UserErrorException($"{Where}: expected value of {name} {DnsType.Name(type)}: {e.Message}"); }
            }
        }
        if (records.Ttl < 0) throw new UserErrorException($"{Where}: TTL {records.Ttl} of {name} {records.Type} is negative");
        if (type == DnsType.CNAME && records.Values.Count > 1)
            throw new UserErrorException($"{Where}: {name} CNAME has {records.Values.Count} values; a CNAME has exactly one");
        var updates = new List<DnsRecord>
        {
            // RFC 2136 2.5.2: delete an RRset = NAME, TYPE, class ANY, TTL 0, no RDATA.
            new(name, type, DnsClass.ANY, 0, []),
        };
        var seen = new List<string>();
        foreach (var v in records.Values)
        {
            byte[] data;
            try { data = Rdata.Encode(type, v); }
            catch (FormatException e) { throw new UserErrorException($"{Where}: {name} {DnsType.Name(type)}: {e.Message}"); }
            if (seen.Any(s => Rdata.SameValue(type, s, v))) continue; // an RRset holds each value once
            seen.Add(v);
            // RFC 2136 2.5.1: add to an RRset = NAME, TYPE, class IN, TTL, RDATA.
            updates.Add(new DnsRecord(name, type, DnsClass.IN, (uint)records.Ttl, data));
        }
        try
        {
            await Client.UpdateAsync(Zone, prerequisites, updates, ct).ConfigureAwait(false);
        }
        catch (StoreException e) when (expectedCurrent is not null && e.InnerException is DnsErrorException { Rcode: DnsRcode.NxRrset or DnsRcode.YxRrset })
        {
            var current = await GetAsync(name, DnsType.Name(type), ct).ConfigureAwait(false);
            throw new StoreException(StoreErrorKind.Permanent,
                $"{Where}: {name} {DnsType.Name(type)} was not changed: it holds {(current is null ? "no record" : string.Join(", ", current.Values))}, " +
                $"not the expected {(expectedCurrent.Count == 0 ? "no record" : string.Join(", ", expectedCurrent))} (changed meanwhile by someone else?)", e);
        }

        var now = await GetAsync(name, DnsType.Name(type), ct).ConfigureAwait(false);
        var expected = seen;
        var actual = now?.Values ?? [];
        var same = actual.Count == expected.Count && expected.All(e => actual.Any(a => Rdata.SameValue(type, a, e)));
        if (!same || (expected.Count > 0 && now!.Ttl != records.Ttl))
            throw new StoreException(StoreErrorKind.Permanent,
                $"{Where}: the server accepted the update of {name} {DnsType.Name(type)} (NOERROR) but now answers " +
                $"{(actual.Count == 0 ? "no such record" : string.Join(", ", actual) + $" (TTL {now!.Ttl})")} instead of " +
                $"{(expected.Count == 0 ? "no record" : string.Join(", ", expected) + $" (TTL {records.Ttl})")}" +
                (type == DnsType.CNAME || actual.Count == 0 ? " (a CNAME cannot coexist with other records of the name: the server ignores such an addition)" : ""));
    }

    public async Task<DnsRecordSet?> GetAsync(string name, string type, CancellationToken ct)
    {
        var (n, t) = Check(name, type);
        var r = await Client.QueryAsync(n, t, ct).ConfigureAwait(false);
        if (!r.Authoritative)
            throw new StoreException(StoreErrorKind.Permanent, $"{Where}: the answer for {n} {DnsType.Name(t)} is not authoritative: the server does not serve zone {Zone}");
        if (r.Rcode == DnsRcode.NxDomain) return null;
        var rrs = r.Answers.Where(a => a.Type == t && a.Class == DnsClass.IN && DnsName.Equal(a.Name, n)).ToList();
        if (rrs.Count == 0) return null;
        return new DnsRecordSet(n, DnsType.Name(t), rrs.Select(a => Rdata.Format(t, a.Data)).ToList(), (int)rrs.Min(a => a.Ttl));
    }
}

/// <summary>Creates DNS record stores from config (the traffic-switching code calls this).</summary>
public static class DnsStores
{
    /// <summary>A store for a <c>type: dns</c> store config.</summary>
    public static DnsZoneStore Create(StoreConfig config, TimeProvider time)
    {
        if (config.Type != StoreType.Dns || config.Dns is null)
            throw new UserErrorException($"{config.Where}: store '{config.Name}' is of type {config.Type}, not dns");
        return new DnsZoneStore(config.Name, config.Dns.Zone, new DnsClient(DnsClientOptions.From(config.Dns, time)));
    }
}
