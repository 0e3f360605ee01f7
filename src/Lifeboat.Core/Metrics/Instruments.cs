namespace Lifeboat.Core.Metrics;

/// <summary>A metric's definition, declared once in <see cref="Instruments"/>: name, help, type and label names. The
/// registry takes label values in that order and refuses a call that does not match (a programming error).</summary>
public sealed record Instrument(string Name, string Help, string Type, string[] LabelNames, double[]? Buckets = null)
{
    public static Instrument Counter(string name, string help, params string[] labels) => new(name, help, "counter", labels);
    public static Instrument Gauge(string name, string help, params string[] labels) => new(name, help, "gauge", labels);
    public static Instrument Histogram(string name, string help, double[] buckets, params string[] labels) => new(name, help, "histogram", labels, buckets);
}

/// <summary>
/// Every metric Lifeboat exports (issue 15: typed instruments instead of names and help texts repeated as strings at
/// call sites). docs/design.md lists them for operators; a new metric is declared here and nowhere else.
/// </summary>
public static class Instruments
{
    public static readonly double[] LagBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];

    // Replication, every kind that replicates changes (buckets, tables).
    public static readonly Instrument Backlog = Instrument.Gauge("lifeboat_backlog", "Changes seen at the source and not yet durable on the target", "resource");
    public static readonly Instrument ReplicationLag = Instrument.Histogram("lifeboat_replication_lag_seconds",
        "Time from a change being seen at the source to being durable on the target", LagBuckets, "resource");
    public static readonly Instrument Retries = Instrument.Counter("lifeboat_retries_total", "Transient errors retried", "resource");
    public static readonly Instrument Errors = Instrument.Counter("lifeboat_errors_total", "Changes that failed after retries, by kind", "resource", "kind");
    public static readonly Instrument Deletes = Instrument.Counter("lifeboat_deletes_total", "Deletes applied to the target", "resource");

    // Buckets.
    public static readonly Instrument Copies = Instrument.Counter("lifeboat_copies_total", "Objects copied and verified", "resource");
    public static readonly Instrument Bytes = Instrument.Counter("lifeboat_bytes_total", "Bytes copied and verified", "resource");
    public static readonly Instrument Passes = Instrument.Counter("lifeboat_passes_total", "Full reconciliation passes completed", "resource");
    public static readonly Instrument DeepPasses = Instrument.Counter("lifeboat_deep_passes_total", "Deep passes (metadata and tags of every object) completed", "resource");
    public static readonly Instrument MetadataRepairs = Instrument.Counter("lifeboat_metadata_repairs_total",
        "Objects whose metadata or tags a deep pass repaired on the target", "resource");
    public static readonly Instrument Events = Instrument.Counter("lifeboat_events_total", "Change events received", "resource");
    public static readonly Instrument EventsRefused = Instrument.Counter("lifeboat_events_refused_total", "Change events refused, by reason", "resource", "reason");

    // Tables.
    public static readonly Instrument CanaryLag = Instrument.Gauge("lifeboat_canary_lag_seconds",
        "Canary: time from the marker's write at the source to its arrival at the target (last arrived)", "resource");
    public static readonly Instrument TableSyncItems = Instrument.Counter("lifeboat_table_sync_items_total", "Items written to the target by an initial sync or re-sync", "resource");
    public static readonly Instrument TableGaps = Instrument.Counter("lifeboat_table_gaps_total",
        "Stream gaps detected (records lost before they were read); each triggers a full re-sync", "resource");
    public static readonly Instrument TableRecords = Instrument.Counter("lifeboat_table_records_total",
        "Stream records read and applied (or found covered by the initial sync)", "resource");
    public static readonly Instrument TablePuts = Instrument.Counter("lifeboat_table_puts_total", "Items written to the target from the stream", "resource");

    // Listeners.
    public static readonly Instrument WebhookRejected = Instrument.Counter("lifeboat_webhook_rejected_total", "Webhook requests rejected", "reason");
    public static readonly Instrument EventsUnmatched = Instrument.Counter("lifeboat_events_unmatched_total", "Events for buckets or prefixes no resource replicates");

    // Recovery.
    public static readonly Instrument CheckFailing = Instrument.Gauge("lifeboat_check_failing", "1 while the check is past its failure threshold", "check");
    public static readonly Instrument CheckLastOk = Instrument.Gauge("lifeboat_check_last_ok", "1 when the last probe of the check passed", "check");
    public static readonly Instrument CheckLastUnknown = Instrument.Gauge("lifeboat_check_last_unknown",
        "1 when the last probe of the check had no evidence either way (an alarm not measured yet)", "check");
    public static readonly Instrument ExecutionsActive = Instrument.Gauge("lifeboat_executions_active", "Runbook executions awaiting approval or running");
}
