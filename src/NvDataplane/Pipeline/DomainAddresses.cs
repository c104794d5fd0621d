using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>What makes an address the virtual network's own in a routing domain (<see cref="Forwarder.DomainAddressOf"/>).</summary>
internal enum DomainAddressKind : byte
{
    /// <summary>None of the below: an address outside the virtual network.</summary>
    Outside,

    /// <summary>A lookup record of a VSID of the domain: a VM's CA.</summary>
    Record,

    /// <summary>A Dynamic binding of a VSID of the domain: an L2Only VM's learned CA.</summary>
    Binding,

    /// <summary>The gateway address of an on-link route of a VSID of the domain: the dataplane's.</summary>
    Gateway,

    /// <summary>The network or broadcast address of an on-link IPv4 subnet of a VSID of the domain: no host's.</summary>
    SubnetEdge,
}

/// <summary>
/// What <see cref="Forwarder.DomainAddressOf"/> found: the kind, the VSID the address belongs to
/// and, for a record or a binding, the record's index (the L2Only record for a binding), else -1.
/// </summary>
internal readonly record struct DomainAddress(DomainAddressKind Kind, uint Vsid, int Record)
{
    public static DomainAddress Outside => new(DomainAddressKind.Outside, 0, -1);

    public bool IsOutside => Kind == DomainAddressKind.Outside;
}

// The addresses a routing domain's virtual network owns, and who may send from them
// (docs/FORWARDING.md 1.8, 6 In 4, 7): a VM's CA (a lookup record, or an L2Only VM's Dynamic
// binding), the dataplane's gateway addresses, and the network and broadcast addresses of the
// on-link IPv4 subnets. No gateway (the GatewayWildcard VM, an external port) speaks for one, no
// L2Only VM learns one that is not already its own, and NVGRE from a gateway's PA is not taken as
// from one; only useExternalRouter's router VM speaks for its domain's VMs' CAs (RouterSource).
// One decision for vm, external and provider ports, and for the trace.
public sealed partial class Forwarder
{
    /// <summary>
    /// Whose <paramref name="address"/> is in routing domain <paramref name="domain"/> of VSID
    /// <paramref name="vsid"/> (in that VSID alone when it has no domain): a record (the VSID's
    /// first, as <see cref="PolicySnapshot.FindRecordInDomain"/>), a Dynamic binding — counted only
    /// when <paramref name="learned"/> is given —, a gateway address or a subnet's edge; else
    /// <see cref="DomainAddress.Outside"/>. Off the common path (only for a source without a record
    /// of its own in the sender's VSID), but every frame a gateway forwards from outside asks: an
    /// address with no record anywhere costs one lookup, and only on-link routes that hold it
    /// (where gateway addresses and subnet edges are) are looked at.
    /// </summary>
    internal static DomainAddress DomainAddressOf(PolicySnapshot p, uint vsid, int domain, IpAddr address, LearnedBindings? learned, long nowNs)
    {
        int r = p.AnyVsidIndex.Find(0, address) < 0 ? -1 : p.FindRecordInDomain(vsid, domain, address);
        if (r >= 0)
        {
            return new DomainAddress(DomainAddressKind.Record, p.Records[r].Vsid, r);
        }

        if (domain < 0)
        {
            return OwnedBy(p, vsid, address, learned, nowNs);
        }

        var d = p.Domains[domain];
        if (learned is { Count: > 0 })
        {
            foreach (uint v in d.Vsids)
            {
                if ((r = learned.Find(v, address, nowNs)) >= 0)
                {
                    return new DomainAddress(DomainAddressKind.Binding, v, r);
                }
            }
        }

        foreach (var route in d.Routes)
        {
            if (route.IsOnLink && route.Prefix.Contains(address))
            {
                var owned = OwnedBy(p, route.Vsid, address, learned: null, 0);
                if (!owned.IsOutside)
                {
                    return owned;
                }
            }
        }

        return DomainAddress.Outside;
    }

    /// <summary>What VSID <paramref name="vsid"/> holds <paramref name="address"/> as, records aside: a binding, a gateway address, a subnet's edge.</summary>
    private static DomainAddress OwnedBy(PolicySnapshot p, uint vsid, IpAddr address, LearnedBindings? learned, long nowNs)
    {
        int r = learned is null ? -1 : learned.Find(vsid, address, nowNs);
        if (r >= 0)
        {
            return new DomainAddress(DomainAddressKind.Binding, vsid, r);
        }

        if (p.Vsids.TryGetValue(vsid, out var info))
        {
            if (info.IsGatewayAddress(address))
            {
                return new DomainAddress(DomainAddressKind.Gateway, vsid, -1);
            }

            if (info.IsSubnetEdge(address))
            {
                return new DomainAddress(DomainAddressKind.SubnetEdge, vsid, -1);
            }
        }

        return DomainAddress.Outside;
    }

    /// <summary>
    /// The GatewayWildcard record vouching for <paramref name="source"/> from
    /// <paramref name="port"/> when the port is its routing domain's gateway (the record's VSID and
    /// MAC: the GatewayWildcard VM's port or an external port) and the address is outside the
    /// virtual network; else -1, and <paramref name="owned"/> says whose the address is. A gateway
    /// forwards traffic of addresses outside the virtual network, never a VM's or the dataplane's.
    /// </summary>
    internal static int WildcardSource(PolicySnapshot p, PortInfo port, IpAddr source, LearnedBindings learned, long nowNs, out DomainAddress owned)
    {
        owned = DomainAddress.Outside;
        int w = p.GatewayWildcardOf(port, source.IsV4);
        if (w < 0)
        {
            return -1;
        }

        var vsid = port.Vsid!;
        owned = DomainAddressOf(p, vsid.Vsid, vsid.DomainIndex, source, learned, nowNs);
        return owned.IsOutside ? w : -1;
    }

    /// <summary>
    /// With <c>global.useExternalRouter</c>, the router record vouching for
    /// <paramref name="source"/> from <paramref name="port"/> when the port is a router of its
    /// routing domain (<see cref="PolicySnapshot.RouterRecordOf"/>) and the address is a VM's CA
    /// in the domain — a lookup record's (Static or Dynamic) or an L2Only VM's binding: the
    /// router forwards the traffic the domain's VMs send between subnets, with their sources.
    /// Else -1, and <paramref name="owned"/> says whose the address is. Its frames go out as from
    /// the router record (its PA); never the dataplane's addresses, nor one outside the network.
    /// </summary>
    internal static int RouterSource(PolicySnapshot p, PortInfo port, IpAddr source, LearnedBindings? learned, long nowNs, out DomainAddress owned)
    {
        owned = DomainAddress.Outside;
        int router = p.RouterRecordOf(port, source.IsV4);
        if (router < 0)
        {
            return -1;
        }

        var vsid = port.Vsid!;
        owned = DomainAddressOf(p, vsid.Vsid, vsid.DomainIndex, source, learned, nowNs);
        return IsVmAddress(p, in owned) ? router : -1;
    }

    /// <summary>Whether <paramref name="owned"/> is a VM's CA: a Static or Dynamic record's, or an L2Only VM's learned binding.</summary>
    internal static bool IsVmAddress(PolicySnapshot p, in DomainAddress owned) =>
        owned.Kind == DomainAddressKind.Binding
        || (owned.Kind == DomainAddressKind.Record && p.Records[owned.Record].Type is RecordType.Static or RecordType.Dynamic);

    /// <summary>
    /// The record vouching for the inner source of NVGRE in VSID <paramref name="vsid"/> of
    /// routing domain <paramref name="domain"/> when neither a record of the domain nor the L2Only
    /// record of the inner source MAC does (FORWARDING 7.2): a Dynamic binding of the domain (a
    /// routed frame from an L2Only VM's learned CA carries the gateway MAC), else the domain's
    /// GatewayWildcard record for an address outside the virtual network; -1 for a gateway
    /// address or a subnet's network or broadcast address, which no VM sends from.
    /// </summary>
    internal static int UnrecordedNvgreSource(PolicySnapshot p, uint vsid, int domain, IpAddr source, LearnedBindings learned, long nowNs, out DomainAddress owned)
    {
        owned = DomainAddressOf(p, vsid, domain, source, learned, nowNs);
        return owned.Kind switch
        {
            DomainAddressKind.Outside => domain >= 0 ? p.Domains[domain].Wildcard(source.IsV4) : -1,
            DomainAddressKind.Record or DomainAddressKind.Binding => owned.Record,
            _ => -1,
        };
    }
}
