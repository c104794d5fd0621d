using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// The addressing of an <see cref="PortRole.External"/> port on its physical network: one
/// <see cref="ExternalAddress"/> per IP family it carries (at least one) and the VLAN its frames
/// carry (0: untagged). A packet of a family the port has no address for is <c>no_route</c>.
/// </summary>
public sealed record ExternalPortConfig(ExternalAddress? V4, ExternalAddress? V6, ushort VlanId)
{
    /// <summary>The port's address of IP version <paramref name="ipVersion"/> (4 or 6), if it has one.</summary>
    public ExternalAddress? For(int ipVersion) => ipVersion == 4 ? V4 : V6;
}

/// <summary>
/// One family's address of an external port: its own address and prefix (on-link destinations)
/// and the router beyond it (<paramref name="NextHop"/>, unspecified when there is none).
/// </summary>
public sealed record ExternalAddress(IpAddr Address, int PrefixLength, IpAddr NextHop)
{
    public IpPrefix Prefix => new(Address, PrefixLength);

    public bool HasNextHop => !NextHop.IsUnspecified;
}
