using NvDataplane.Headers;
using NvDataplane.Nvgre;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Diagnostics;

/// <summary>The live-migration paths of the provider side, as Forwarder's Migration.cs takes them (FORWARDING section 8).</summary>
internal sealed partial class TraceWalk
{
    /// <summary>A REDIRECT or UNREACHABLE addressed to our PA (ReceiveMessage): consumed, never delivered.</summary>
    private DropReason ConsumeMessage(MigrationMessageKind kind, IpAddr outerSource)
    {
        string what = kind == MigrationMessageKind.Redirect ? "REDIRECT" : "UNREACHABLE";
        string trust = kind == MigrationMessageKind.Redirect && _p.Global.TrustRedirects
            ? "; applied only when it comes from the PA the policy gives the CA it names (global.trustRedirects)"
            : kind == MigrationMessageKind.Redirect ? "; not acted on (global.trustRedirects is off)" : string.Empty;
        Step("migration", $"an MS-NVGREE {what} from PA {outerSource}: consumed here, never delivered to a VM{trust}");
        _answered = true;
        _summary ??= $"consumed: {what} from {outerSource}";
        return DropReason.None;
    }

    /// <summary>
    /// No VM here for the destination (Forwarder.NoVmHere): relayed to its new PA while the
    /// record's moved entry lasts; otherwise dropped under <paramref name="reason"/>, and a
    /// genuine sender (the anti-spoofing rule holds) is told with an UNREACHABLE.
    /// </summary>
    private DropReason NoVmHere(ref PacketInfo info, in PacketInfo outer, VsidInfo vsidInfo, int src, int innerStart, DropReason reason, string text)
    {
        int steps = _steps.Count;
        bool genuine = SourceMatchesOuter(ref info, vsidInfo, src, outer.Source, innerStart);
        if (_p.Moved.TryFind(vsidInfo.Vsid, info.Destination, _buffer.TimestampNs, out var newPa))
        {
            Step("migration", $"{info.Destination} moved to PA {newPa} in a recent policy version (global.migrationGraceSeconds)");
            return genuine ? Relay(info.Destination, vsidInfo.Vsid, in outer, newPa) : DropReason.PaMismatch;
        }

        if (Forwarder.MovedNextHop(_p, _buffer.Frame[innerStart..], in info, vsidInfo.DomainIndex, vsidInfo.Vsid, _buffer.TimestampNs, out newPa))
        {
            Step("migration", $"the inner destination MAC is that of the next hop a customer route names for {info.Destination}, which moved to PA {newPa} in a recent policy version (global.migrationGraceSeconds): relayed to it, with no REDIRECT (one would name {info.Destination}, which has no record here)");
            return genuine ? Relay(info.Destination, vsidInfo.Vsid, in outer, newPa, redirect: false) : DropReason.PaMismatch;
        }

        // Here the anti-spoofing verdict only decides whether the sender is told.
        _steps.RemoveRange(steps, _steps.Count - steps);
        if (genuine)
        {
            Message(MigrationMessageKind.Unreachable, info.Destination, vsidInfo.Vsid, outer.Source, outer.Destination, default);
        }
        else
        {
            Step("migration", $"inner source {info.Source} is not vouched for by PA {outer.Source}: no UNREACHABLE is sent");
        }

        return Fail(reason, "destination", text);
    }

    /// <summary>The outer header rewritten toward the new PA, the sender's PA kept (Forwarder.Relay); the sender gets a REDIRECT first, relayable or not.</summary>
    private DropReason Relay(IpAddr ca, uint vsid, in PacketInfo outer, IpAddr newPa, bool redirect = true)
    {
        if (newPa.IsV4 != outer.Destination.IsV4)
        {
            return Fail(DropReason.NoProviderRoute, "migration", $"the new PA {newPa} is of the other family: the outer header cannot be rewritten in place");
        }

        if (newPa == outer.Source)
        {
            Message(MigrationMessageKind.Unreachable, ca, vsid, outer.Source, outer.Destination, default);
            return Fail(DropReason.NoLocalPort, "migration", $"the new PA {newPa} is the sender's own: a relay would come back to it from itself, so it gets an UNREACHABLE to refresh its policy");
        }

        var t = Template(outer.Destination, newPa);
        var from = Ethernet.ReadSource(_buffer.Frame);
        if (t.NextHop == newPa && t.Unusable == DropReason.None && _p.TryGetProviderNeighbor(newPa, out var mac) && mac == from)
        {
            // A fresh worker knows only providerNeighbors' MACs (Forwarder.CameFromRelayTarget also uses learned ones).
            Message(MigrationMessageKind.Unreachable, ca, vsid, outer.Source, outer.Destination, default);
            return Fail(DropReason.NoLocalPort, "migration", $"the frame came from {from}, the station of the new PA {newPa} itself: that host relayed it (it does not have the VM either) or sent it from another of its PAs, so it is not sent back (split horizon, relays_refused); the sender gets an UNREACHABLE to refresh its policy");
        }

        if (redirect)
        {
            Message(MigrationMessageKind.Redirect, ca, vsid, outer.Source, outer.Destination, newPa); // relayable or not (MS-NVGREE)
        }
        if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved))
        {
            return Fail(t.Unusable, "migration", $"no tunnel from {outer.Destination} to {newPa}");
        }

        int ttl = _buffer.Frame[outer.L3Offset + (newPa.IsV4 ? Ipv4.TtlOffset : Ipv6.HopLimitOffset)];
        if (ttl <= 1)
        {
            return Fail(DropReason.TtlExpired, "migration", $"outer TTL {ttl}: no hop left to relay it");
        }

        int ipLength = outer.IpFrameEnd - outer.L3Offset;
        if (ipLength > t.Mtu)
        {
            return Fail(DropReason.MtuExceeded, "migration", $"{ipLength} bytes exceed the MTU {t.Mtu} toward {newPa}");
        }

        Step("migration", $"relayed: outer destination {outer.Destination} → {newPa}, TTL − 1, the sender's PA {outer.Source} kept as source");
        return SendToProvider(in t, extra: false, $"relayed to the new PA {newPa} via port {PortName(t.ProviderPortIndex)}");
    }

    /// <summary>A REDIRECT / UNREACHABLE to the sender's PA (Forwarder.SendMessage); a fresh worker has sent none, so the rate limit lets it through.</summary>
    private void Message(MigrationMessageKind kind, IpAddr ca, uint vsid, IpAddr senderPa, IpAddr ourPa, IpAddr newPa)
    {
        string what = kind == MigrationMessageKind.Redirect ? $"REDIRECT (new PA {newPa})" : "UNREACHABLE";
        if (kind == MigrationMessageKind.Redirect && newPa.IsV4 != senderPa.IsV4)
        {
            Step("migration", $"no REDIRECT: the new PA {newPa} cannot be carried to a sender of the other family");
            return;
        }

        var t = Template(ourPa, senderPa);
        if (t.Unusable is not (DropReason.None or DropReason.NeighborUnresolved) || _rented >= _poolSize)
        {
            Step("migration", $"the {what} for {ca} could not be sent (no tunnel to {senderPa}, or no buffer)");
            return;
        }

        _rented++;
        string waits = t.Unusable == DropReason.None ? string.Empty
            : $"; it waits for the MAC of {t.NextHop} and counts as sent when it leaves (messages_lost if no answer comes within {Forwarder.ParkTimeoutNs / 1_000_000_000} s)";
        Step("migration", $"{what} about {ca} to the sender's PA {senderPa}, NVGRE in VSID {vsid}, at most one per 100 ms per (sender, VSID, CA){waits}");
        _also.Add($"{(kind == MigrationMessageKind.Redirect ? "REDIRECT" : "UNREACHABLE")} {(t.Unusable == DropReason.None ? "sent" : "waiting")} to {senderPa}");
        SendToProvider(in t, extra: true, string.Empty);
    }

    private EncapTemplate Template(IpAddr localPa, IpAddr remote) =>
        _p.BuildTemplate(_p.LocalPas[_p.LocalPaIndex.Find(0, localPa)], remote, new byte[PolicySnapshot.TemplateStride], 0);
}
