using System.Text.Json;

namespace Lifeboat.Core.Replication;

/// <param name="EventTime">The time the event claims: shown, never used for lag or RPO (anyone who can post an event
/// chooses it; see <see cref="ObjectReplicator.Enqueue"/>).</param>
public sealed record S3EventRecord(string Bucket, string Key, string EventName, DateTimeOffset? EventTime, string? Sequencer)
{
    public bool IsRemoval => EventName.StartsWith("ObjectRemoved", StringComparison.Ordinal) || EventName.StartsWith("s3:ObjectRemoved", StringComparison.Ordinal);
}

/// <summary>What the webhook received. <see cref="SnsTopicArn"/> is the TopicArn of a message in Amazon SNS's shape
/// ("" when it names none), null for a raw S3 event.</summary>
public abstract record WebhookMessage
{
    public string? SnsTopicArn { get; init; }
}
public sealed record S3Notification(IReadOnlyList<S3EventRecord> Records) : WebhookMessage;
public sealed record SnsSubscriptionConfirmation(string TopicArn, string SubscribeUrl) : WebhookMessage;
/// <summary>S3's test event sent when a notification configuration is saved (and SNS's UnsubscribeConfirmation);
/// acknowledged and ignored.</summary>
public sealed record S3TestEvent : WebhookMessage;

public sealed class EventFormatException(string message) : Exception(message);

/// <summary>
/// Parses the bodies Lifeboat's webhook receives: raw S3 event notifications (as Ceph RGW and MinIO POST them),
/// SNS-wrapped notifications, and SNS SubscriptionConfirmation. Keys are URL-encoded in events (space as '+');
/// they are decoded exactly once here.
/// </summary>
public static partial class S3Events
{
    public const int MaxBodyBytes = 256 * 1024;

    /// <summary>An Amazon SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME; aws-cn and aws-us-gov partitions too), with
    /// the region as the group "region".</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^arn:aws(-cn|-us-gov)?:sns:(?<region>[a-z]{2}(-gov)?-[a-z]+-[0-9]{1,2}):[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")]
    public static partial System.Text.RegularExpressions.Regex SnsTopicArn();

    /// <summary>Event sources that put the key in the event as it is, not URL-encoded (measured: Ceph RGW 16.2 sends
    /// "a b+c%.txt" for that key, where AWS S3 and MinIO send "a+b%2Bc%25.txt").</summary>
    public static readonly IReadOnlySet<string> RawKeySources = new HashSet<string>(StringComparer.Ordinal) { "ceph:s3" };

    /// <summary>Parses a webhook body; anything that is not one of the known shapes (wrong JSON types, invalid UTF-8,
    /// an SNS message wrapped in another) is an <see cref="EventFormatException"/> with a one-line reason.</summary>
    public static WebhookMessage Parse(ReadOnlySpan<byte> body)
    {
        if (body.Length > MaxBodyBytes) throw new EventFormatException($"event body is {body.Length} bytes; the limit is {MaxBodyBytes}");
        try
        {
            return ParseCore(body.ToArray(), inner: false);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            // Strings that are not valid UTF-8 (JsonElement.GetString), and any other JSON shape the checks below missed.
            throw new EventFormatException($"unreadable event body: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static WebhookMessage ParseCore(byte[] body, bool inner)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body); }
        catch (JsonException e) { throw new EventFormatException($"event body is not JSON: {e.Message.ReplaceLineEndings(" ")}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new EventFormatException("event body must be a JSON object");
            if (root.TryGetProperty("Type", out var type) && type.ValueKind == JsonValueKind.String)
            {
                // An SNS message's Message is the S3 event: an SNS message inside one is not something SNS sends.
                if (inner) throw new EventFormatException("the SNS Notification's Message is itself an SNS message");
                var topic = Str(root, "TopicArn") ?? "";
                switch (type.GetString())
                {
                    case "SubscriptionConfirmation":
                        return new SnsSubscriptionConfirmation(topic, Str(root, "SubscribeURL")
                            ?? throw new EventFormatException("SNS SubscriptionConfirmation without SubscribeURL")) { SnsTopicArn = topic };
                    case "Notification":
                        var msg = Str(root, "Message") ?? throw new EventFormatException("SNS Notification without Message");
                        return ParseCore(System.Text.Encoding.UTF8.GetBytes(msg), inner: true) with { SnsTopicArn = topic };
                    case "UnsubscribeConfirmation":
                        return new S3TestEvent { SnsTopicArn = topic };
                    default:
                        throw new EventFormatException($"unknown SNS message type '{Shown(type.GetString())}'");
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
                if (r.ValueKind != JsonValueKind.Object) throw new EventFormatException($"Records[{i}] is not a JSON object");
                var name = Str(r, "eventName") ?? throw new EventFormatException($"Records[{i}] has no eventName");
                if (!r.TryGetProperty("s3", out var s3) || s3.ValueKind != JsonValueKind.Object)
                    throw new EventFormatException($"Records[{i}] has no s3 section");
                var bucket = s3.TryGetProperty("bucket", out var b) && b.ValueKind == JsonValueKind.Object ? Str(b, "name") : null;
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

    /// <summary>A value from the body as a log or answer may show it: at most 100 characters, control characters escaped.</summary>
    public static string Shown(string? value)
    {
        if (value is null) return "";
        var sb = new System.Text.StringBuilder();
        foreach (var c in value.Length > 100 ? value[..100] : value)
            sb.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        if (value.Length > 100) sb.Append($"... ({value.Length} characters)");
        return sb.ToString();
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
