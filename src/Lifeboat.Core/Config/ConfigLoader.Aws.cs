using System.Text.RegularExpressions;
using Lifeboat.Core.Scheduling;

namespace Lifeboat.Core.Config;

/// <summary>Config of the AWS-API providers without an SDK here: <c>type: rds</c> resources and <c>type: route53</c> stores.</summary>
public static partial class ConfigLoader
{
    [GeneratedRegex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")]
    private static partial Regex RegionPattern();

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
