using Lifeboat.Core.Config;
using Lifeboat.Core.State;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Providers.Aws.Rds;

/// <summary>Builds the RDS clients and runner of a <c>type: rds</c> resource from the config.</summary>
public static class RdsFactory
{
    /// <summary>Credentials: the AWS settings of the resource's <c>store</c>, else its <c>profile</c>, else the default chain.</summary>
    public static Func<Amazon.Runtime.AWSCredentials> Credentials(LifeboatConfig cfg, RdsResource res)
    {
        if (res.Store is { } name)
        {
            var store = cfg.Stores[name];
            return AwsCredentialResolver.Source(AwsCredentialResolver.Resolve(store), store.Where.ToString());
        }
        var where = res.Where.ToString();
        return AwsCredentialResolver.Source(AwsCredentialResolver.Resolve(where, null, null, res.Profile, null, null), where);
    }

    public static RdsClient Client(Func<Amazon.Runtime.AWSCredentials> creds, string region, string? endpoint, TimeProvider time) => new(new AwsClientOptions
    {
        Endpoint = endpoint is null ? RdsClient.DefaultEndpoint(region) : new Uri(endpoint + "/"),
        Region = region,
        Service = RdsClient.Service,
        Credentials = creds,
        Time = time,
    });

    /// <summary>The runner with its two clients (source and target region); dispose the clients with it.</summary>
    public static (RdsSnapshotRunner Runner, RdsClient Source, RdsClient Target) Create(LifeboatConfig cfg, RdsResource res, StateStore state, TimeProvider time, ILogger log,
        RdsCopyGates? gates = null)
    {
        var creds = Credentials(cfg, res);
        var source = Client(creds, res.SourceRegion, res.SourceEndpoint, time);
        var target = Client(creds, res.TargetRegion, res.TargetEndpoint, time);
        return (new RdsSnapshotRunner(res, source, target, state, time, log) { CopyGates = gates ?? new RdsCopyGates() }, source, target);
    }
}
