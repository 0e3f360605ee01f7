using System.Text.RegularExpressions;
using Lifeboat.Core.Scheduling;

namespace Lifeboat.Core.Config;

/// <summary>Config of the AWS-API providers without an SDK here: <c>type: rds</c> resources and <c>type: route53</c> stores.</summary>
public static partial class ConfigLoader
{
    [GeneratedRegex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")]
    private static partial Regex InstancePattern();

    private static string ReadRegion(YamlMap m, string key)
    {
        var region = m.String(key);
        if (!RegionPattern().IsMatch(region)) throw m.Error(key, $"'{region}' is not an AWS region name (like us-east-1)");
        return region;
    }

    private static string? ReadUrl(YamlMap m, string key)
    {
        var v = m.OptString(key);
        if (v is not null && (!Uri.TryCreate(v, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https")))
            throw m.Error(key, $"expected an http:// or https:// URL, got '{v}'");
        if (v is not null && Uri.TryCreate(v, UriKind.Absolute, out var u) && u.Port == 0)
            throw m.Error(key, "port 0 is not a port: give 1-65535, or no port for the scheme's default");
        return v?.TrimEnd('/');
    }

    private static RdsResource ReadRdsResource(YamlMap r, Dictionary<string, StoreConfig> stores)
    {
        var name = ResourceName(r);
        ResourceType(r);
        RefuseHistory(r, "an rds resource's history is its snapshots (keep: sets how many): history: is for bucket and table resources");
        var instance = r.String("instance");
        if (instance.Length > 63 || !InstancePattern().IsMatch(instance))
            throw r.Error("instance", $"'{instance}' is not an RDS DB instance identifier (1 to 63 letters, digits or hyphens, starting with a letter)");
        var source = ReadRegion(r, "source_region");
        var target = ReadRegion(r, "target_region");
        if (source == target) throw r.Error("target_region", "is the same as source_region: a cross-region copy needs two regions");
        var scheduleText = r.String("schedule");
        Cron schedule;
        try { schedule = Cron.Parse(scheduleText); }
        catch (FormatException e) { throw r.Error("schedule", e.Message); }
        var keep = r.OptInt("keep", 1, 1000) ?? throw r.Error("keep", "is required (how many snapshots to keep in each region, e.g. 14)");
        string? store = null;
        if (r.Has("store"))
        {
            store = ReadStoreRef(r, stores);
            if (stores[store].Type == StoreType.File)
                throw r.Error("store", $"store '{store}' is a file store: name an AWS store (s3, dynamodb, route53) whose credentials to use");
        }
        var profile = r.OptString("profile");
        if (store is not null && profile is not null) throw r.Error("profile", "give store or profile for the credentials, not both");
        var res = new RdsResource(name, instance, source, target, schedule, keep,
            KmsKeyId: r.OptString("kms_key_id"),
            Store: store,
            Profile: profile,
            SourceEndpoint: ReadUrl(r, "source_endpoint"),
            TargetEndpoint: ReadUrl(r, "target_endpoint"),
            PollEvery: r.OptDuration("poll_every", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromSeconds(30),
            Where: new ConfigLocation(r.File, r.Node.Start.Line, r.Path));
        r.EnsureNoUnknownKeys();
        return res;
    }

    private static StoreConfig ReadRoute53Store(string name, StoreType type, ConfigLocation where, YamlMap m)
    {
        var zone = m.String("hosted_zone_id");
        if (zone.StartsWith("/hostedzone/", StringComparison.Ordinal)) zone = zone["/hostedzone/".Length..];
        if (zone.Length is 0 or > 32 || !zone.All(char.IsAsciiLetterOrDigit))
            throw m.Error("hosted_zone_id", $"'{zone}' is not a Route 53 hosted zone id (like Z1D633PJN98FT9)");
        var accessEnv = m.OptString("access_key_env");
        var secretEnv = m.OptString("secret_key_env");
        if ((accessEnv is null) != (secretEnv is null))
            throw m.Error(accessEnv is null ? "secret_key_env" : "access_key_env", "access_key_env and secret_key_env go together");
        return new StoreConfig(name, type, where,
            Endpoint: ReadUrl(m, "endpoint"),
            Region: "us-east-1", // Route 53 is global; its API signs for us-east-1
            Profile: m.OptString("profile"),
            RoleArn: m.OptString("role_arn"),
            ExternalId: m.OptString("external_id"),
            AccessKeyEnv: accessEnv,
            SecretKeyEnv: secretEnv)
        {
            HostedZoneId = zone,
            ChangeTimeout = m.OptDuration("change_timeout", TimeSpan.FromSeconds(1)) ?? TimeSpan.FromMinutes(10),
        };
    }
}
