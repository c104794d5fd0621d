using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>A lookup record as the pipeline uses it: the configured fields plus what was resolved at build time.</summary>
public readonly struct RecordEntry
{
    public uint Vsid { get; init; }
    public IpAddr CustomerAddress { get; init; }
    public MacAddress MacAddress { get; init; }
    public IpAddr ProviderAddress { get; init; }
    public TranslationRule Rule { get; init; }
    public RecordType Type { get; init; }

    /// <summary>Index into <see cref="PolicySnapshot.LocalPas"/> when the PA is owned by this host, else -1.</summary>
    public int LocalPaIndex { get; init; }

    /// <summary>Index into <see cref="PolicySnapshot.RemotePas"/> when the PA is another host's, else -1.</summary>
    public int RemotePaIndex { get; init; }

    /// <summary>The vm (or external) port with this record's MAC and VSID when the PA is local; else -1.</summary>
    public int LocalPortIndex { get; init; }

    /// <summary>Index into <see cref="PolicySnapshot.Domains"/>; -1 when the VSID has no customer route.</summary>
    public int DomainIndex { get; init; }

    /// <summary>
    /// For a local VM's record: the first template index of its PA's row (row × RemotePas.Length),
    /// so the tunnel toward a destination is <c>TemplateRow + destination.RemotePaIndex</c>; else -1.
    /// </summary>
    public int TemplateRow { get; init; }

    public bool IsLocal => LocalPaIndex >= 0;
}

/// <summary>
/// The payload the record lookup slot carries, so the common forwarding path decides without
/// reading the record: the low 32 bits are the local vm port (local PA) or the remote PA index;
/// the high bits are flags.
/// </summary>
public static class ForwardingData
{
    private const ulong LocalFlag = 1UL << 32;
    private const ulong NatFlag = 2UL << 32;

    public static ulong Pack(in RecordEntry r) =>
        (uint)(r.IsLocal ? r.LocalPortIndex : r.RemotePaIndex)
        | (r.IsLocal ? LocalFlag : 0)
        | (r.Rule == TranslationRule.Nat ? NatFlag : 0);

    /// <summary>The local vm port index (local) or the remote PA index (remote); -1 for a local PA with no port here.</summary>
    public static int Index(ulong data) => (int)(uint)data;

    public static bool IsLocal(ulong data) => (data & LocalFlag) != 0;

    public static bool IsNat(ulong data) => (data & NatFlag) != 0;
}

/// <summary>A (source PA, remote PA) pair: the remote PA and the index of its header template.</summary>
public readonly struct Tunnel
{
    public IpAddr RemotePa { get; init; }
    public int Template { get; init; }
}

/// <summary>A provider address owned by this host; <paramref name="IsNat"/> when it is a TranslationMethodNat record's (that VM's alone).</summary>
public sealed record LocalPa(IpAddr Address, IpPrefix Prefix, ushort VlanId, int PortIndex, bool IsNat = false);

/// <summary>The on-link prefix of a virtual subnet and the gateway address the dataplane owns in it.</summary>
public readonly record struct GatewayAddress(IpAddr Address, IpPrefix Prefix);

/// <summary>Per-VSID facts: its routing domain, gateway addresses, and whether a vm port here uses it.</summary>
public sealed class VsidInfo
{
    public required uint Vsid { get; init; }
    public required int DomainIndex { get; init; }
    public required GatewayAddress[] Gateways { get; init; }
    public bool HasLocalPort { get; init; }

    /// <summary>Where broadcast / multicast of the VSID goes when it floods (<c>virtualSubnets</c>); null: flooding off.</summary>
    public FloodGroup? Flood { get; internal set; }

    /// <summary>The gateway whose prefix contains <paramref name="address"/>, if any.</summary>
    public bool TryGetGatewayFor(IpAddr address, out IpAddr gateway)
    {
        foreach (var g in Gateways)
        {
            if (g.Prefix.Contains(address))
            {
                gateway = g.Address;
                return true;
            }
        }

        gateway = default;
        return false;
    }

    public bool IsGatewayAddress(IpAddr address)
    {
        foreach (var g in Gateways)
        {
            if (g.Address == address)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether <paramref name="address"/> is the network or the broadcast address of one of the
    /// VSID's on-link IPv4 subnets (a /30 or wider): never a host's own address.
    /// </summary>
    public bool IsSubnetEdge(IpAddr address)
    {
        if (!address.IsV4)
        {
            return false;
        }

        foreach (var g in Gateways)
        {
            var prefix = g.Prefix;
            if (prefix.IsV4 && prefix.Length <= 30 && prefix.Contains(address))
            {
                uint hostMask = (uint)((1UL << (32 - prefix.Length)) - 1);
                uint host = address.V4 & hostMask;
                if (host == 0 || host == hostMask)
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>How <see cref="PolicySnapshot.TryRouteFrom"/> chose between the best route and <c>useExternalRouter</c>'s router.</summary>
public enum ExternalRouterChoice : byte
{
    /// <summary>The best route: the flag is off, or the route is not another VSID's on-link route.</summary>
    BestRoute,
    /// <summary>Redirected to the router of the first route naming one.</summary>
    Router,
    /// <summary>Another VSID's on-link route, and no route naming a router contains the destination.</summary>
    NoRouter,
    /// <summary>The sender is an external port or the GatewayWildcard VM: its traffic is routed directly.</summary>
    SenderIsGateway,
    /// <summary>The router would be the sending port itself: routed directly.</summary>
    RouterIsSender,
    /// <summary>The router would be an external port of this host: routed directly.</summary>
    RouterIsExternalPort,
}

public readonly record struct CustomerRouteEntry(uint Vsid, IpPrefix Prefix, IpAddr NextHop, uint Metric, int FileOrder)
{
    public bool IsOnLink => NextHop.IsUnspecified;
}

/// <summary>A routing domain: its VSIDs and its customer routes, sorted so the first match wins.</summary>
public sealed class RoutingDomain
{
    public required Guid Id { get; init; }
    public required uint[] Vsids { get; init; }

    /// <summary>Longest prefix first, then lowest metric, then lowest VSID, then file order.</summary>
    public required CustomerRouteEntry[] Routes { get; init; }

    /// <summary>GatewayWildcard record indices (IPv4 and IPv6), -1 when absent.</summary>
    public int WildcardV4 { get; init; } = -1;
    public int WildcardV6 { get; init; } = -1;

    /// <summary>
    /// With <c>global.useExternalRouter</c>, the Encap records (Static or Dynamic: a record of
    /// the next hop CA itself, not the GatewayWildcard record standing for one) the domain's
    /// routes name as next hop: the routers that forward the domain's traffic between its
    /// subnets, and so may send from its VMs' CAs. Empty without it.
    /// </summary>
    public int[] Routers { get; internal set; } = [];

    /// <summary>Whether one of the domain's VSIDs has a vm or external port on this host (<see cref="PolicySnapshot.MayCarryMessages"/>).</summary>
    public bool HasLocalPort { get; init; }

    public bool TryRoute(IpAddr destination, out CustomerRouteEntry route)
    {
        foreach (var r in Routes)
        {
            if (r.Prefix.Contains(destination))
            {
                route = r;
                return true;
            }
        }

        route = default;
        return false;
    }

    /// <summary>
    /// The first route (same order as <see cref="TryRoute"/>) that contains the destination and
    /// names a router as next hop: where cross-subnet traffic goes under
    /// <c>global.useExternalRouter</c>.
    /// </summary>
    public bool TryRouteViaRouter(IpAddr destination, out CustomerRouteEntry route)
    {
        foreach (var r in Routes)
        {
            if (!r.IsOnLink && r.Prefix.Contains(destination))
            {
                route = r;
                return true;
            }
        }

        route = default;
        return false;
    }

    /// <summary>The GatewayWildcard record index for the address family, -1 when there is none.</summary>
    public int Wildcard(bool v4) => v4 ? WildcardV4 : WildcardV6;
}

/// <summary>A port as the pipeline sees it.</summary>
public sealed class PortInfo
{
    public required int Index { get; init; }
    public required PortConfig Config { get; init; }
    public string Name => Config.Name;
    public PortRole Role => Config.Role;
    public int Mtu => Config.Mtu;

    /// <summary>The port's MAC, kept here rather than read through <see cref="Config"/> on every frame.</summary>
    public required MacAddress Mac { get; init; }

    /// <summary>For vm and external ports: the VSID facts; null for provider ports.</summary>
    public VsidInfo? Vsid { get; init; }

    /// <summary>For provider ports: the local PAs that live on it.</summary>
    public int[] LocalPaIndices { get; init; } = [];

    /// <summary>An external port (the NVGRE gateway's leg on a physical network), read without touching <see cref="Config"/>.</summary>
    public bool IsExternal { get; init; }

    /// <summary>For external ports: the address, prefix, next hop and VLAN on the external network.</summary>
    public ExternalPortConfig? External => Config.External;
}

/// <summary>
/// The outer headers toward one remote PA from one local PA, built when the policy is installed
/// and copied in front of every packet (the Open vSwitch habit): Ethernet (+ VLAN tag), outer IP
/// with the length, TOS and checksum left for the per-packet patch, GRE with the key left zero.
/// </summary>
public readonly struct EncapTemplate
{
    /// <summary>Why this tunnel cannot be used (None when it can).</summary>
    public DropReason Unusable { get; init; }
    /// <summary>Where the template's first byte is in <see cref="PolicySnapshot.TemplateBytes"/>.</summary>
    public int ByteOffset { get; init; }

    /// <summary>
    /// Start of the template's fixed-size slot: templates are stored right-aligned in their
    /// <see cref="PolicySnapshot.TemplateStride"/>-byte slot, so a push copies the whole slot (a
    /// constant-size, vectorised copy) to end exactly where the inner frame begins.
    /// </summary>
    public int SlotOffset { get; init; }
    public int Length { get; init; }
    public int IpOffset { get; init; }
    public bool OuterV6 { get; init; }
    public int ProviderPortIndex { get; init; }
    public int Mtu { get; init; }

    /// <summary>The next hop toward the remote PA (the PA itself when on-link).</summary>
    public IpAddr NextHop { get; init; }

    /// <summary>The local PA frames leave from (the ARP / ND sender address when resolving the next hop).</summary>
    public IpAddr SourceAddress { get; init; }

    /// <summary>The source PA's VLAN (0: untagged).</summary>
    public ushort VlanId { get; init; }

    /// <summary>Sum of the outer IPv4 header words with TOS, total length and checksum zero.</summary>
    public ulong PartialIpv4Sum { get; init; }

    /// <summary>The outer IP + GRE + inner Ethernet overhead counted against the MTU.</summary>
    public int Overhead => (OuterV6 ? Ipv6.HeaderSize : Ipv4.MinHeaderSize) + Gre.NvgreSize + Ethernet.HeaderSize;
}

/// <summary>
/// One immutable version of the whole forwarding state, compiled from a <see cref="HostConfig"/>.
/// Readers take <see cref="PolicyStore.Current"/> once per batch and never lock; a writer builds
/// a new snapshot off to the side and publishes it with one reference write.
/// </summary>
public sealed class PolicySnapshot
{
    private PolicySnapshot(HostConfig config, long version)
    {
        Config = config;
        Version = version;
    }

    public HostConfig Config { get; }
    public long Version { get; }
    public GlobalSettings Global => Config.Global;

    public PortInfo[] Ports { get; private set; } = [];

    /// <summary>Whether some port is external: local deliveries then check whether they go to one.</summary>
    public bool HasExternalPort { get; private set; }
    public RecordEntry[] Records { get; private set; } = [];

    /// <summary>(VSID, CA) → record index.</summary>
    public LookupTable RecordIndex { get; private set; } = LookupTable.Empty;

    /// <summary>(0, CA) → some record with that CA (for telling isolation from a plain miss).</summary>
    public LookupTable AnyVsidIndex { get; private set; } = LookupTable.Empty;

    /// <summary>
    /// CA → its records other than <see cref="AnyVsidIndex"/>'s, for the few CAs with records in
    /// several VSIDs. By (VSID, CA) alone, so a version with the same records index by index
    /// shares it even when customer routes moved a VSID to another routing domain.
    /// </summary>
    private Dictionary<IpAddr, List<int>> _moreRecordsOfCa = [];

    /// <summary>
    /// A record of <paramref name="ca"/> outside routing domain <paramref name="domainIndex"/>
    /// (in another, or in a VSID of none), or -1: a destination that the sender's VSID has no
    /// record of is then another tenant's (isolation) rather than nobody's, whatever the order
    /// of the records.
    /// </summary>
    public int RecordOutsideDomain(IpAddr ca, int domainIndex)
    {
        int any = AnyVsidIndex.Find(0, ca);
        if (any < 0)
        {
            return -1;
        }

        int domain = Records[any].DomainIndex;
        if (domain < 0 || domain != domainIndex)
        {
            return any;
        }

        if (_moreRecordsOfCa.Count != 0 && _moreRecordsOfCa.TryGetValue(ca, out var more))
        {
            foreach (int other in more)
            {
                int d = Records[other].DomainIndex;
                if (d < 0 || d != domainIndex)
                {
                    return other;
                }
            }
        }

        return -1;
    }

    /// <summary>(0, PA) → the Nat record owning that PA.</summary>
    public LookupTable NatIndex { get; private set; } = LookupTable.Empty;

    /// <summary>(0, PA) → index into <see cref="LocalPas"/>.</summary>
    public LookupTable LocalPaIndex { get; private set; } = LookupTable.Empty;

    public LocalPa[] LocalPas { get; private set; } = [];
    public IpAddr[] RemotePas { get; private set; } = [];
    public RoutingDomain[] Domains { get; private set; } = [];
    public Dictionary<uint, VsidInfo> Vsids { get; private set; } = [];

    /// <summary>The per-tenant ACLs compiled per port (AclTable.cs).</summary>
    public AclTable Acls { get; private set; } = AclTable.Empty;

    /// <summary>
    /// Tunnels: one row per local PA that a VM on this host sends from, one column per remote
    /// PA; index = source record's <see cref="RecordEntry.TemplateRow"/> + destination's
    /// RemotePaIndex. Each names the remote PA (so NAT needs no other read) and its template.
    /// </summary>
    public Tunnel[] Tunnels { get; private set; } = [];

    /// <summary>
    /// Header templates: one per (source PA, remote PA) for Encap; for NAT-only remote PAs, one
    /// per (source PA, next hop), since IP rewrite uses only the Ethernet part.
    /// </summary>
    public EncapTemplate[] Templates { get; private set; } = [];
    public byte[] TemplateBytes { get; private set; } = [];

    /// <summary>What DHCP answers on each vm port (docs/FORWARDING.md section 5).</summary>
    public DhcpBindings Dhcp { get; private set; } = DhcpBindings.Empty;

    /// <summary>Records moved away from this host and still relayed here (MovedRecords.cs, docs/FORWARDING.md section 8).</summary>
    public MovedRecords Moved { get; internal set; } = MovedRecords.Empty;

    private Dictionary<IpAddr, MacAddress> _neighbors = [];

    public const int TemplateStride = 80;

    public int FindPort(string name) => Array.FindIndex(Ports, p => p.Name == name);

    public ref readonly EncapTemplate Template(in RecordEntry source, int remotePaIndex) =>
        ref Templates[Tunnels[source.TemplateRow + remotePaIndex].Template];

    /// <summary>The record index for (vsid, ca), or -1.</summary>
    public int FindRecord(uint vsid, IpAddr ca) => RecordIndex.Find(vsid, ca);

    /// <summary>The record of <paramref name="ca"/> in <paramref name="vsid"/> or, failing that, in another VSID of routing domain <paramref name="domain"/>; -1 when none.</summary>
    public int FindRecordInDomain(uint vsid, int domain, IpAddr ca)
    {
        int r = RecordIndex.Find(vsid, ca);
        if (r >= 0 || domain < 0)
        {
            return r;
        }

        foreach (uint v in Domains[domain].Vsids)
        {
            if (v != vsid && (r = RecordIndex.Find(v, ca)) >= 0)
            {
                return r;
            }
        }

        return -1;
    }

    /// <summary>
    /// The GatewayWildcard record of the family when <paramref name="port"/> is its routing
    /// domain's gateway VM (the record's VSID and MAC), else -1: the record that vouches for the
    /// addresses outside the virtual network that VM forwards.
    /// </summary>
    public int GatewayWildcardOf(PortInfo port, bool v4)
    {
        var vsid = port.Vsid;
        if (vsid is null || vsid.DomainIndex < 0)
        {
            return -1;
        }

        int w = Domains[vsid.DomainIndex].Wildcard(v4);
        return w >= 0 && Records[w].Vsid == vsid.Vsid && Records[w].MacAddress == port.Mac ? w : -1;
    }

    /// <summary>
    /// With <c>global.useExternalRouter</c>, the record of the family that makes
    /// <paramref name="port"/> a router of its routing domain (<see cref="RoutingDomain.Routers"/>:
    /// a route's next hop, in the port's VSID with the port's MAC), else -1: the record that
    /// vouches for the domain's CAs the router VM forwards.
    /// </summary>
    public int RouterRecordOf(PortInfo port, bool v4)
    {
        var vsid = port.Vsid;
        if (vsid is null || vsid.DomainIndex < 0)
        {
            return -1;
        }

        foreach (int r in Domains[vsid.DomainIndex].Routers)
        {
            ref readonly RecordEntry e = ref Records[r];
            if (e.Vsid == vsid.Vsid && e.MacAddress == port.Mac && e.IsLocal && e.CustomerAddress.IsV4 == v4)
            {
                return r;
            }
        }

        return -1;
    }

    /// <summary>
    /// With <c>global.useExternalRouter</c>, the router of routing domain <paramref name="domain"/>
    /// on another host whose PA is <paramref name="pa"/> (<see cref="RoutingDomain.Routers"/>),
    /// with a record of the family and MAC <paramref name="mac"/>, else -1: NVGRE from that PA
    /// whose inner source MAC is the router's may carry the domain's CAs of that family the router
    /// forwarded (as its own host lets it send them, RouterRecordOf, and marks them,
    /// Forwarder.RoutedSourceMac).
    /// </summary>
    public int RemoteRouterAt(int domain, IpAddr pa, bool v4, MacAddress mac)
    {
        if (domain < 0)
        {
            return -1;
        }

        foreach (int r in Domains[domain].Routers)
        {
            ref readonly RecordEntry e = ref Records[r];
            if (!e.IsLocal && e.ProviderAddress == pa && e.CustomerAddress.IsV4 == v4 && e.MacAddress == mac)
            {
                return r;
            }
        }

        return -1;
    }

    /// <summary>
    /// Whether NVGRE in VSID <paramref name="vsid"/>, where this host has no port, may carry an
    /// MS-NVGREE message for it: the VSID is in a routing domain where this host has a port, so
    /// its VMs' traffic may be routed there (a message comes in the VSID of the traffic it is
    /// about). Any other such VSID carries nothing for this host.
    /// </summary>
    public bool MayCarryMessages(VsidInfo vsid) => vsid.DomainIndex >= 0 && Domains[vsid.DomainIndex].HasLocalPort;

    /// <summary>With <c>global.useExternalRouter</c>, a router record of routing domain <paramref name="domain"/> with MAC <paramref name="mac"/>; -1 when none.</summary>
    public int RouterWithMac(int domain, MacAddress mac)
    {
        if (domain < 0)
        {
            return -1;
        }

        foreach (int r in Domains[domain].Routers)
        {
            if (Records[r].MacAddress == mac)
            {
                return r;
            }
        }

        return -1;
    }

    /// <summary>
    /// A destination CA with no record: the gateway VM's port, when this host runs the routing
    /// domain's GatewayWildcard VM in VSID <paramref name="vsid"/> of domain
    /// <paramref name="domainIndex"/> (HNV: "packets from outside addressed to any CA are
    /// accepted via the wildcard record"); -1 otherwise. The forwarder and the tracer both ask this.
    /// </summary>
    public int WildcardPort(int domainIndex, uint vsid, IpAddr destination)
    {
        if (domainIndex < 0)
        {
            return -1;
        }

        int w = Domains[domainIndex].Wildcard(destination.IsV4);
        if (w < 0)
        {
            return -1;
        }

        ref readonly RecordEntry gateway = ref Records[w];
        return gateway.Vsid == vsid && gateway.IsLocal ? gateway.LocalPortIndex : -1;
    }

    /// <summary>
    /// The customer route the distributed router takes for a frame from port
    /// <paramref name="from"/> (null: a sender on another host, taken for an ordinary VM) toward
    /// <paramref name="destination"/>: the routing domain's best route, or, with
    /// <c>global.useExternalRouter</c> when that is another VSID's on-link route, the best route
    /// naming a router (HNV's UseExternalRouter: VM cross-subnet traffic to the external routers
    /// configured with customer routes). The redirection is for ordinary VMs' traffic only: a
    /// frame from an external port or from the routing domain's GatewayWildcard VM, one whose
    /// router would be the sending port itself, and one whose router would be an external port
    /// (the physical router would send tenant traffic back in from a tenant source, which the
    /// port refuses) take the best route directly; <paramref name="choice"/> says which. False: none.
    /// </summary>
    public bool TryRouteFrom(int domainIndex, PortInfo? from, IpAddr destination, out CustomerRouteEntry route, out ExternalRouterChoice choice)
    {
        route = default;
        choice = ExternalRouterChoice.BestRoute;
        if (domainIndex < 0 || !Domains[domainIndex].TryRoute(destination, out route))
        {
            return false;
        }

        if (!Global.UseExternalRouter || !route.IsOnLink || (from is not null && route.Vsid == from.Vsid!.Vsid))
        {
            return true;
        }

        if (from is not null && (from.IsExternal || GatewayWildcardOf(from, true) >= 0 || GatewayWildcardOf(from, false) >= 0))
        {
            choice = ExternalRouterChoice.SenderIsGateway;
            return true;
        }

        var best = route;
        if (!Domains[domainIndex].TryRouteViaRouter(destination, out route))
        {
            choice = ExternalRouterChoice.NoRouter;
            return false;
        }

        int hop = RecordIndex.Find(route.Vsid, route.NextHop);
        if (hop < 0)
        {
            hop = WildcardNextHop(domainIndex, in route);
        }

        if (hop >= 0 && Records[hop].IsLocal && Records[hop].LocalPortIndex >= 0)
        {
            int port = Records[hop].LocalPortIndex;
            if (from is not null && port == from.Index)
            {
                route = best;
                choice = ExternalRouterChoice.RouterIsSender;
                return true;
            }

            if (Ports[port].IsExternal)
            {
                route = best;
                choice = ExternalRouterChoice.RouterIsExternalPort;
                return true;
            }
        }

        choice = ExternalRouterChoice.Router;
        return true;
    }

    /// <summary>
    /// The routing domain's GatewayWildcard record standing for the next hop of
    /// <paramref name="route"/> (one with no record of its own) when it is in the route's VSID; -1
    /// otherwise, and for an on-link route.
    /// </summary>
    public int WildcardNextHop(int domainIndex, in CustomerRouteEntry route)
    {
        if (route.IsOnLink)
        {
            return -1;
        }

        int w = Domains[domainIndex].Wildcard(route.NextHop.IsV4);
        return w >= 0 && Records[w].Vsid == route.Vsid ? w : -1;
    }

    /// <summary>
    /// Whether the routing domain's best route for <paramref name="destination"/> is an on-link
    /// route: an address of the domain's own subnets, which the external port never routes out
    /// (only <c>useExternalRouter</c>'s redirection on another host would send it one).
    /// </summary>
    public bool IsOnLinkInDomain(int domainIndex, IpAddr destination) =>
        domainIndex >= 0 && Domains[domainIndex].TryRoute(destination, out var route) && route.IsOnLink;

    /// <summary>
    /// The local port a customer route made the next hop of a decapsulated packet whose
    /// destination has no record in VSID <paramref name="vsid"/>: the routing domain's best route
    /// for the destination names a next hop whose record is on this host, in that VSID, with the
    /// inner destination MAC — a router VM, to which the sending host routed the packet (this
    /// host, with the same policy, takes it as that host decided). -1 otherwise; the next hop's
    /// record index in <paramref name="hop"/>.
    /// </summary>
    public int RoutedNextHopPort(int domainIndex, uint vsid, IpAddr destination, MacAddress innerDestinationMac, out int hop)
    {
        // The sender is not known here: taken for an ordinary VM, an on-link route of another
        // subnet goes to the external router as the sender's would (an on-link route otherwise
        // leads to the destination's own record, which it has not).
        hop = -1;
        int index = RoutedNextHopRecord(domainIndex, vsid, destination, innerDestinationMac);
        if (index < 0 || !Records[index].IsLocal || Records[index].LocalPortIndex < 0)
        {
            return -1;
        }

        hop = index;
        return Records[index].LocalPortIndex;
    }

    /// <summary>
    /// The record of the next hop the routing domain's best route for
    /// <paramref name="destination"/> names (as <see cref="RoutedNextHopPort"/> takes it), when it
    /// is in VSID <paramref name="vsid"/> with MAC <paramref name="innerDestinationMac"/>, on this
    /// host or not (a router that moved away: Migration.cs relays to it); -1 otherwise.
    /// </summary>
    public int RoutedNextHopRecord(int domainIndex, uint vsid, IpAddr destination, MacAddress innerDestinationMac)
    {
        if (!TryRouteFrom(domainIndex, null, destination, out var route, out _) || route.IsOnLink)
        {
            return -1;
        }

        int index = RecordIndex.Find(route.Vsid, route.NextHop);
        return index >= 0 && Records[index].Vsid == vsid && Records[index].MacAddress == innerDestinationMac ? index : -1;
    }

    /// <summary>
    /// The local port for a decapsulated packet whose destination has no record in VSID
    /// <paramref name="vsid"/>: a router VM a customer route made the next hop
    /// (<see cref="RoutedNextHopPort"/>, its record in <paramref name="hop"/>), else the routing
    /// domain's GatewayWildcard VM (<see cref="WildcardPort"/>, <paramref name="hop"/> -1); -1 when
    /// neither is here. The forwarder and the tracer both ask this.
    /// </summary>
    public int RoutedOrWildcardPort(int domainIndex, uint vsid, IpAddr destination, MacAddress innerDestinationMac, out int hop)
    {
        int port = RoutedNextHopPort(domainIndex, vsid, destination, innerDestinationMac, out hop);
        return port >= 0 ? port : WildcardPort(domainIndex, vsid, destination);
    }

    public static PolicySnapshot Build(HostConfig config, long version = 1) => Build(config, version, null);

    /// <summary>
    /// As <see cref="Build(HostConfig, long)"/>; when <paramref name="previous"/> (the version
    /// being replaced) was compiled from the same ports, provider addresses, routes and neighbors
    /// and global settings (the same objects: a change of lookup records alone), its remote PAs
    /// keep their indices and, when the tunnels come out the same, the new version shares its
    /// tunnel and template tables instead of building equal ones: a policy changed many times a
    /// second then allocates only what changed, and the collector has less to do.
    /// </summary>
    public static PolicySnapshot Build(HostConfig config, long version, PolicySnapshot? previous)
    {
        var s = new PolicySnapshot(config, version);
        s.BuildDomainsAndPorts();
        s.Acls = AclTable.Build(config.Acls, s.Ports);
        var shared = previous is not null && SameTunnelInputs(previous.Config, config) ? previous : null;
        var cache = shared?._cache is { } c && c.Owner == shared ? c : null;
        try
        {
            s.BuildRecords(shared, cache);
            s.MarkNatPas();
            s.BuildTemplates(shared);
        }
        catch
        {
            // What this build appended is not to be trusted by the next: it starts afresh.
            cache?.Owner = null;
            throw;
        }

        s._cache.Owner = s;
        s.L2OnlyIndex = IndexL2Only(s.Records);
        s.Dhcp = DhcpBindings.Build(s);
        FloodGroup.Attach(s);
        return s;
    }

    /// <summary>
    /// Build state handed from each version to the next while the tunnel inputs stay the same:
    /// where each remote PA stands and every header template built so far, so that a version
    /// that adds remote PAs builds only their templates and appends them to the tables the
    /// versions before it use (none of them reads past the templates it was built with). Only the
    /// version that last extended it (<see cref="Owner"/>) hands it on; a build that fails hands
    /// it to nobody, and the next build starts afresh.
    /// </summary>
    private sealed class TunnelCache(int remotes = 0, int templates = 0)
    {
        public PolicySnapshot? Owner;
        public readonly Dictionary<IpAddr, int> RemoteIndex = new(remotes);
        public readonly Dictionary<(int Local, bool Nat, IpAddr Key, bool V4), int> TemplateIndex = new(templates);
        public EncapTemplate[] Templates = templates == 0 ? [] : LargeArray.Allocate<EncapTemplate>(templates);
        public byte[] TemplateBytes = templates == 0 ? [] : LargeArray.Allocate<byte>(templates * TemplateStride);
        public int TemplateCount;

        /// <summary>The template of (local PA, remote PA), built and appended when no version has built it yet.</summary>
        public int Template(PolicySnapshot s, int local, bool nat, IpAddr remote)
        {
            var key = nat && s.TryResolveNextHop(s.LocalPas[local], remote, out var hop) ? hop : remote;
            if (TemplateIndex.TryGetValue((local, nat, key, remote.IsV4), out int t))
            {
                return t;
            }

            if (TemplateCount == Templates.Length)
            {
                // New, larger tables for this version on; the versions before keep the old ones.
                int capacity = Math.Max(16, Templates.Length * 2);
                var templates = LargeArray.Allocate<EncapTemplate>(capacity);
                var bytes = LargeArray.Allocate<byte>(capacity * TemplateStride);
                Templates.AsSpan(0, TemplateCount).CopyTo(templates);
                TemplateBytes.AsSpan(0, TemplateCount * TemplateStride).CopyTo(bytes);
                (Templates, TemplateBytes) = (templates, bytes);
            }

            t = TemplateCount;
            Templates[t] = s.BuildTemplate(s.LocalPas[local], remote, TemplateBytes, t * TemplateStride);
            TemplateIndex[(local, nat, key, remote.IsV4)] = t;
            TemplateCount++;
            return t;
        }
    }

    private TunnelCache _cache = new();

    /// <summary>Marks the local PAs that <see cref="NatIndex"/> (built by BuildRecords) gives to a Nat record.</summary>
    private void MarkNatPas()
    {
        for (int i = 0; i < LocalPas.Length; i++)
        {
            if (NatIndex.Find(0, LocalPas[i].Address) >= 0)
            {
                LocalPas[i] = LocalPas[i] with { IsNat = true };
            }
        }
    }

    private void BuildDomainsAndPorts()
    {
        var config = Config;
        // Local PAs.
        var localPas = new List<LocalPa>();
        var portIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < config.Ports.Count; i++)
        {
            portIndex.TryAdd(config.Ports[i].Name, i);
        }

        foreach (var pa in config.ProviderAddresses)
        {
            int port = portIndex.GetValueOrDefault(pa.Port, -1);
            localPas.Add(new LocalPa(pa.Address, new IpPrefix(pa.Address, pa.PrefixLength), pa.VlanId, port));
        }

        LocalPas = [.. localPas];
        LocalPaIndex = new LookupTable(localPas.Select((p, i) => (0u, p.Address, i)).ToList());

        // Routing domains and per-VSID gateway addresses (routes grouped once: a rescan per
        // domain or per VSID made 100,000 routes take minutes).
        var routesByDomain = config.CustomerRoutes.Select((r, i) => (r, i)).GroupBy(x => x.r.RoutingDomainId).ToList();
        var domains = new List<RoutingDomain>();
        var vsidDomain = new Dictionary<uint, int>();
        foreach (var (group, di) in routesByDomain.Select((g, i) => (g, i)))
        {
            var id = group.Key;
            var routes = group
                .Select(x => new CustomerRouteEntry(x.r.VirtualSubnetId, x.r.DestinationPrefix, x.r.NextHop, x.r.Metric, x.i))
                .OrderByDescending(r => r.Prefix.Length + (r.Prefix.IsV4 ? 96 : 0))
                .ThenBy(r => r.Metric)
                .ThenBy(r => r.Vsid)
                .ThenBy(r => r.FileOrder)
                .ToArray();
            var vsids = routes.Select(r => r.Vsid).Distinct().OrderBy(v => v).ToArray();
            foreach (var v in vsids)
            {
                vsidDomain[v] = di;
            }

            domains.Add(new RoutingDomain { Id = id, Vsids = vsids, Routes = routes });
        }

        Domains = [.. domains];

        var portVsids = config.Ports.Where(p => p.Role != PortRole.Provider && p.VirtualSubnetId.HasValue).Select(p => p.VirtualSubnetId!.Value).ToHashSet();
        var allVsids = new HashSet<uint>(portVsids);
        allVsids.UnionWith(config.LookupRecords.Select(r => r.VirtualSubnetId));
        allVsids.UnionWith(vsidDomain.Keys);
        var onLinkByVsid = config.CustomerRoutes.Where(r => r.NextHop.IsUnspecified).ToLookup(r => r.VirtualSubnetId);
        var vsidInfos = new Dictionary<uint, VsidInfo>();
        foreach (var v in allVsids)
        {
            var gateways = onLinkByVsid[v]
                .Select(r => r.DestinationPrefix.TryGetGatewayAddress(out var gw) ? new GatewayAddress(gw, r.DestinationPrefix) : (GatewayAddress?)null)
                .Where(g => g.HasValue)
                .Select(g => g!.Value)
                .ToArray();
            vsidInfos[v] = new VsidInfo
            {
                Vsid = v,
                DomainIndex = vsidDomain.TryGetValue(v, out int d) ? d : -1,
                Gateways = gateways,
                HasLocalPort = portVsids.Contains(v),
            };
        }

        Vsids = vsidInfos;

        var ports = new PortInfo[config.Ports.Count];
        for (int i = 0; i < ports.Length; i++)
        {
            var pc = config.Ports[i];
            ports[i] = new PortInfo
            {
                Index = i,
                Config = pc,
                Mac = pc.MacAddress,
                Vsid = pc.Role != PortRole.Provider && pc.VirtualSubnetId is uint v ? vsidInfos[v] : null,
                LocalPaIndices = localPas.Select((p, k) => (p, k)).Where(x => x.p.PortIndex == i).Select(x => x.k).ToArray(),
                IsExternal = pc.Role == PortRole.External,
            };
        }

        Ports = ports;
        HasExternalPort = ports.Any(p => p.IsExternal);
    }

    private static bool SameTunnelInputs(HostConfig a, HostConfig b) =>
        ReferenceEquals(a.Ports, b.Ports) && ReferenceEquals(a.ProviderAddresses, b.ProviderAddresses)
        && ReferenceEquals(a.ProviderRoutes, b.ProviderRoutes) && ReferenceEquals(a.ProviderNeighbors, b.ProviderNeighbors)
        && ReferenceEquals(a.Global, b.Global);

    /// <summary>(VSID, MAC, IPv4?) → the first L2Only record (the forwarder's dynamic records and the packet tracer read it).</summary>
    public Dictionary<(uint Vsid, ulong Mac, bool V4), int> L2OnlyIndex { get; private set; } = [];

    private static Dictionary<(uint Vsid, ulong Mac, bool V4), int> IndexL2Only(RecordEntry[] records)
    {
        var l2Only = new Dictionary<(uint, ulong, bool), int>();
        for (int i = 0; i < records.Length; i++)
        {
            ref readonly RecordEntry r = ref records[i];
            if (r.Type == RecordType.L2Only)
            {
                l2Only.TryAdd((r.Vsid, r.MacAddress.Value, r.CustomerAddress.IsV4), i);
            }
        }

        return l2Only;
    }

    // Whether each remote PA is used by TranslationMethodNat records only (BuildTemplates).
    private bool[] _natOnly = [];

    /// <param name="previous">A version with the same tunnel inputs whose remote PA indices to keep, or null.</param>
    /// <param name="cache">Its build state when it may be extended (see <see cref="TunnelCache"/>), or null.</param>
    private void BuildRecords(PolicySnapshot? previous, TunnelCache? cache)
    {
        var config = Config;
        var vmPorts = new Dictionary<(uint, ulong), int>();
        foreach (var p in Ports)
        {
            if (p.Role != PortRole.Provider && p.Config.VirtualSubnetId is uint v)
            {
                vmPorts.TryAdd((v, p.Mac.Value), p.Index);
            }
        }

        // Keep the indices (a PA no record names any more stays until a version has twice as
        // many remote PAs as records), and with them the templates built for them.
        bool keep = previous is not null && previous.RemotePas.Length <= (2 * config.LookupRecords.Count) + 64;
        // A new cache is sized as the last one ended (the policy of a host changes, its size hardly).
        _cache = keep && cache is not null ? cache
            : previous is null ? new TunnelCache()
            : new TunnelCache(previous.RemotePas.Length, previous._cache.TemplateCount);
        var remoteIndex = _cache.RemoteIndex;
        var remotes = new List<IpAddr>((previous?.RemotePas.Length ?? 0) + 64);
        if (keep)
        {
            remotes.AddRange(previous!.RemotePas);
            for (int i = remoteIndex.Count; i < remotes.Count; i++)
            {
                remoteIndex[remotes[i]] = i;
            }
        }

        var records = LargeArray.Allocate<RecordEntry>(config.LookupRecords.Count);
        var (sameCas, sameNat) = SameKeys(previous, config.LookupRecords);
        var keys = new List<(uint, IpAddr, int, ulong)>(records.Length);
        var anyKeys = new List<(uint, IpAddr, int)>();
        var anySeen = new HashSet<IpAddr>(sameCas ? 0 : records.Length);
        var moreOfCa = new Dictionary<IpAddr, List<int>>();
        var natKeys = new List<(uint, IpAddr, int)>();
        var wildcards = new Dictionary<(int Domain, bool V4), int>();
        for (int i = 0; i < records.Length; i++)
        {
            var r = config.LookupRecords[i];
            int local = LocalPaIndex.Find(0, r.ProviderAddress);
            int remote = -1;
            if (local < 0 && !remoteIndex.TryGetValue(r.ProviderAddress, out remote))
            {
                remote = remotes.Count;
                remoteIndex[r.ProviderAddress] = remote;
                remotes.Add(r.ProviderAddress);
            }

            int domain = Vsids.TryGetValue(r.VirtualSubnetId, out var vi) ? vi.DomainIndex : -1;
            records[i] = new RecordEntry
            {
                Vsid = r.VirtualSubnetId,
                CustomerAddress = r.CustomerAddress,
                MacAddress = r.MacAddress,
                ProviderAddress = r.ProviderAddress,
                Rule = r.Rule,
                Type = r.Type,
                LocalPaIndex = local,
                RemotePaIndex = remote,
                LocalPortIndex = local >= 0 && vmPorts.TryGetValue((r.VirtualSubnetId, r.MacAddress.Value), out int port) ? port : -1,
                TemplateRow = -1,
                DomainIndex = domain,
            };
            if (r.Type == RecordType.GatewayWildcard)
            {
                if (domain >= 0)
                {
                    wildcards.TryAdd((domain, r.CustomerAddress.IsV4), i); // one per domain and family: validation refuses a second
                }

                continue;
            }

            if (r.Type == RecordType.L2Only)
            {
                continue; // CA 0.0.0.0 / ::, found by VSID and MAC (Forwarder, DynamicRecords.cs)
            }

            keys.Add((r.VirtualSubnetId, r.CustomerAddress, i, ForwardingData.Pack(in records[i])));
            if (!sameCas && !anySeen.Add(r.CustomerAddress))
            {
                if (!moreOfCa.TryGetValue(r.CustomerAddress, out var more))
                {
                    moreOfCa[r.CustomerAddress] = more = [];
                }

                more.Add(i);
            }
            else if (!sameCas)
            {
                anyKeys.Add((0, r.CustomerAddress, i));
            }

            if (!sameNat && r.Rule == TranslationRule.Nat)
            {
                natKeys.Add((0, r.ProviderAddress, i));
            }
        }

        Records = records;
        RemotePas = keep && remotes.Count == previous!.RemotePas.Length ? previous.RemotePas : [.. remotes];
        RecordIndex = new LookupTable(keys);
        AnyVsidIndex = sameCas ? previous!.AnyVsidIndex : new LookupTable(anyKeys);
        _moreRecordsOfCa = sameCas ? previous!._moreRecordsOfCa : moreOfCa;
        NatIndex = sameNat ? previous!.NatIndex : new LookupTable(natKeys);
        for (int d = 0; d < Domains.Length; d++)
        {
            var old = Domains[d];
            Domains[d] = new RoutingDomain
            {
                Id = old.Id,
                Vsids = old.Vsids,
                Routes = old.Routes,
                WildcardV4 = wildcards.TryGetValue((d, true), out int w4) ? w4 : -1,
                WildcardV6 = wildcards.TryGetValue((d, false), out int w6) ? w6 : -1,
                HasLocalPort = old.Vsids.Any(v => Vsids.TryGetValue(v, out var info) && info.HasLocalPort),
            };
        }

        for (int d = 0; d < Domains.Length && Global.UseExternalRouter; d++)
        {
            Domains[d].Routers = RoutersOf(d);
        }
    }

    /// <summary>The records routing domain <paramref name="domain"/>'s routes name as next hop (<see cref="RoutingDomain.Routers"/>).</summary>
    private int[] RoutersOf(int domain)
    {
        var routers = new HashSet<int>();
        foreach (var route in Domains[domain].Routes)
        {
            if (route.IsOnLink)
            {
                continue;
            }

            // The GatewayWildcard record standing for a next hop is left out: what it vouches for
            // is the gateway's, outside the network, and a router's forwarded frames are told from
            // those by the router record's MAC (Forwarder.RoutedSourceMac).
            int hop = RecordIndex.Find(route.Vsid, route.NextHop);
            if (hop >= 0 && Records[hop].Rule == TranslationRule.Encap)
            {
                routers.Add(hop);
            }
        }

        return [.. routers.Order()];
    }

    /// <summary>
    /// Whether <paramref name="records"/> have the (VSID, CA, type) of <paramref name="previous"/>'s
    /// records, index by index (then <see cref="AnyVsidIndex"/> comes out the same), and also
    /// the same NAT records and PAs (then so does <see cref="NatIndex"/>): a change of PAs
    /// between Encap records, the usual change, shares both.
    /// </summary>
    private static (bool SameCas, bool SameNat) SameKeys(PolicySnapshot? previous, IReadOnlyList<LookupRecordConfig> records)
    {
        if (previous is null || previous.Records.Length != records.Count)
        {
            return (false, false);
        }

        bool sameNat = true;
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            ref readonly var p = ref previous.Records[i];
            if (p.Vsid != r.VirtualSubnetId || p.CustomerAddress != r.CustomerAddress || p.Type != r.Type)
            {
                return (false, false);
            }

            bool nat = r.Rule == TranslationRule.Nat;
            sameNat &= (p.Rule == TranslationRule.Nat) == nat && (!nat || p.ProviderAddress == r.ProviderAddress);
        }

        return (true, sameNat);
    }

    /// <param name="previous">A version with the same tunnel inputs whose tables to share when they come out the same, or null.</param>
    private void BuildTemplates(PolicySnapshot? previous)
    {
        // Rows only for the local PAs some VM here sends from (a NAT host may own many PAs).
        var rows = new Dictionary<int, int>();
        for (int i = 0; i < Records.Length; i++)
        {
            if (Records[i].LocalPortIndex >= 0)
            {
                rows.TryAdd(Records[i].LocalPaIndex, rows.Count);
            }
        }

        int r = RemotePas.Length;
        for (int i = 0; i < Records.Length; i++)
        {
            Records[i] = Records[i] with { TemplateRow = Records[i].LocalPortIndex >= 0 ? rows[Records[i].LocalPaIndex] * r : -1 };
        }

        var natOnly = new bool[r];
        foreach (var rec in Records)
        {
            if (rec.Rule == TranslationRule.Nat && rec.RemotePaIndex >= 0)
            {
                natOnly[rec.RemotePaIndex] = true; // validation keeps a NAT PA off every other record
            }
        }

        _natOnly = natOnly;
        if (previous is not null && previous.RemotePas.AsSpan().SequenceEqual(RemotePas)
            && previous._natOnly.AsSpan().SequenceEqual(natOnly) && SameRows(previous._rows, rows))
        {
            // The same tunnels from the same inputs: the tables are equal, so share them.
            _neighbors = previous._neighbors;
            _rows = previous._rows;
            Tunnels = previous.Tunnels;
            Templates = previous.Templates;
            TemplateBytes = previous.TemplateBytes;
            return;
        }

        _rows = rows;
        if (previous is not null)
        {
            _neighbors = previous._neighbors; // the same provider neighbors (SameTunnelInputs)
        }
        else
        {
            var neighbors = new Dictionary<IpAddr, MacAddress>();
            foreach (var n in Config.ProviderNeighbors)
            {
                neighbors.TryAdd(n.Address, n.MacAddress);
            }

            _neighbors = neighbors;
        }

        // Which template each tunnel uses (NAT tunnels share one per next hop): those the cache
        // holds from earlier versions, the others built now.
        Tunnels = LargeArray.Allocate<Tunnel>(rows.Count * r);
        foreach (var (li, row) in rows)
        {
            for (int ri = 0; ri < r; ri++)
            {
                Tunnels[(row * r) + ri] = new Tunnel { RemotePa = RemotePas[ri], Template = _cache.Template(this, li, natOnly[ri], RemotePas[ri]) };
            }
        }

        Templates = _cache.Templates;
        TemplateBytes = _cache.TemplateBytes;
    }

    // Local PA index → tunnel row (BuildTemplates).
    private Dictionary<int, int> _rows = [];

    private static bool SameRows(Dictionary<int, int> a, Dictionary<int, int> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out int row) && row == kv.Value);

    /// <summary>Resolves the next hop toward <paramref name="destination"/> from <paramref name="source"/>: on-link inside the source prefix, unless a provider route holds it with a longer prefix; else the provider routes.</summary>
    public bool TryResolveNextHop(LocalPa source, IpAddr destination, out IpAddr nextHop)
    {
        var route = ProviderRouteFrom(source, destination);
        if (route is null)
        {
            bool onLink = source.Prefix.Contains(destination);
            nextHop = onLink ? destination : default;
            return onLink;
        }

        nextHop = route.NextHop.IsUnspecified ? destination : route.NextHop;
        return true;
    }

    /// <summary>
    /// The provider route that takes <paramref name="destination"/> from <paramref name="source"/>,
    /// or null when none does or the source's own prefix does: that prefix is a connected route,
    /// which a provider route beats only with a longer prefix (as in any longest-prefix router).
    /// </summary>
    public ProviderRouteConfig? ProviderRouteFrom(LocalPa source, IpAddr destination)
    {
        var best = BestProviderRoute(destination);
        return best is not null && source.Prefix.Contains(destination) && best.DestinationPrefix.Length <= source.Prefix.Length ? null : best;
    }

    /// <summary>The provider route toward <paramref name="destination"/>: longest prefix, then lowest metric, then file order; null when none holds it.</summary>
    public ProviderRouteConfig? BestProviderRoute(IpAddr destination)
    {
        ProviderRouteConfig? best = null;
        foreach (var route in Config.ProviderRoutes)
        {
            if (route.DestinationPrefix.Contains(destination)
                && (best is null || route.DestinationPrefix.Length > best.DestinationPrefix.Length
                    || (route.DestinationPrefix.Length == best.DestinationPrefix.Length && route.Metric < best.Metric)))
            {
                best = route;
            }
        }

        return best;
    }

    /// <summary>The MAC providerNeighbors gives <paramref name="address"/>, if it gives one.</summary>
    public bool TryGetProviderNeighbor(IpAddr address, out MacAddress mac) => _neighbors.TryGetValue(address, out mac);

    /// <summary>
    /// The outer headers from local PA <paramref name="source"/> to <paramref name="destination"/>,
    /// written right-aligned into the <see cref="TemplateStride"/>-byte slot at
    /// <paramref name="offset"/> of <paramref name="bytes"/> (this snapshot's own
    /// <see cref="TemplateBytes"/>, or a slot of the caller's for a PA no tunnel was built for).
    /// </summary>
    public EncapTemplate BuildTemplate(LocalPa source, IpAddr destination, byte[] bytes, int offset)
    {
        if (source.Address.IsV4 != destination.IsV4 || source.PortIndex < 0)
        {
            return new EncapTemplate { Unusable = DropReason.NoProviderRoute };
        }

        if (!TryResolveNextHop(source, destination, out var nextHop))
        {
            return new EncapTemplate { Unusable = DropReason.NoProviderRoute };
        }

        // Without a static neighbor the template is built all the same, with a zero next-hop MAC:
        // the forwarder resolves the next hop by ARP / ND and writes the MAC in per frame.
        bool resolved = _neighbors.TryGetValue(nextHop, out var nextHopMac);

        var port = Ports[source.PortIndex];
        Span<byte> t = stackalloc byte[TemplateStride];
        t.Clear();
        nextHopMac.Write(t);
        port.Mac.Write(t[Ethernet.SourceOffset..]);
        int ip = Ethernet.TypeOffset;
        if (source.VlanId != 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(t[ip..], Ethernet.TypeVlan);
            BinaryPrimitives.WriteUInt16BigEndian(t[(ip + 2)..], source.VlanId);
            ip += Ethernet.VlanTagSize;
        }

        bool v6 = destination.IsV6;
        BinaryPrimitives.WriteUInt16BigEndian(t[ip..], v6 ? Ethernet.TypeIpv6 : Ethernet.TypeIpv4);
        ip += 2;
        ulong partial = 0;
        int gre;
        if (v6)
        {
            Span<byte> h = t[ip..];
            h[0] = 0x60;
            h[Ipv6.NextHeaderOffset] = IpProtocol.Gre;
            h[Ipv6.HopLimitOffset] = Global.OuterTtl;
            source.Address.Write(h[Ipv6.SourceOffset..]);
            destination.Write(h[Ipv6.DestinationOffset..]);
            gre = ip + Ipv6.HeaderSize;
        }
        else
        {
            Span<byte> h = t[ip..];
            h[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(h[Ipv4.FlagsFragmentOffset..], Ipv4.FlagDontFragment);
            h[Ipv4.TtlOffset] = Global.OuterTtl;
            h[Ipv4.ProtocolOffset] = IpProtocol.Gre;
            source.Address.Write(h[Ipv4.SourceOffset..]);
            destination.Write(h[Ipv4.DestinationOffset..]);
            partial = Checksum.Sum(h[..Ipv4.MinHeaderSize]);
            gre = ip + Ipv4.MinHeaderSize;
        }

        BinaryPrimitives.WriteUInt16BigEndian(t[gre..], Gre.NvgreFlagsVersion);
        BinaryPrimitives.WriteUInt16BigEndian(t[(gre + 2)..], Ethernet.TypeTransparentBridging);
        int length = gre + Gre.NvgreSize;
        t[..length].CopyTo(bytes.AsSpan(offset + TemplateStride - length));
        return new EncapTemplate
        {
            Unusable = resolved ? DropReason.None : DropReason.NeighborUnresolved,
            NextHop = nextHop,
            SourceAddress = source.Address,
            VlanId = source.VlanId,
            ByteOffset = offset + TemplateStride - length,
            SlotOffset = offset,
            Length = length,
            IpOffset = ip,
            OuterV6 = v6,
            ProviderPortIndex = source.PortIndex,
            Mtu = port.Mtu,
            PartialIpv4Sum = partial,
        };
    }
}

/// <summary>
/// Holds the current <see cref="PolicySnapshot"/>. Readers read <see cref="Current"/> (a volatile
/// reference read, no lock); <see cref="Publish"/> swaps in a complete new version atomically.
/// Forwarding threads that say which version they use (<see cref="AddReader"/>) let a change be
/// answered only once it is in effect (<see cref="WaitUntilSeen"/>).
/// </summary>
public sealed class PolicyStore
{
    private readonly Func<long> _clock;
    private readonly Lock _replaceGate = new();
    private PolicySnapshot _current;
    private PolicyReader[] _readers = [];

    public PolicyStore(PolicySnapshot initial)
        : this(initial, UtcNowNs)
    {
    }

    /// <param name="clock">Now, in ns since the Unix epoch: the clock ports stamp frames with (replay: the frame being replayed; tests: theirs).</param>
    public PolicyStore(PolicySnapshot initial, Func<long> clock)
    {
        _current = initial;
        _clock = clock;
    }

    public PolicySnapshot Current => Volatile.Read(ref _current);

    public void Publish(PolicySnapshot next) => Volatile.Write(ref _current, next);

    /// <summary>A forwarding thread that will say which version its frames use (dispose it when the thread stops forwarding).</summary>
    public PolicyReader AddReader()
    {
        lock (_replaceGate)
        {
            var reader = new PolicyReader(this);
            _readers = [.. _readers, reader];
            return reader;
        }
    }

    internal void RemoveReader(PolicyReader reader)
    {
        lock (_replaceGate)
        {
            _readers = [.. _readers.Where(r => r != reader)];
        }
    }

    /// <summary>
    /// Waits until every reader decides its frames with <paramref name="version"/> or a later one,
    /// or is idle (its next frame will read <see cref="Current"/>); false when
    /// <paramref name="timeout"/> passed first (a reader stuck in a device call). A busy reader
    /// takes the new version at its next batch, microseconds away.
    /// </summary>
    public bool WaitUntilSeen(long version, TimeSpan timeout)
    {
        var readers = Volatile.Read(ref _readers);
        if (readers.Length == 0)
        {
            return true;
        }

        // The version was published before this fence, a reader's "busy" mark before its read of
        // Current (PolicyReader.Begin): one of the two sees the other.
        Interlocked.MemoryBarrier();
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        var spin = default(SpinWait);
        while (true)
        {
            bool all = true;
            foreach (var reader in readers)
            {
                all &= reader.Seen >= version;
            }

            if (all)
            {
                return true;
            }

            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// Builds a snapshot from <paramref name="config"/> with the next version number and publishes
    /// it: every policy change (reload, control API, etcd) ends here. Records this version moves
    /// from a local PA to a remote one start their migration grace period now (MovedRecords.cs).
    /// </summary>
    public PolicySnapshot Replace(HostConfig config)
    {
        lock (_replaceGate)
        {
            var current = Current;
            var next = PolicySnapshot.Build(config, current.Version + 1, current);
            next.Moved = MovedRecords.Next(current, next, _clock());
            Publish(next);
            return next;
        }
    }

    private static long UtcNowNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
}

/// <summary>
/// A forwarding thread's word on which policy version it decides frames with (see
/// <see cref="PolicyStore.WaitUntilSeen"/>). The thread calls <see cref="Begin"/> as it takes
/// the current version for a batch and <see cref="Idle"/> when it has no frame in hand.
/// </summary>
public sealed class PolicyReader : IDisposable
{
    private readonly PolicyStore _store;
    private long _seen = long.MaxValue; // idle until it forwards

    internal PolicyReader(PolicyStore store) => _store = store;

    internal long Seen => Volatile.Read(ref _seen);

    /// <summary>
    /// A batch starts: marks the thread busy on <paramref name="previous"/> (the version it used
    /// so far) and reads the current version; <see cref="Using"/> follows once the thread has
    /// taken it.
    /// </summary>
    public PolicySnapshot Begin(long previous)
    {
        // A full fence between the busy mark and the read of Current: a waiter that still saw
        // this thread idle published before the read below, which therefore sees its version.
        Interlocked.Exchange(ref _seen, previous);
        return _store.Current;
    }

    /// <summary>The thread's frames use <paramref name="version"/> from now on.</summary>
    public void Using(long version) => Volatile.Write(ref _seen, version);

    /// <summary>No frame in hand: whatever comes next reads the current version first.</summary>
    public void Idle() => Volatile.Write(ref _seen, long.MaxValue);

    public void Dispose() => _store.RemoveReader(this);
}
