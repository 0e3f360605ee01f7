using System.Text.Json;

namespace Lifeboat.Core.Replication;

public sealed record S3EventRecord(string Bucket, string Key, string EventName, DateTimeOffset? EventTime, string? Sequencer)
{
    public bool IsRemoval => EventName.StartsWith("ObjectRemoved", StringComparison.Ordinal) || EventName.StartsWith("s3:ObjectRemoved", StringComparison.Ordinal);
}

public abstract record WebhookMessage;
public sealed record S3Notification(IReadOnlyList<S3EventRecord> Records) : WebhookMessage;
public sealed record SnsSubscriptionConfirmation(string TopicArn, string SubscribeUrl) : WebhookMessage;
/// <summary>S3's test event sent when a notification configuration is saved; acknowledged and ignored.</summary>
public sealed record S3TestEvent : WebhookMessage;

public sealed class EventFormatException(string message) : Exception(message);

/// <summary>
/// Parses the bodies Lifeboat's webhook receives: raw S3 event notifications (as Ceph RGW and MinIO POST them),
/// SNS-wrapped notifications, and SNS SubscriptionConfirmation. Keys are URL-encoded in events (space as '+');
/// they are decoded exactly once here.
/// </summary>
public static class S3Events
{
    public const int MaxBodyBytes = 256 * 1024;

    /// <summary>Event sources that put the key in the event as it is, not URL-encoded (measured: Ceph RGW 16.2 sends
    /// "a b+c%.txt" for that key, where AWS S3 and MinIO send "a+b%2Bc%25.txt").</summary>
    public static readonly IReadOnlySet<string> RawKeySources = new HashSet<string>(StringComparer.Ordinal) { "ceph:s3" };

    public static WebhookMessage Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length > MaxBodyBytes) throw new EventFormatException($"event body is {body.Length} bytes; the limit is {MaxBodyBytes}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray()); }
        catch (JsonException e) { throw new EventFormatException($"event body is not JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new EventFormatException("event body must be a JSON object");
            if (root.TryGetProperty("Type", out var type) && type.ValueKind == JsonValueKind.String)
            {
                switch (type.GetString())
                {
                    case "SubscriptionConfirmation":
                        return new SnsSubscriptionConfirmation(Str(root, "TopicArn") ?? "", Str(root, "SubscribeURL")
                            ?? throw new EventFormatException("SNS SubscriptionConfirmation without SubscribeURL"));
                    case "Notification":
                        var msg = Str(root, "Message") ?? throw new EventFormatException("SNS Notification without Message");
                        return Parse(System.Text.Encoding.UTF8.GetBytes(msg));
                    case "UnsubscribeConfirmation":
                        return new S3TestEvent();
                    default:
                        throw new EventFormatException($"unknown SNS message type '{type.GetString()}'");
                }
            }
            if (root.TryGetProperty("Event", out var ev) && ev.ValueKind == JsonValueKind.String && ev.GetString() == "s3:TestEvent")
                return new S3TestEvent();
            if (!root.TryGetProperty("Records", out var records) || records.ValueKind != JsonValueKind.Array)
                throw new EventFormatException("not an S3 event notification (no Records array)");
            var list = new List<S3EventRecord>();
            var i = 0;
            foreach (var r in records.EnumerateArray())
            {
                var name = Str(r, "eventName") ?? throw new EventFormatException($"Records[{i}] has no eventName");
                if (!r.TryGetProperty("s3", out var s3) || s3.ValueKind != JsonValueKind.Object)
                    throw new EventFormatException($"Records[{i}] has no s3 section");
                var bucket = s3.TryGetProperty("bucket", out var b) ? Str(b, "name") : null;
                var obj = s3.TryGetProperty("object", out var o) ? o : default;
                var rawKey = obj.ValueKind == JsonValueKind.Object ? Str(obj, "key") : null;
                if (bucket is null || rawKey is null) throw new EventFormatException($"Records[{i}] has no bucket name or object key");
                var seq = obj.ValueKind == JsonValueKind.Object ? Str(obj, "sequencer") : null;
                DateTimeOffset? time = DateTimeOffset.TryParse(Str(r, "eventTime"), System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal, out var t) ? t : null;
                var source = Str(r, "eventSource") ?? "aws:s3";
                list.Add(new S3EventRecord(bucket, RawKeySources.Contains(source) ? rawKey : DecodeKey(rawKey), name, time, seq));
                i++;
            }
            return new S3Notification(list);
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Decodes an S3 event key: form encoding, where '+' is a space and %XX a byte of UTF-8.</summary>
    public static string DecodeKey(string raw) => Uri.UnescapeDataString(raw.Replace('+', ' '));

    /// <summary>Compares two sequencers for the same key: hex strings of possibly different length, compared after left-padding.</summary>
    public static int CompareSequencers(string a, string b)
    {
        var n = Math.Max(a.Length, b.Length);
        return string.CompareOrdinal(a.PadLeft(n, '0').ToUpperInvariant(), b.PadLeft(n, '0').ToUpperInvariant());
    }
}
