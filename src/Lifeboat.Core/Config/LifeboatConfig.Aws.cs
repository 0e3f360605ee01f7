namespace Lifeboat.Core.Config;

/// <summary>Route 53 settings of a <c>type: route53</c> store (credentials come from the shared AWS keys).</summary>
public sealed partial record StoreConfig
{
    /// <summary>The hosted zone's id (Z123..., without "/hostedzone/").</summary>
    public string? HostedZoneId { get; init; }

    /// <summary>How long a change may take to become INSYNC before the switch fails.</summary>
    public TimeSpan? ChangeTimeout { get; init; }
}
