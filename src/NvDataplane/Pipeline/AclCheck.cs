using System.Runtime.CompilerServices;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

// The per-tenant ACL checks (docs/FORWARDING.md section 4): outbound where a VM's frame has been
// resolved, inbound where a frame is about to be delivered to a VM port. A port whose VSID has
// no rules in that direction costs one array read.
public sealed partial class Forwarder
{
    private AclRuleSet?[] _aclOutbound = [];
    private AclRuleSet?[] _aclInbound = [];
    private long[] _aclHits = [];

    /// <summary>Hits per ACL rule, counted by this worker.</summary>
    public AclCounters AclCounters { get; } = new();

    /// <summary>Takes the ACLs of policy version <paramref name="p"/> (once per version).</summary>
    private void UseAcls(PolicySnapshot p)
    {
        _aclOutbound = p.Acls.OutboundByPort;
        _aclInbound = p.Acls.InboundByPort;
        _aclHits = AclCounters.Use(p.Acls);
    }

    /// <summary>True when the outbound rules of the sending vm port deny the frame.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool OutboundDenied(int port, in PacketInfo info) =>
        _aclOutbound[port] is { } acl && Denies(acl, info.Source, info.Destination, in info);

    /// <summary>True when the inbound rules of the receiving vm port deny the frame.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InboundDenied(int port, in PacketInfo info) =>
        _aclInbound[port] is { } acl && Denies(acl, info.Source, info.Destination, in info);

    /// <summary>As <see cref="InboundDenied(int, in PacketInfo)"/>, for a packet whose CAs are not (yet) in its header (NAT reverse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InboundDenied(int port, IpAddr source, IpAddr destination, in PacketInfo info) =>
        _aclInbound[port] is { } acl && Denies(acl, source, destination, in info);

    /// <summary>
    /// First match decides and counts; no match allows. Ports take part only when the packet
    /// shows them: TCP or UDP, not a later fragment, and the first four transport bytes present.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Denies(AclRuleSet acl, IpAddr source, IpAddr destination, in PacketInfo info)
    {
        bool ports = info.Protocol is IpProtocol.Tcp or IpProtocol.Udp && !info.IsLaterFragment && info.L4Length >= 4;
        int hit = acl.Match(source, destination, info.Protocol, ports ? info.SourcePort : -1, ports ? info.DestinationPort : -1, out bool deny);
        if (hit < 0)
        {
            return false;
        }

        _aclHits[hit]++;
        return deny;
    }
}
