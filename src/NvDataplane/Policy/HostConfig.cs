using NvDataplane.Headers;

namespace NvDataplane.Policy;

// The validated, typed form of the configuration file (SPEC section 2). ConfigLoader produces it
// only when the file has no problem at all; PolicySnapshot compiles it into forwarding tables.

public enum PortRole
{
    Provider,
    Vm,

    /// <summary>A physical, non-virtualized network the dataplane routes to as the NVGRE gateway.</summary>
    External,
}

/// <summary>TranslationMethodEncap (NVGRE, the default) or TranslationMethodNat (IP rewrite).</summary>
public enum TranslationRule
{
    Encap,
    Nat,
}

public enum RecordType
{
    Static,
    Dynamic,
    L2Only,
    GatewayWildcard,
}

public sealed record GlobalSettings(MacAddress GatewayMac, byte OuterTtl, bool UseExternalRouter)
{
    public const uint DefaultDhcpLeaseSeconds = 86400;

    public static readonly MacAddress DefaultGatewayMac = MacAddress.Parse("00-15-5D-FF-FF-FF");

    public static GlobalSettings Default { get; } = new(DefaultGatewayMac, 64, false);

    /// <summary>The lease DHCP answers grant (option 51); <see cref="uint.MaxValue"/> is infinite.</summary>
    public uint DhcpLeaseSeconds { get; init; } = DefaultDhcpLeaseSeconds;

    public const uint DefaultMigrationGraceSeconds = 30;

    /// <summary>How long a record that moved from a local PA to a remote one is still relayed here (docs/FORWARDING.md section 8); 0: never.</summary>
    public uint MigrationGraceSeconds { get; init; } = DefaultMigrationGraceSeconds;

    /// <summary>Whether a REDIRECT from the PA that owns a flow moves this host's traffic for that CA to the new PA (MS-NVGREE; off by default).</summary>
    public bool TrustRedirects { get; init; }
}

/// <param name="Device">afpacket:IFNAME, tap:NAME or pcap:NAME; null when the config names none (replay ignores it).</param>
/// <param name="VirtualSubnetId">The port's VSID; set for vm and external ports.</param>
/// <param name="External">The external network's addressing; set for external ports only.</param>
public sealed record PortConfig(string Name, PortRole Role, string? Device, MacAddress MacAddress, int Mtu, uint? VirtualSubnetId, string? VmName, ExternalPortConfig? External = null)
{
    public const int DefaultMtu = 1500;
}

public sealed record ProviderAddressConfig(IpAddr Address, int PrefixLength, ushort VlanId, string Port);

public sealed record ProviderRouteConfig(IpPrefix DestinationPrefix, IpAddr NextHop, uint Metric);

public sealed record ProviderNeighborConfig(IpAddr Address, MacAddress MacAddress);

public sealed record LookupRecordConfig(
    IpAddr CustomerAddress,
    uint VirtualSubnetId,
    MacAddress MacAddress,
    IpAddr ProviderAddress,
    TranslationRule Rule,
    RecordType Type,
    string? VmName = null,
    string? CustomerId = null,
    string? Context = null);

public sealed record CustomerRouteConfig(Guid RoutingDomainId, uint VirtualSubnetId, IpPrefix DestinationPrefix, IpAddr NextHop, uint Metric)
{
    public const uint DefaultMetric = 255;
}

public sealed record HostConfig(
    string HostName,
    GlobalSettings Global,
    IReadOnlyList<PortConfig> Ports,
    IReadOnlyList<ProviderAddressConfig> ProviderAddresses,
    IReadOnlyList<ProviderRouteConfig> ProviderRoutes,
    IReadOnlyList<ProviderNeighborConfig> ProviderNeighbors,
    IReadOnlyList<LookupRecordConfig> LookupRecords,
    IReadOnlyList<CustomerRouteConfig> CustomerRoutes)
{
    /// <summary>The <c>acls</c> section in file order (AclConfig.cs); empty when the file has none.</summary>
    public IReadOnlyList<AclRuleConfig> Acls { get; init; } = [];
    /// <summary>Per routing domain settings (<c>routingDomains</c>): what DHCP tells the VMs of a domain.</summary>
    public IReadOnlyList<RoutingDomainConfig> RoutingDomains { get; init; } = [];
    /// <summary>Per virtual subnet settings (<c>virtualSubnets</c>, VirtualSubnetConfig.cs); empty when the file has none.</summary>
    public IReadOnlyList<VirtualSubnetConfig> VirtualSubnets { get; init; } = [];
    /// <summary>Where lookup records and customer routes come from besides the file (<c>policySource</c>); null: the file alone.</summary>
    public PolicySourceConfig? PolicySource { get; init; }

    /// <summary>Where <c>nvdp run</c> serves its control API (<c>control</c>, ControlConfig.cs).</summary>
    public ControlConfig Control { get; init; } = ControlConfig.Default;
}

/// <summary>VSID limits (RFC 7637 section 3.3; the HNV cmdlets accept 4096..16777214).</summary>
public static class Vsid
{
    public const uint Min = 4096;
    public const uint Max = 16777214;

    public static bool IsValid(uint vsid) => vsid is >= Min and <= Max;
}
