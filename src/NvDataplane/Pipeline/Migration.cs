using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

// Live migration (docs/FORWARDING.md section 8, MS-NVGREE): on the old host, NVGRE for a record
// that moved away is relayed to its new PA for the grace period and its sender gets a REDIRECT;
// NVGRE for a (VSID, CA) this host has no policy for gets its sender an UNREACHABLE; on the sender,
// both messages are consumed, and a trusted REDIRECT from the PA that owns the flow moves this
// worker's traffic for the CA to the new PA. All of it runs off the common path: after a
// destination lookup missed, or for ICMP addressed to our own PA inside NVGRE.
public sealed partial class Forwarder
{
    private readonly MessageRateLimiter _messageLimiter = new();
    private readonly RedirectOverrides _redirects = new();

    // Outer headers toward PAs no tunnel of the policy covers (relay targets, message senders,
    // redirect targets), built on first use per policy version: (local PA index, remote PA).
    // A cache: emptied when it reaches MaxPaTunnels, since a sender may name any number of
    // REDIRECT targets.
    private readonly Dictionary<(int LocalPa, IpAddr Remote), PaTunnel> _paTunnels = [];

    /// <summary>Outer headers toward PAs outside the policy that a worker keeps at once.</summary>
    public const int MaxPaTunnels = 4096;

    /// <summary>Outer headers toward PAs outside the policy held now (tests, diagnostics).</summary>
    internal int PaTunnelCount => _paTunnels.Count;

    /// <summary>The REDIRECTs this worker applied (trustRedirects on).</summary>
    public RedirectOverrides Redirects => _redirects;

    /// <summary>An outer header from one local PA to one remote PA, in a template slot of its own.</summary>
    private sealed class PaTunnel(EncapTemplate template, byte[] bytes)
    {
        public readonly EncapTemplate Template = template;
        public readonly byte[] Bytes = bytes;
    }

    /// <summary>A new policy version: tunnels are rebuilt on demand, overrides of changed records dropped.</summary>
    private void UseMigration(PolicySnapshot p)
    {
        _paTunnels.Clear();
        if (_redirects.Count != 0)
        {
            _redirects.Revalidate(p);
        }
    }

    private PaTunnel TunnelTo(int localPa, IpAddr remote)
    {
        if (_paTunnels.Count >= MaxPaTunnels && !_paTunnels.ContainsKey((localPa, remote)))
        {
            _paTunnels.Clear(); // rebuilt on demand; nothing holds a tunnel beyond the frame it serves
        }

        ref PaTunnel? t = ref CollectionsMarshal.GetValueRefOrAddDefault(_paTunnels, (localPa, remote), out _);
        if (t is null)
        {
            var bytes = new byte[PolicySnapshot.TemplateStride];
            t = new PaTunnel(_p.BuildTemplate(_p.LocalPas[localPa], remote, bytes, 0), bytes);
        }

        return t;
    }

    /// <summary>
    /// NVGRE whose destination has no local VM here: the record is remote, or there is none. A
    /// record moved away by a recent policy version is relayed (2.4a); otherwise the frame is
    /// dropped under <paramref name="reason"/> and, when its source is genuine, its sender gets an
    /// UNREACHABLE. A forged source gets nothing sent anywhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason NoVmHere(PacketBuffer buffer, in PacketInfo inner, in DecapState d, int srcIndex, ulong srcData, DropReason reason)
    {
        bool genuine = SourceVouched(buffer, in inner, in d, srcIndex, srcData);
        if (_p.Moved.TryFind(d.Vsid, inner.Destination, buffer.TimestampNs, out var newPa))
        {
            return genuine ? Relay(buffer, in inner, in d, newPa) : DropReason.PaMismatch;
        }

        if (MovedNextHop(_p, buffer.Frame[d.InnerStart..], in inner, d.DomainIndex, d.Vsid, buffer.TimestampNs, out newPa))
        {
            return genuine ? Relay(buffer, in inner, in d, newPa, redirect: false) : DropReason.PaMismatch;
        }

        if (genuine)
        {
            SendMessage(MigrationMessageKind.Unreachable, buffer, in d, inner.Destination, default);
        }

        return reason;
    }

    /// <summary>
    /// Whether the frame was routed to a next hop — a router VM, by the inner destination MAC
    /// (<see cref="PolicySnapshot.RoutedNextHopRecord"/>) — whose record moved away within its
    /// grace period: relayed to <paramref name="newPa"/> like a frame for the router's own CA, but
    /// with no REDIRECT, which names the CA its quoted packet is for (the final destination, no
    /// record of the VSID) and would be ignored.
    /// </summary>
    internal static bool MovedNextHop(PolicySnapshot p, ReadOnlySpan<byte> innerFrame, in PacketInfo inner, int domainIndex, uint vsid, long nowNs, out IpAddr newPa)
    {
        newPa = default;
        if (p.Moved.Count == 0 || domainIndex < 0)
        {
            return false;
        }

        int hop = p.RoutedNextHopRecord(domainIndex, vsid, inner.Destination, Ethernet.ReadDestination(innerFrame));
        return hop >= 0 && p.Moved.TryFind(vsid, p.Records[hop].CustomerAddress, nowNs, out newPa);
    }

    /// <summary>
    /// Relays a frame for a moved record to its new PA, rewriting the outer header in place so the
    /// new host's anti-spoofing check still holds: destination = the new PA (IPv4 checksum by RFC
    /// 1624, TTL / hop limit − 1), source PA kept; Ethernet to the next hop toward the new PA from
    /// our provider port, with the VLAN of our PA. The sender gets a REDIRECT first, whether or not
    /// the frame can then be relayed (no route to the new PA, TTL 1, too big): MS-NVGREE asks for
    /// one whenever a frame arrives for a VM that moved — unless <paramref name="redirect"/> is
    /// false (a frame routed to a moved router, <see cref="MovedNextHop"/>).
    /// </summary>
    private DropReason Relay(PacketBuffer buffer, in PacketInfo inner, in DecapState d, IpAddr newPa, bool redirect = true)
    {
        if (newPa.IsV4 != d.OuterDestination.IsV4)
        {
            Counters.Migration.RedirectsNotCarried++;
            return DropReason.NoProviderRoute; // another family: only a new outer header could carry it, and that would lose the sender's PA
        }

        var tunnel = TunnelTo(_p.LocalPaIndex.Find(0, d.OuterDestination), newPa);
        ref readonly EncapTemplate t = ref tunnel.Template;
        if (newPa == d.OuterSource || CameFromRelayTarget(in t, newPa, buffer))
        {
            // Back where it came from. The VM moved to the sender's own host: a relay would come
            // back to it from itself, which its anti-spoofing rule refuses, and a REDIRECT naming
            // its own PA it ignores. Or the frame came from the new PA's own station: that host
            // relayed it (it does not have the VM either: two stale moves pointing at each other)
            // or sent it from another of its PAs; sent back, it would bounce until its TTL ran
            // out. An UNREACHABLE asks the sender to refresh its policy instead.
            Counters.Migration.RelaysRefused++;
            SendMessage(MigrationMessageKind.Unreachable, buffer, in d, inner.Destination, default);
            return DropReason.NoLocalPort;
        }

        if (redirect)
        {
            SendMessage(MigrationMessageKind.Redirect, buffer, in d, inner.Destination, newPa);
        }

        if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
        {
            return t.Unusable;
        }

        Span<byte> frame = buffer.Frame;
        int l3 = d.OuterL3Offset;
        int ipLength = d.InnerEnd - l3;
        Span<byte> ip = frame[l3..d.InnerEnd];
        bool v4 = newPa.IsV4;
        if (ip[v4 ? Ipv4.TtlOffset : Ipv6.HopLimitOffset] <= 1)
        {
            return DropReason.TtlExpired;
        }

        if (ipLength > t.Mtu)
        {
            return DropReason.MtuExceeded;
        }

        if (v4)
        {
            ulong oldSum = Checksum.AddressSum(d.OuterDestination) + BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4.TtlOffset..]);
            ip[Ipv4.TtlOffset]--;
            newPa.Write(ip[Ipv4.DestinationOffset..]);
            ulong newSum = Checksum.AddressSum(newPa) + BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4.TtlOffset..]);
            Checksum.Update(ip[Ipv4.ChecksumOffset..], oldSum, newSum);
        }
        else
        {
            ip[Ipv6.HopLimitOffset]--;
            newPa.Write(ip[Ipv6.DestinationOffset..]);
        }

        // The template's Ethernet header (and VLAN tag) in front of the outer IP header; padding dropped.
        int start = buffer.Offset + l3 - t.IpOffset;
        tunnel.Bytes.AsSpan(t.ByteOffset, t.IpOffset).CopyTo(buffer.Data.AsSpan(start));
        buffer.Offset = start;
        buffer.Length = t.IpOffset + ipLength;
        DropReason sent = SendToProvider(in t, buffer);
        if (sent == DropReason.None && t.Unusable == DropReason.None)
        {
            Counters.Migration.Relayed++; // one that waits for the next hop's MAC counts as forwarded when it leaves, or as its drop
        }

        return sent;
    }

    /// <summary>
    /// Whether the frame came from the station a relay to <paramref name="newPa"/> would go to
    /// (split horizon): the new PA is on our link (the tunnel's next hop is the PA itself) and
    /// its MAC — providerNeighbors, or learned by ARP / ND — is the frame's Ethernet source.
    /// Behind a router the source MAC is the router's and tells nothing: no relay is refused.
    /// </summary>
    private bool CameFromRelayTarget(in EncapTemplate t, IpAddr newPa, PacketBuffer buffer)
    {
        if (t.NextHop != newPa || t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
        {
            return false;
        }

        var source = Ethernet.ReadSource(buffer.Frame);
        return _p.TryGetProviderNeighbor(newPa, out var mac)
            ? mac == source
            : _neighbors.TryGetValue(new NeighborKey(t.ProviderPortIndex, t.VlanId, newPa), out var learned)
                && buffer.TimestampNs - learned.LearnedNs <= ReachableNs && learned.Mac == source;
    }

    /// <summary>
    /// Sends the sender of <paramref name="offending"/> (its outer source PA) a REDIRECT naming
    /// <paramref name="newPa"/> or an UNREACHABLE, NVGRE-encapsulated in the flow's VSID from the
    /// PA it was sent to, at most once per <see cref="MessageRateLimiter.IntervalNs"/> per
    /// (sender PA, VSID, CA). The offending frame is left as it is. A message counts as sent
    /// when it leaves: one that waits for the next hop's MAC is counted when the answer lets it
    /// go, and messages_lost when it cannot wait or waits in vain (QueueOrPark, Lose).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SendMessage(MigrationMessageKind kind, PacketBuffer offending, in DecapState d, IpAddr ca, IpAddr newPa)
    {
        var counters = Counters.Migration;
        if (kind == MigrationMessageKind.Redirect && newPa.IsV4 != d.OuterSource.IsV4)
        {
            counters.RedirectsNotCarried++;
            return;
        }

        if (!_messageLimiter.TryAcquire(kind, d.OuterSource, d.Vsid, ca, offending.TimestampNs))
        {
            counters.RateLimited++;
            return;
        }

        var tunnel = TunnelTo(_p.LocalPaIndex.Find(0, d.OuterDestination), d.OuterSource);
        ref readonly EncapTemplate t = ref tunnel.Template;
        if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved) || TxRoom(t.ProviderPortIndex) == 0
            || _pool.Rent() is not { } message)
        {
            counters.MessagesLost++;
            return;
        }

        ReadOnlySpan<byte> frame = offending.Frame;
        int length = MigrationMessage.Write(message.Data.AsSpan(message.Offset), kind,
            senderNveMac: Ethernet.ReadSource(frame), receiverNveMac: _p.Ports[t.ProviderPortIndex].Mac,
            receiverPa: d.OuterDestination, senderPa: d.OuterSource, target: newPa, destinationCa: ca,
            offending: frame[d.OuterL3Offset..d.InnerEnd], maxIpLength: t.Mtu - t.Overhead);
        message.Length = length;
        message.TimestampNs = offending.TimestampNs;
        NvgreEncapsulator.Push(message, length, in t, tunnel.Bytes, d.Vsid, tos: 0, flowHash: 0);
        if (QueueOrPark(in t, message, countLoss: false, kind, out bool queued) != DropReason.None)
        {
            counters.MessagesLost++;
            _pool.Return(message);
        }
        else if (queued)
        {
            CountSent(kind);
        }
    }

    /// <summary>A message whose next hop answered (NeighborResolver.Learn): queued and counted sent, or lost.</summary>
    private void QueueMessage(int port, PacketBuffer message, MigrationMessageKind kind)
    {
        if (Enqueue(port, message))
        {
            CountSent(kind);
            return;
        }

        Counters.Migration.MessagesLost++;
        _pool.Return(message);
    }

    private void CountSent(MigrationMessageKind kind)
    {
        if (kind == MigrationMessageKind.Redirect)
        {
            Counters.Migration.RedirectsSent++;
        }
        else
        {
            Counters.Migration.UnreachablesSent++;
        }
    }

    /// <summary>
    /// A REDIRECT or UNREACHABLE addressed to our PA: consumed, never delivered. With
    /// <c>global.trustRedirects</c> a REDIRECT is applied when it comes from the PA the policy
    /// gives the CA it quotes (the host that owns the flow) and names another remote PA.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason ReceiveMessage(PacketBuffer buffer, in PacketInfo inner, in DecapState d)
    {
        var counters = Counters.Migration;
        if (d.Message == MigrationMessageKind.Unreachable)
        {
            counters.UnreachablesReceived++;
            return Consumed(buffer);
        }

        counters.RedirectsReceived++;
        var p = _p;
        if (!p.Global.TrustRedirects)
        {
            counters.RedirectsUntrusted++;
            return Consumed(buffer);
        }

        ReadOnlySpan<byte> message = buffer.Frame[d.InnerStart..d.InnerEnd];
        if (!ChecksumValid(message, in inner)
            || !MigrationMessage.TryReadRedirect(message, in inner, out var target, out uint vsid, out var ca)
            || vsid != d.Vsid
            || p.FindRecord(vsid, ca) is not (>= 0 and int r)
            || p.Records[r].IsLocal || p.Records[r].Rule != TranslationRule.Encap
            || p.Records[r].ProviderAddress != d.OuterSource
            || target == d.OuterSource || RefusedRedirectTarget(p, target)
            || !_redirects.Set(vsid, ca, target, d.OuterSource))
        {
            counters.RedirectsIgnored++;
            return Consumed(buffer);
        }

        counters.RedirectsApplied++;
        return Consumed(buffer);
    }

    /// <summary>
    /// Whether a REDIRECT may not name <paramref name="target"/> as a new PA in policy
    /// <paramref name="p"/>: one of our own PAs, an address that is no single host
    /// (unspecified, loopback, broadcast, multicast), or the directed broadcast (all-ones host
    /// part) of one of our IPv4 PA prefixes — every station of that link would take the CA's
    /// traffic. A /31 or /32 has no broadcast address (RFC 3021).
    /// </summary>
    internal static bool RefusedRedirectTarget(PolicySnapshot p, IpAddr target)
    {
        if (target.IsNotAHost || IsOwnPa(p, target))
        {
            return true;
        }

        if (target.IsV4)
        {
            foreach (var pa in p.LocalPas)
            {
                if (pa.Prefix.IsV4 && pa.Prefix.Length <= 30 && target.V4 == (pa.Prefix.Address.V4 | (uint.MaxValue >> pa.Prefix.Length)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Whether an inner frame shaped like an MS-NVGREE message (8.4: ICMP from the outer source PA
    /// to the outer destination PA) was sent by a VM of VSID <paramref name="vsid"/> instead: its
    /// source MAC is the one the policy gives a VM sending from <paramref name="source"/> there —
    /// the MAC of that CA's record, of an L2Only record of the VSID and family (the VM of a Dynamic
    /// binding, learned yet or not), of the routing domain's GatewayWildcard record, of a
    /// useExternalRouter router of the domain (forwarding another VM's CA) — or the
    /// gateway MAC (a frame the sender's distributed router routed). Tenants may hold addresses
    /// equal to PAs (HNV lets the two spaces overlap), so the addresses alone cannot tell; a
    /// message's inner source MAC is its sending NVE's (a provider port's), none of those, and the
    /// sending host vouches for a VM's source MAC (1.1, 1.8). <paramref name="record"/>: the
    /// record whose MAC it is; -1 for the gateway MAC.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static bool IsTenantFrame(PolicySnapshot p, uint vsid, int domainIndex, IpAddr source, MacAddress sourceMac, out int record)
    {
        record = p.RecordIndex.Find(vsid, source);
        if (record >= 0 && p.Records[record].MacAddress == sourceMac)
        {
            return true;
        }

        if (p.L2OnlyIndex.TryGetValue((vsid, sourceMac.Value, source.IsV4), out record))
        {
            return true;
        }

        record = domainIndex >= 0 ? p.Domains[domainIndex].Wildcard(source.IsV4) : -1;
        if (record >= 0 && p.Records[record].MacAddress == sourceMac)
        {
            return true;
        }

        // A useExternalRouter router's forwarding carries its MAC with other VMs' CAs (RoutedSourceMac).
        record = p.Global.UseExternalRouter ? p.RouterWithMac(domainIndex, sourceMac) : -1;
        return record >= 0 || sourceMac == p.Global.GatewayMac;
    }

    /// <summary>The ICMP / ICMPv6 checksum of a received message: a corrupted REDIRECT must not move a tenant's traffic (RFC 1122 3.2.2, RFC 4443 2.4).</summary>
    private static bool ChecksumValid(ReadOnlySpan<byte> innerFrame, in PacketInfo inner) =>
        !inner.IsFragment && (inner.IpVersion == 4
            ? Checksum.Compute(innerFrame.Slice(inner.L4Offset, inner.L4Length)) == 0
            : Icmpv6ChecksumValid(innerFrame, in inner));

    /// <summary>
    /// A unicast or routed frame toward a CA this worker was redirected for: encapsulated to the
    /// REDIRECT's PA instead of the record's, by a tunnel built for it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason ToRedirected(PortInfo port, PacketBuffer buffer, ref PacketInfo info, in RecordEntry src, in RemoteDestination dst, bool routed)
    {
        if (src.LocalPaIndex < 0)
        {
            return DropReason.NoProviderRoute;
        }

        var tunnel = TunnelTo(src.LocalPaIndex, dst.ProviderAddress);
        return Encapsulate(port, buffer, ref info, in src, in dst, in tunnel.Template, tunnel.Bytes, routed);
    }

    /// <summary>Whether (vsid, ca) is redirected here; <paramref name="dst"/> then names the new PA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Redirected(uint vsid, IpAddr ca, MacAddress mac, out RemoteDestination dst)
    {
        if (_redirects.Count != 0 && _redirects.TryGet(vsid, ca, out var pa))
        {
            dst = new RemoteDestination(vsid, -1, false, pa, mac);
            return true;
        }

        dst = default;
        return false;
    }

    /// <summary>
    /// The anti-spoofing rule of 2.4: the inner source CA's record (or L2Only / wildcard record)
    /// has the outer source PA — or this worker applied a REDIRECT moving that record to it,
    /// whichever VSID of the routing domain the frame came in (a routed reply arrives in the
    /// destination's VSID, 1.10).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SourceVouched(PacketBuffer buffer, in PacketInfo info, in DecapState d, int srcIndex, ulong srcData)
    {
        var p = _p;
        if (srcIndex >= 0 && !ForwardingData.IsLocal(srcData))
        {
            return p.RemotePas[ForwardingData.Index(srcData)] == d.OuterSource || RedirectedFrom(srcIndex, info.Source, d.OuterSource)
                || RoutedFrom(buffer, in info, in d, srcIndex);
        }

        // A local record (or none): only a frame from one of our own PAs could match one, and
        // the provider network never carries a frame from this host to itself (a forger would
        // speak for a VM here to its neighbours). Refused before anything is learned from it.
        if (IsOwnPa(d.OuterSource))
        {
            return false;
        }

        if (srcIndex < 0)
        {
            srcIndex = FindSourceElsewhere(in d, info.Source, buffer);
        }

        return srcIndex >= 0 && (p.Records[srcIndex].ProviderAddress == d.OuterSource || RedirectedFrom(srcIndex, info.Source, d.OuterSource)
            || RoutedFrom(buffer, in info, in d, srcIndex));
    }

    /// <summary>
    /// Whether a useExternalRouter router of the frame's routing domain on another host sent it
    /// (DomainAddresses.cs RouterSource): the outer source is the router's PA — or the PA a
    /// REDIRECT this worker applied moved the router to —, the inner source MAC is the router's
    /// (its host marks what the router forwards so, Forwarder.RoutedSourceMac: a gateway's
    /// traffic from outside on the same PA carries the gateway MAC), and record
    /// <paramref name="record"/> vouching for the inner source is a VM's (not the GatewayWildcard
    /// record, which stands for addresses outside the network). Never for a flooded frame or
    /// neighbor discovery: link-scope traffic is nobody's to forward. Never in a VSID without a
    /// routing domain, which has no router.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RoutedFrom(PacketBuffer buffer, in PacketInfo info, in DecapState d, int record)
    {
        var p = _p;
        if (!MayBeRouted(p, buffer.Frame[d.InnerStart..d.InnerEnd], in info, d.DomainIndex, record, d.Flood))
        {
            return false;
        }

        bool v4 = p.Records[record].CustomerAddress.IsV4;
        var mac = MacAddress.Read(buffer.Frame[(d.InnerStart + Ethernet.SourceOffset)..]);
        if (p.RemoteRouterAt(d.DomainIndex, d.OuterSource, v4, mac) >= 0)
        {
            return true;
        }

        if (_redirects.Count == 0)
        {
            return false;
        }

        foreach (int r in p.Domains[d.DomainIndex].Routers)
        {
            ref readonly RecordEntry router = ref p.Records[r];
            if (router.MacAddress == mac && router.CustomerAddress.IsV4 == v4
                && _redirects.TryGet(router.Vsid, router.CustomerAddress, out var pa) && pa == d.OuterSource)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a decapsulated frame may be a useExternalRouter router's forwarding at all
    /// (<see cref="RoutedFrom"/>; the trace asks too): the flag is on, the VSID has a routing
    /// domain, the frame is neither flooded nor neighbor discovery, and record
    /// <paramref name="record"/> vouching for its inner source is not the GatewayWildcard record.
    /// </summary>
    internal static bool MayBeRouted(PolicySnapshot p, ReadOnlySpan<byte> innerFrame, in PacketInfo info, int domain, int record, bool flood) =>
        p.Global.UseExternalRouter && domain >= 0 && !flood && p.Records[record].Type != RecordType.GatewayWildcard
        && !IsNeighborDiscovery(innerFrame, in info);

    /// <summary>Whether <paramref name="address"/> is one of this host's PAs.</summary>
    internal static bool IsOwnPa(PolicySnapshot p, IpAddr address) => p.LocalPaIndex.Find(0, address) >= 0;

    private bool IsOwnPa(IpAddr address) => IsOwnPa(_p, address);

    /// <summary>
    /// Whether this worker applied a REDIRECT moving record <paramref name="record"/> — the inner
    /// source's own (VSID, CA), not an L2Only or wildcard record standing for it — to
    /// <paramref name="outerSource"/>. Keyed by the record's VSID, not the frame's.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RedirectedFrom(int record, IpAddr source, IpAddr outerSource)
    {
        if (_redirects.Count == 0)
        {
            return false;
        }

        ref readonly RecordEntry r = ref _p.Records[record];
        return r.CustomerAddress == source && _redirects.TryGet(r.Vsid, source, out var pa) && pa == outerSource;
    }
}
