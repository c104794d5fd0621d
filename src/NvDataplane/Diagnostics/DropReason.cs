namespace NvDataplane.Diagnostics;

/// <summary>
/// Why a frame was not delivered. The single source of the names in SPEC section 5: every member
/// has a snake_case name (<see cref="DropReasons.Name"/>) and a counter slot. Never reuse a member
/// for two causes; add a new one instead.
/// </summary>
public enum DropReason : byte
{
    /// <summary>Not a drop: the frame was delivered or answered.</summary>
    None = 0,
    Truncated,
    MalformedHeader,
    UnsupportedEthertype,
    VlanTagged,
    SpoofedSource,
    ArpUnresolved,
    NoLookupRecord,
    NoRoute,
    Isolation,
    TtlExpired,
    MtuExceeded,
    NotLocalPa,
    BadGreHeader,
    NotNvgre,
    ReservedVsid,
    UnknownVsid,
    OuterFragment,
    InnerVlanTagged,
    PaMismatch,
    NoProviderRoute,
    NeighborUnresolved,
    AclDeny,
    TxFull,
    // Added beyond SPEC section 5 (documented in the README):
    /// <summary>Broadcast or multicast customer traffic: flooding is off (as in WS2012).</summary>
    FloodingDisabled,
    /// <summary>A provider-port frame whose destination MAC is neither ours nor broadcast/multicast.</summary>
    NotForHost,
    /// <summary>The destination record names a local PA but no VM port on this host has its MAC and VSID.</summary>
    NoLocalPort,
    /// <summary>A NAT-rule destination whose sender has no NAT record of its own (its PA would be shared).</summary>
    NatSourceNotUnique,
    /// <summary>A DHCP client message to the server that cannot be served as sent: cut short, not BOOTP/DHCP, options running past the end, relayed, or a server's message type.</summary>
    DhcpMalformed,
    /// <summary>A DHCPRELEASE: leases come from the policy, so there is nothing to release and no answer.</summary>
    DhcpRelease,
    /// <summary>A DHCPDECLINE: the VM saw its policy address in use; the policy is not changed and nothing is answered.</summary>
    DhcpDecline,
    /// <summary>A copy of a flooded frame found no free buffer in the worker's pool (the copies that did are sent).</summary>
    PoolExhausted,
    /// <summary>A broadcast / multicast frame of a flooding VSID with nobody to flood to (no other local VM, no remote PA).</summary>
    NoFloodTarget,
    /// <summary>A routed packet whose next hop (a router or gateway VM) has an IP-rewrite record: rewriting would put the next hop's PA where the packet's own destination was.</summary>
    NatNextHop,
    /// <summary>An ICMPv6 neighbor discovery message (a router or neighbor solicitation: advertisements and redirects are VmNeighborDiscovery before) from a VM to a CA behind IP rewrite: link-scope, it would reach the provider network as ND between PAs.</summary>
    NatNeighborDiscovery,
    /// <summary>An ICMPv6 router advertisement, neighbor advertisement or redirect from a VM (on its port, or inside NVGRE): the host answers neighbor discovery and is its VSIDs' only router, so a VM's own would only teach its neighbors wrong MACs or routers.</summary>
    VmNeighborDiscovery,
    /// <summary>A frame waiting for a next hop's MAC when a new policy version came into use: it was decided under the old one, which may no longer allow it.</summary>
    PolicyChanged,
    /// <summary>An ARP reply or neighbor advertisement answering the dataplane's own request whose MAC can be no next hop's (zero, broadcast / multicast, the port's own, the gateway MAC): nothing is learned.</summary>
    BadNeighborAnswer,
}

/// <summary>Names and counts of <see cref="DropReason"/>.</summary>
public static class DropReasons
{
    /// <summary>Number of slots a counter array needs (index = (int)reason).</summary>
    public const int Count = (int)DropReason.BadNeighborAnswer + 1;

    private static readonly string[] Names = BuildNames();

    /// <summary>The snake_case name used by counters, the replay summary, metrics and logs.</summary>
    public static string Name(DropReason reason) => Names[(int)reason];

    /// <summary>All real drop reasons (without <see cref="DropReason.None"/>), in enum order.</summary>
    public static IEnumerable<DropReason> All
    {
        get
        {
            for (int i = 1; i < Count; i++)
            {
                yield return (DropReason)i;
            }
        }
    }

    /// <summary>Parses a snake_case name back to the reason.</summary>
    public static bool TryParse(string name, out DropReason reason)
    {
        for (int i = 1; i < Count; i++)
        {
            if (Names[i] == name)
            {
                reason = (DropReason)i;
                return true;
            }
        }

        reason = DropReason.None;
        return false;
    }

    private static string[] BuildNames()
    {
        var names = new string[Count];
        for (int i = 0; i < Count; i++)
        {
            string pascal = ((DropReason)i).ToString();
            var sb = new System.Text.StringBuilder(pascal.Length + 4);
            for (int c = 0; c < pascal.Length; c++)
            {
                if (char.IsUpper(pascal[c]) && c > 0)
                {
                    sb.Append('_');
                }

                sb.Append(char.ToLowerInvariant(pascal[c]));
            }

            names[i] = sb.ToString();
        }

        return names;
    }
}
