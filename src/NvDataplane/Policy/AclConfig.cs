using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

// The validated form of the configuration's `acls` section: ordered allow/deny rules per VSID.
// AclTable compiles them into per-port rule sets; README.md "ACLs" says what an operator sees.

/// <summary>Which frames a rule judges, seen from the VM: what it sends, what is delivered to it, or both.</summary>
[Flags]
public enum AclDirection
{
    Inbound = 1,
    Outbound = 2,
    Both = Inbound | Outbound,
}

public enum AclAction
{
    Allow,
    Deny,
}

/// <summary>An inclusive TCP/UDP port range; <see cref="All"/> is no condition at all.</summary>
public readonly record struct PortRange(ushort Low, ushort High)
{
    public static PortRange All { get; } = new(0, ushort.MaxValue);

    public bool IsAll => Low == 0 && High == ushort.MaxValue;

    public override string ToString() => Low == High
        ? Low.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{Low}-{High}");
}

/// <param name="VirtualSubnetId">The VSID whose VMs the rule protects.</param>
/// <param name="Priority">Lower first; rules of equal priority keep their file order.</param>
/// <param name="Protocol">The IP protocol (IPv6: the upper-layer next header); null for any.</param>
/// <param name="SourcePrefix">Null for any source address.</param>
/// <param name="DestinationPrefix">Null for any destination address.</param>
/// <param name="SourcePorts">TCP/UDP source ports; <see cref="PortRange.All"/> when not given.</param>
/// <param name="DestinationPorts">TCP/UDP destination ports; <see cref="PortRange.All"/> when not given.</param>
/// <param name="Name">Shown with the rule's hit counter; null when not given.</param>
public sealed record AclRuleConfig(
    uint VirtualSubnetId,
    uint Priority,
    AclDirection Direction,
    byte? Protocol,
    IpPrefix? SourcePrefix,
    IpPrefix? DestinationPrefix,
    PortRange SourcePorts,
    PortRange DestinationPorts,
    AclAction Action,
    string? Name = null);
