namespace NvDataplane.Policy;

/// <summary>
/// Per virtual subnet settings (<c>virtualSubnets</c>). <paramref name="Flooding"/>: broadcast and
/// multicast frames of the VSID are replicated to its VMs (WS2012 R2's unicast replication)
/// instead of dropped as <c>flooding_disabled</c> (WS2012's behaviour, the default).
/// </summary>
public sealed record VirtualSubnetConfig(uint VirtualSubnetId, bool Flooding);
