using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Policy;
using NvDataplane.Rewrite;

namespace NvDataplane.Pipeline;

// Broadcast and multicast of a VSID whose virtualSubnets entry turns flooding on, replicated by
// unicast as WS2012 R2 does without provider multicast: to every other vm port of the VSID here
// and, as NVGRE, to every remote PA holding an Encap record of it (its FloodGroup). Never to
// another VSID, never back to the sender, and what arrives from the provider goes to this host's
// vm ports only, never out again (no loops). docs/FORWARDING.md 1.7 and 2.4.
//
// Counting: the frame counts once as forwarded when at least one copy left (or waits for a next
// hop); every copy that cannot leave counts under its own reason (acl_deny, pool_exhausted,
// tx_full, no_provider_route, mtu_exceeded, neighbor_unresolved). A frame with no target at all is
// no_flood_target. Copies come from the worker's pool; the frame's own buffer carries the last one.
public sealed partial class Forwarder
{
    /// <summary>One replication under way.</summary>
    private struct Replication
    {
        /// <summary>The frame being replicated; it carries the last copy (or the first one the pool cannot).</summary>
        public PacketBuffer Input;

        /// <summary>Targets not served yet.</summary>
        public int Left;

        /// <summary>Copies queued or waiting for a next hop.</summary>
        public int Sent;

        public bool InputTaken;

        /// <summary>The pool ran out: no further copy is tried.</summary>
        public bool PoolDry;
    }

    /// <summary>A VM's broadcast / multicast in a VSID that floods: source checks as for unicast, then a copy per target.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason VmFlood(PortInfo port, PacketBuffer buffer, ref PacketInfo info)
    {
        int srcIndex = OwnSource(port, info.Source, buffer.TimestampNs, routed: false);
        if (srcIndex < 0)
        {
            return DropReason.SpoofedSource;
        }

        if (OutboundDenied(port.Index, in info))
        {
            return DropReason.AclDeny;
        }

        var group = port.Vsid!.Flood!;
        var rep = new Replication { Input = buffer, Left = group.LocalPorts.Length - 1 + group.RemotePas.Length };
        if (rep.Left == 0)
        {
            return DropReason.NoFloodTarget;
        }

        buffer.Length = info.IpFrameEnd; // no copy carries the padding
        foreach (int target in group.LocalPorts)
        {
            if (target != port.Index)
            {
                CopyToPort(ref rep, target, in info);
            }
        }

        if (group.RemotePas.Length != 0)
        {
            CopyToRemotePas(port, ref rep, in info, in _p.Records[srcIndex], group.RemotePas);
        }

        return Finish(ref rep);
    }

    /// <summary>
    /// NVGRE broadcast / multicast that passed every decapsulation check (<paramref name="info"/>:
    /// the inner packet): a copy of the inner frame for each vm port of its VSID here.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason DecapFlood(PacketBuffer buffer, in PacketInfo info, in DecapState d)
    {
        var group = _p.Vsids[d.Vsid].Flood!; // d.Flood is set only when the VSID floods
        if (group.LocalPorts.Length == 0)
        {
            return DropReason.NoFloodTarget; // the VSID's only port here is an external one
        }

        buffer.Offset += d.InnerStart;
        buffer.Length = d.InnerEnd - d.InnerStart;
        var rep = new Replication { Input = buffer, Left = group.LocalPorts.Length };
        foreach (int target in group.LocalPorts)
        {
            CopyToPort(ref rep, target, in info);
        }

        return Finish(ref rep);
    }

    /// <summary>A copy for a vm port here, judged by the port's inbound ACL first.</summary>
    private void CopyToPort(ref Replication rep, int target, in PacketInfo info)
    {
        if (InboundDenied(target, in info))
        {
            Lose(ref rep, DropReason.AclDeny);
            return;
        }

        if (TxRoom(target) == 0)
        {
            Lose(ref rep, DropReason.TxFull);
            return;
        }

        if (TakeCopy(ref rep) is { } copy)
        {
            Enqueue(target, copy);
            rep.Sent++;
        }
    }

    /// <summary>One NVGRE copy per remote PA, through the templates of the sender's PA, as unicast encapsulation would send it.</summary>
    private void CopyToRemotePas(PortInfo port, ref Replication rep, in PacketInfo info, in RecordEntry src, int[] remotePas)
    {
        var p = _p;
        uint vsid = port.Vsid!.Vsid;
        uint flow = FlowHash.Compute(in info);
        bool icmpSent = false;
        foreach (int remote in remotePas)
        {
            if (src.TemplateRow < 0)
            {
                Lose(ref rep, DropReason.NoProviderRoute);
                continue;
            }

            ref readonly EncapTemplate t = ref p.Template(in src, remote);
            if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
            {
                Lose(ref rep, t.Unusable);
                continue;
            }

            if (info.L3Length + t.Overhead > t.Mtu)
            {
                CopyTooBig(port, ref rep, in info, in t, vsid, flow, ref icmpSent);
                continue;
            }

            if (t.Unusable == DropReason.None && TxRoom(t.ProviderPortIndex) == 0)
            {
                Lose(ref rep, DropReason.TxFull); // known before copying a byte
                continue;
            }

            if (TakeCopy(ref rep) is { } copy)
            {
                NvgreEncapsulator.Push(copy, copy.Length, in t, p.TemplateBytes, vsid, info.Tos, flow);
                AfterSend(ref rep, copy, SendCopyToProvider(in t, copy, countLoss: true));
            }
        }
    }

    /// <summary>
    /// The MTU rule of section 3 for one remote copy: IPv4 without DF is fragmented before
    /// encapsulation; anything else is lost as mtu_exceeded, with one ICMP error to the sender
    /// for the whole frame (every remote copy leaves by the same port, so all are too big alike).
    /// </summary>
    private void CopyTooBig(PortInfo port, ref Replication rep, in PacketInfo info, in EncapTemplate t, uint vsid, uint flow, ref bool icmpSent)
    {
        int maxIp = t.Mtu - t.Overhead;
        if (info.IpVersion != 4 || info.DontFragment)
        {
            if (!icmpSent && !rep.InputTaken)
            {
                AnswerWithIcmpError(port, rep.Input, in info, maxIp);
                icmpSent = true;
            }

            Lose(ref rep, DropReason.MtuExceeded);
            return;
        }

        int perFragment = Ipv4Fragmenter.PayloadPerFragment(maxIp, info.IpHeaderLength);
        if (perFragment < 8)
        {
            Lose(ref rep, DropReason.MtuExceeded);
            return;
        }

        // Exactly the fragments the loop below writes, a buffer and a queue slot each (as the
        // unicast path counts them: Fragment in VmIngress.cs).
        int count = Ipv4Fragmenter.Count(rep.Input.Frame.Slice(info.L3Offset, info.L3Length), maxIp);
        if (rep.PoolDry || rep.InputTaken)
        {
            rep.PoolDry = true;
            Lose(ref rep, DropReason.PoolExhausted);
            return;
        }

        if (RoomForFragments(t.ProviderPortIndex, count) is var noRoom and not DropReason.None)
        {
            rep.PoolDry |= noRoom == DropReason.PoolExhausted;
            Lose(ref rep, noRoom);
            return;
        }

        // The copy is the fragments; the first one's fate is the copy's, later ones are extras.
        rep.Left--;
        DropReason first = DropReason.None;
        for (int i = 0; i < count && NextFragment(rep.Input, in info, maxIp, i) is { } piece; i++)
        {
            NvgreEncapsulator.Push(piece, piece.Length, in t, _p.TemplateBytes, vsid, info.Tos, flow);
            DropReason r = SendCopyToProvider(in t, piece, countLoss: i == 0);
            if (r != DropReason.None)
            {
                _pool.Return(piece);
            }

            first = i == 0 ? r : first;
        }

        if (first == DropReason.None)
        {
            rep.Sent++;
        }
        else
        {
            Counters.Drops[(int)first]++;
        }
    }

    /// <summary>
    /// The buffer for the next copy, holding the input frame: from the pool, or the input itself
    /// for the last target. When the pool runs dry the input carries this copy and every later one
    /// is lost as pool_exhausted (null, counted).
    /// </summary>
    private PacketBuffer? TakeCopy(ref Replication rep)
    {
        rep.Left--;
        if (rep.Left > 0 && !rep.PoolDry)
        {
            if (_pool.Rent() is { } copy)
            {
                CopyFrame(rep.Input, copy);
                return copy;
            }

            rep.PoolDry = true;
        }

        if (!rep.InputTaken)
        {
            rep.InputTaken = true;
            return rep.Input;
        }

        Counters.Drops[(int)DropReason.PoolExhausted]++;
        return null;
    }

    /// <summary>A target that gets no copy, counted under <paramref name="reason"/>.</summary>
    private void Lose(ref Replication rep, DropReason reason)
    {
        rep.Left--;
        Counters.Drops[(int)reason]++;
    }

    /// <summary>Books a copy handed to the provider side: sent, or counted and its buffer (the input's too) back in the pool.</summary>
    private void AfterSend(ref Replication rep, PacketBuffer copy, DropReason reason)
    {
        if (reason == DropReason.None)
        {
            rep.Sent++;
            return;
        }

        Counters.Drops[(int)reason]++;
        _pool.Return(copy);
    }

    /// <summary>The frame counts once as forwarded when a copy left; its buffer goes back unless it carried one.</summary>
    private DropReason Finish(ref Replication rep)
    {
        if (!rep.InputTaken)
        {
            _pool.Return(rep.Input);
        }

        if (rep.Sent != 0)
        {
            Counters.Forwarded++;
        }

        return DropReason.None; // every lost copy is counted already
    }

    /// <summary>
    /// Sends an encapsulated copy toward its PA: queued when the next hop's MAC is known, else
    /// parked while ARP / ND asks (not counted when it leaves; neighbor_unresolved when lost, if
    /// <paramref name="countLoss"/>). Returns why it could not, the buffer still the caller's.
    /// </summary>
    private DropReason SendCopyToProvider(in EncapTemplate t, PacketBuffer copy, bool countLoss) =>
        QueueOrPark(in t, copy, countLoss, MigrationMessageKind.None, out _);
}
