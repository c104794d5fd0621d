using System.Runtime.CompilerServices;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

// L2Only and Dynamic records (docs/FORWARDING.md section 7): a VM whose MAC has an L2Only record
// in its VSID may use addresses no record names (one its own DHCP server gave it); the forwarder
// learns each such (VSID, CA) as a Dynamic binding to the L2Only record, from the VM's frames on
// its own host and from its NVGRE on the others, and resolves destinations that miss the records
// through those bindings. All of it runs off the common path: only after a record lookup missed.
public sealed partial class Forwarder
{
    private readonly LearnedBindings _learned = new();

    // (VSID, MAC, IPv4?) → L2Only record index, for the current policy version.
    private Dictionary<(uint Vsid, ulong Mac, bool V4), int> _l2Only = [];

    /// <summary>The CAs learned from L2Only VMs' traffic (Dynamic records); this worker's own.</summary>
    public LearnedBindings Learned => _learned;

    /// <summary>A new policy version: index its L2Only records and forget what was learned under the old one.</summary>
    private void UseDynamicRecords(PolicySnapshot p)
    {
        _learned.Clear();
        _l2Only = p.L2OnlyIndex;
    }

    /// <summary>The L2Only record of (vsid, mac) for the address family, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int L2OnlyRecord(uint vsid, MacAddress mac, bool v4) =>
        _l2Only.Count != 0 && _l2Only.TryGetValue((vsid, mac.Value, v4), out int r) ? r : -1;

    /// <summary>
    /// A source CA with no record in the port's VSID, from a vm port: the routing domain's
    /// GatewayWildcard VM may send from any address outside the virtual network (DomainAddresses.cs);
    /// a VM with an L2Only record from any address it may hold (the CA is learned). Returns the
    /// record that vouches for the source, or -1.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int UnrecordedSource(PortInfo port, IpAddr source, long nowNs, bool routed)
    {
        int w = WildcardSource(_p, port, source, _learned, nowNs, out _);
        if (w < 0 && routed)
        {
            w = RoutedSource(port, source, nowNs); // before learning: a router forwarding an L2Only VM's address must not take its binding
        }

        return w >= 0 ? w : LearnFromPort(port, source, nowNs);
    }

    /// <summary>The port's L2Only record when <paramref name="source"/> may be learned for it (learned then), else -1.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int LearnFromPort(PortInfo port, IpAddr source, long nowNs)
    {
        var vsid = port.Vsid!;
        int r = L2OnlyRecord(vsid.Vsid, port.Mac, source.IsV4);
        if (r < 0 || !IsLearnable(_p, vsid, source))
        {
            return -1;
        }

        _learned.Seen(vsid.Vsid, source, r, nowNs, _p);
        return r;
    }

    /// <summary>
    /// An NVGRE frame's inner source CA without a record: the L2Only record of the inner source
    /// MAC in the frame's VSID, learned when its PA is the outer source (the caller refuses any
    /// other PA as <c>pa_mismatch</c>); -1 when the MAC has none.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int LearnFromNvgre(in DecapState d, IpAddr source, MacAddress sourceMac, long nowNs)
    {
        int r = L2OnlyRecord(d.Vsid, sourceMac, source.IsV4);
        if (r < 0 || !_p.Vsids.TryGetValue(d.Vsid, out var vsid) || !IsLearnable(_p, vsid, source))
        {
            return -1;
        }

        if (_p.Records[r].ProviderAddress == d.OuterSource)
        {
            _learned.Seen(d.Vsid, source, r, nowNs, _p);
        }

        return r;
    }

    /// <summary>The L2Only record a learned (vsid, ca) binding names, or -1 (no binding, or aged out).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int FindLearned(uint vsid, IpAddr ca, long nowNs) => _learned.Find(vsid, ca, nowNs);

    /// <summary>As <see cref="FindLearned"/>, with the record's lookup-slot payload for the unicast path.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int FindLearned(uint vsid, IpAddr ca, long nowNs, out ulong data)
    {
        int r = _learned.Find(vsid, ca, nowNs);
        data = r >= 0 ? ForwardingData.Pack(in _p.Records[r]) : 0;
        return r;
    }

    /// <summary>
    /// A unicast address the virtual network does not own: not unspecified, broadcast, multicast,
    /// IPv6 link-local (fe80::/10, the VM's own link's business, as in 1.5), nor, anywhere in the
    /// VSID's routing domain, a record's CA (a record always wins: another VM's address is never
    /// taken over), a gateway address or the network or broadcast address of an on-link IPv4
    /// subnet (DomainAddresses.cs). A binding already learned may be learned again (refreshed, or
    /// moved to another L2Only VM of the VSID).
    /// </summary>
    internal static bool IsLearnable(PolicySnapshot p, VsidInfo vsid, IpAddr ca) =>
        !ca.IsUnspecified && !IsFloodDestination(ca) && !ca.IsV6LinkLocal
        && DomainAddressOf(p, vsid.Vsid, vsid.DomainIndex, ca, learned: null, 0).IsOutside;
}
