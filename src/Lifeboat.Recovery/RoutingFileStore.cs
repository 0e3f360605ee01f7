using System.Text.Json;
using System.Text.Json.Serialization;
using Lifeboat.Core.Traffic;

namespace Lifeboat.Recovery;

/// <summary>
/// A <c>type: routes</c> store: a local JSON routing file that stands for a DNS zone (the demo and tests switch
/// traffic with it; a local proxy or a hosts-file generator can read it). Each change rewrites the whole file
/// atomically (temporary file, fsync, rename), so a reader never sees half a file and a crash leaves either the old
/// or the new routing. Format: <c>{"records":[{"name":"app.example.internal","type":"A","values":["127.0.0.2"],"ttl":5}]}</c>.
/// </summary>
public sealed class RoutingFileStore(string name, string path) : IDnsRecordStore
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public string Name => name;
    public string Path => path;

    internal sealed class Doc
    {
        [JsonPropertyName("records")] public List<Rec> Records { get; set; } = [];
    }

    internal sealed class Rec
    {
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("type")] public string Type { get; set; } = "";
        [JsonPropertyName("values")] public List<string> Values { get; set; } = [];
        [JsonPropertyName("ttl")] public int Ttl { get; set; }
    }

    private Doc Read()
    {
        if (!File.Exists(path)) return new Doc();
        try { return JsonSerializer.Deserialize(File.ReadAllText(path), RecoveryJson.Default.Doc) ?? new Doc(); }
        catch (JsonException e) { throw new InvalidOperationException($"routing file {path} (store {name}) is not valid: {e.Message}", e); }
    }

    private static bool Same(string a, string b) => string.Equals(a.TrimEnd('.'), b.TrimEnd('.'), StringComparison.OrdinalIgnoreCase);

    public async Task SetAsync(DnsRecordSet records, CancellationToken ct)
    {
        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var doc = Read();
            doc.Records.RemoveAll(r => Same(r.Name, records.Name) && r.Type.Equals(records.Type, StringComparison.OrdinalIgnoreCase));
            doc.Records.Add(new Rec { Name = records.Name.TrimEnd('.'), Type = records.Type.ToUpperInvariant(), Values = records.Values.ToList(), Ttl = records.Ttl });
            doc.Records.Sort((a, b) => string.CompareOrdinal(a.Name + " " + a.Type, b.Name + " " + b.Type));
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            Directory.CreateDirectory(dir);
            var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
            await using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                await JsonSerializer.SerializeAsync(f, doc, RecoveryJson.Default.Doc, ct).ConfigureAwait(false);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally { Gate.Release(); }
    }

    public Task<DnsRecordSet?> GetAsync(string recordName, string type, CancellationToken ct)
    {
        var r = Read().Records.FirstOrDefault(r => Same(r.Name, recordName) && r.Type.Equals(type, StringComparison.OrdinalIgnoreCase));
        return Task.FromResult(r is null ? null : new DnsRecordSet(r.Name, r.Type, r.Values, r.Ttl));
    }
}

/// <summary>The routing file's JSON, source-generated: no reflection in the ahead-of-time compiled release package (ADR 0008).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RoutingFileStore.Doc))]
internal sealed partial class RecoveryJson : JsonSerializerContext;
