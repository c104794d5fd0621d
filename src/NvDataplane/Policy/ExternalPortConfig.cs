using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// The addressing of an <see cref="PortRole.External"/> port on its physical network: its own
/// address and prefix (on-link destinations), the router beyond it (<paramref name="NextHop"/>,
/// unspecified when there is none) and the VLAN its frames carry (0: untagged).
/// </summary>
public sealed record ExternalPortConfig(IpAddr Address, int PrefixLength, IpAddr NextHop, ushort VlanId)
{
    public IpPrefix Prefix => new(Address, PrefixLength);

    public bool HasNextHop => !NextHop.IsUnspecified;
}
