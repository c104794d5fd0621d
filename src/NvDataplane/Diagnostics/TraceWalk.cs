using System.Globalization;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Diagnostics;

/// <summary>
/// The explaining half of <see cref="PacketTracer"/>: walks one frame through a policy snapshot's
/// tables in the order <see cref="Forwarder"/> and its partials take their decisions
/// (docs/FORWARDING.md), writes a step per decision, and keeps the ledger the forwarder's
/// counters would keep for that frame (forwarded, answered, its own drop reason, lost copies,
/// frames per egress port, frames parked, ACL hits) so the tracer can hold the two side by side.
/// It starts from a fresh worker's state, as the tracer's private forwarder does: no neighbor
/// learned, no Dynamic binding but those the frame itself teaches. Where a later decision reads
/// bytes the forwarder has changed (a TTL decremented, a reply it made and routes), the walk
/// changes its own copy the same way, with the same helpers.
/// </summary>
internal sealed partial class TraceWalk
{
    /// <summary>The fields of an ARP message the decisions read.</summary>
    private readonly record struct ArpMessage(ushort Operation, MacAddress SenderMac, IpAddr SenderIp, IpAddr Target);

    private readonly PolicySnapshot _p;
    private readonly PacketBuffer _buffer;
    private readonly int _poolSize;
    private readonly List<TraceStep> _steps = [];
    private readonly LearnedBindings _learned = new();
    private readonly Dictionary<(uint Vsid, ulong Mac, bool V4), int> _l2Only;
    private readonly int[] _egress;
    private readonly List<DropReason> _lost = [];
    private readonly List<int> _aclHits = [];
    private readonly HashSet<(int Port, ushort VlanId, IpAddr NextHop)> _requested = [];
    private readonly List<string> _also = [];
    private int _parked;
    private int _rented = 1; // the frame's own buffer
    private bool _forwarded;
    private bool _answered;
    private string? _summary;

    /// <param name="buffer">The frame, in a buffer the walk may change (with the pool's headroom, as the forwarder's).</param>
    /// <param name="poolSize">The private forwarder's pool size (what its pool-bounded choices see).</param>
    public TraceWalk(PolicySnapshot policy, PacketBuffer buffer, int poolSize)
    {
        _p = policy;
        _buffer = buffer;
        _poolSize = poolSize;
        _l2Only = policy.L2OnlyIndex;
        _egress = new int[policy.Ports.Length];
    }

    public List<TraceStep> Steps => _steps;

    public TraceHeaders? Outer { get; private set; }

    public TraceHeaders? Inner { get; private set; }

    /// <summary>Walks the frame in as received on <paramref name="portIndex"/>; returns the explained outcome.</summary>
    public TraceOutcome Run(int portIndex)
    {
        var port = _p.Ports[portIndex];
        string vsid = port.Vsid is { } v ? $", VSID {v.Vsid}" : string.Empty;
        Step("port", $"{port.Name}: {RoleName(port)} port{vsid}, MAC {port.Mac}, MTU {port.Mtu}");
        DropReason own = port.Role == PortRole.Vm ? FromVm(port) : port.IsExternal ? FromExternal(port) : FromProvider(port);
        var outcome = Outcome(own, _forwarded, _answered, _parked, _lost, _egress, _aclHits, Summary(own));
        Step("result", outcome.Summary);
        return outcome;
    }

    /// <summary>An outcome from a ledger; the actual run (ForwarderRun) builds its outcome with this too, from the forwarder's counters.</summary>
    public static TraceOutcome Outcome(PolicySnapshot p, DropReason own, bool forwarded, bool answered, int parked, IEnumerable<DropReason> lost, IReadOnlyList<int> egress, IEnumerable<string> aclHits, string summary, Func<int, IReadOnlyList<string>>? frames = null) =>
        new()
        {
            Fate = forwarded ? TraceFate.Forwarded : answered ? TraceFate.Answered : own == DropReason.None && parked > 0 ? TraceFate.Waiting : TraceFate.Dropped,
            DropReason = own == DropReason.None ? null : DropReasons.Name(own),
            LostCopies = [.. lost.Order().Select(DropReasons.Name)],
            Egress = [.. egress.Select((count, port) => (count, port)).Where(e => e.count > 0)
                .Select(e => new TraceEgress { Port = p.Ports[e.port].Name, Count = e.count, Frames = frames?.Invoke(e.port) ?? [] })],
            Waiting = parked,
            AclHits = [.. aclHits.Order(StringComparer.Ordinal)],
            Summary = summary,
        };

    private TraceOutcome Outcome(DropReason own, bool forwarded, bool answered, int parked, List<DropReason> lost, int[] egress, List<int> hits, string summary) =>
        Outcome(_p, own, forwarded, answered, parked, lost, egress, hits.Select(h => _p.Acls.Labels[h]), summary);

    private string Summary(DropReason own)
    {
        string main = own != DropReason.None ? "dropped: " + DropReasons.Name(own)
            : _summary ?? (_lost.Count > 0 ? "dropped: no copy could leave" : "nothing left");
        return _also.Count == 0 ? main : $"{main}; {string.Join("; ", _also)}";
    }

    // ---- The ledger: what the forwarder's counters and queues would show ---------------------

    /// <summary>The frame leaves by <paramref name="port"/> (Forwarder.Forward).</summary>
    private DropReason Forward(int port, string summary)
    {
        _egress[port]++;
        _forwarded = true;
        _summary ??= summary;
        return DropReason.None;
    }

    /// <summary>The frame is answered: the reply leaves by <paramref name="port"/> (Forwarder.Answer).</summary>
    private DropReason Answer(int port, string summary)
    {
        _egress[port]++;
        _answered = true;
        _summary ??= summary;
        return DropReason.None;
    }

    /// <summary>A frame made from the input (ICMP error, later fragment, ARP request) leaves by <paramref name="port"/>, not counted as forwarded.</summary>
    private void Extra(int port, string what)
    {
        _egress[port]++;
        _rented++;
        if (what.Length > 0)
        {
            _also.Add(what);
        }
    }

    /// <summary>A copy (of a flood) that cannot leave, counted under <paramref name="reason"/>.</summary>
    private void Lose(DropReason reason, string stage, string text)
    {
        _lost.Add(reason);
        Step(stage, $"{text}: copy lost as {DropReasons.Name(reason)}");
    }

    private DropReason Fail(DropReason reason, string stage, string text)
    {
        Step(stage, $"{text} → {DropReasons.Name(reason)}");
        return reason;
    }

    private void Step(string stage, string text, TraceRecord? record = null, TraceRoute? route = null, TraceAcl? acl = null, TraceTunnel? tunnel = null) =>
        _steps.Add(new TraceStep { Stage = stage, Text = text, Record = record, Route = route, Acl = acl, Tunnel = tunnel });

    // ---- Lookups as the forwarder makes them -------------------------------------------------

    /// <summary>The Dynamic binding (vsid, ca) this frame taught, or -1 (a fresh worker knows no other).</summary>
    private int FindLearned(uint vsid, IpAddr ca) => _learned.Find(vsid, ca, _buffer.TimestampNs);

    /// <summary>Learns (vsid, ca) → <paramref name="record"/> as the forwarder does (LearnedBindings.Seen).</summary>
    private void Learn(uint vsid, IpAddr ca, int record) => _learned.Seen(vsid, ca, record, _buffer.TimestampNs, _p);

    private int L2OnlyRecord(uint vsid, MacAddress mac, bool v4) => _l2Only.TryGetValue((vsid, mac.Value, v4), out int r) ? r : -1;

    /// <summary>
    /// The ACL rules of <paramref name="port"/> for one direction, tried in order as
    /// Forwarder.Denies tries them; a step lists every rule tried and the one that decided.
    /// </summary>
    private bool Denied(bool outbound, int port, IpAddr source, IpAddr destination, in PacketInfo info)
    {
        var sets = outbound ? _p.Acls.OutboundByPort : _p.Acls.InboundByPort;
        string direction = outbound ? "outbound" : "inbound";
        string name = _p.Ports[port].Name;
        if (sets[port] is not { } acl)
        {
            Step("acl", $"{direction} rules of {name}: none → allowed");
            return false;
        }

        bool ports = info.Protocol is IpProtocol.Tcp or IpProtocol.Udp && !info.IsLaterFragment && info.L4Length >= 4;
        int sp = ports ? info.SourcePort : -1;
        int dp = ports ? info.DestinationPort : -1;
        var tried = new List<TraceAclRule>();
        int hit = -1;
        bool deny = false;
        foreach (ref readonly AclRule rule in acl.Rules)
        {
            bool matched = rule.Matches(source, destination, info.Protocol, sp, dp);
            var config = _p.Config.Acls[rule.Counter];
            tried.Add(new TraceAclRule { Label = _p.Acls.Labels[rule.Counter], Priority = config.Priority, Action = Lower(config.Action), Matched = matched });
            if (matched)
            {
                hit = rule.Counter;
                deny = rule.Deny;
                break;
            }
        }

        string verdict = deny ? "deny" : "allow";
        string decided = hit >= 0 ? $"rule {_p.Acls.Labels[hit]} matched → {verdict}" : "no rule matched → allowed (default)";
        string shown = ports ? $"{source}:{sp} → {destination}:{dp} protocol {info.Protocol}" : $"{source} → {destination} protocol {info.Protocol}{(info.Protocol is IpProtocol.Tcp or IpProtocol.Udp ? " (no ports: later fragment)" : string.Empty)}";
        if (hit >= 0)
        {
            _aclHits.Add(hit);
        }

        Step("acl", $"{direction} rules of {name} ({acl.Count}) on {shown}: tried {tried.Count}, {decided}", acl: new TraceAcl
        {
            Direction = direction,
            Port = name,
            Rules = tried,
            Hit = hit >= 0 ? _p.Acls.Labels[hit] : null,
            Verdict = verdict,
        });
        return deny;
    }

    /// <summary>
    /// The Ethernet header (<paramref name="ip"/> false), parsed first as the forwarder does, or
    /// the IP header after it, with its step; None, or why the frame stops here.
    /// </summary>
    private DropReason Parse(ref PacketInfo info, bool ip)
    {
        ReadOnlySpan<byte> frame = _buffer.Frame;
        DropReason r = ip ? PacketParser.ParseIp(frame, ref info) : PacketParser.ParseEthernet(frame, ref info);
        if (r != DropReason.None)
        {
            return Fail(r, "parse", ParseProblem(r, in info, frame.Length));
        }

        Outer = HeadersOf(frame, in info, ip);
        string vlan = info.VlanId >= 0 ? $", VLAN {info.VlanId}" : string.Empty;
        Step("parse", ip ? Describe(in info) : $"Ethernet {Ethernet.ReadSource(frame)} → {Ethernet.ReadDestination(frame)}, type 0x{info.EtherType:x4}{vlan}, {frame.Length} bytes");
        return DropReason.None;
    }

    /// <summary>
    /// The ARP body (PacketParser.ParseArp) with its step; <paramref name="learnsOn"/> for ports
    /// where a running worker learns next hops from ARP (none is awaited on a fresh one).
    /// </summary>
    private DropReason ParseArp(in PacketInfo info, PortInfo? learnsOn, out ArpMessage message)
    {
        message = default;
        DropReason r = PacketParser.ParseArp(_buffer.Frame, in info, out ReadOnlySpan<byte> arp);
        if (r != DropReason.None)
        {
            return Fail(r, "arp", r == DropReason.Truncated ? "fewer than 28 bytes of ARP" : "not Ethernet / IPv4 ARP");
        }

        message = new ArpMessage(Arp.ReadOperation(arp), MacAddress.Read(arp[Arp.SenderMacOffset..]), IpAddr.ReadV4(arp[Arp.SenderIpOffset..]), IpAddr.ReadV4(arp[Arp.TargetIpOffset..]));
        string what = message.Operation == Arp.OpRequest ? $"who has {message.Target}? tell {message.SenderIp} ({message.SenderMac})" : $"op {message.Operation} from {message.SenderIp} ({message.SenderMac}) about {message.Target}";
        Step("arp", learnsOn is not null ? $"ARP {what}; {NoAnswerAwaited(learnsOn, in info)}" : $"ARP {what}");
        return DropReason.None;
    }

    /// <summary>
    /// Why an ARP / ND message on <paramref name="port"/> teaches a fresh worker nothing, and
    /// what a running one would take it for (Forwarder.AnswerVlan: the VLAN it came by, as the
    /// requests were keyed; an answer about a next hop asked for on another VLAN is vlan_tagged).
    /// </summary>
    private string NoAnswerAwaited(PortInfo port, in PacketInfo info)
    {
        ushort vlan = Forwarder.AnswerVlan(_p, port, in info);
        string on = info.VlanId >= 0 ? $"on VLAN {vlan}"
            : vlan != 0 ? $"on VLAN {vlan} (untagged: every PA of {port.Name} is on that VLAN, so a NIC took the tag off)"
            : "untagged";
        return $"a fresh worker awaits no next hop's answer (a running one learns from it only a next hop it asked for {on}; one it asked for on another VLAN learns nothing: vlan_tagged)";
    }

    /// <summary>
    /// What a provider and an external port check alike once the VLAN is right: the destination
    /// MAC is the port's or broadcast / multicast; ARP is for <paramref name="arp"/>; anything
    /// else must parse as IP. True when the frame goes on as IP; false with its end in <paramref name="r"/>.
    /// </summary>
    private bool ForHostAsIp(PortInfo port, ref PacketInfo info, Func<PacketInfo, DropReason> arp, out DropReason r)
    {
        var dstMac = Ethernet.ReadDestination(_buffer.Frame);
        if (dstMac != port.Mac && !dstMac.IsMulticast)
        {
            r = Fail(DropReason.NotForHost, "parse", $"destination MAC {dstMac} is neither the port's {port.Mac} nor broadcast / multicast");
            return false;
        }

        r = info.EtherType == Ethernet.TypeArp ? arp(info) : Parse(ref info, ip: true);
        return r == DropReason.None && info.EtherType != Ethernet.TypeArp;
    }

    // ---- How things are shown ----------------------------------------------------------------

    private static string RoleName(PortInfo port) => port.IsExternal ? "external" : port.Role == PortRole.Vm ? "vm" : "provider";

    private static string Lower<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();

    private string PortName(int port) => _p.Ports[port].Name;

    /// <summary>"record #3 (VSID 5001, CA 10.1.1.8): MAC …, PA … (remote), Encap, Static".</summary>
    private string Describe(int index)
    {
        ref readonly RecordEntry r = ref _p.Records[index];
        string where = r.IsLocal ? r.LocalPortIndex >= 0 ? $"local, port {PortName(r.LocalPortIndex)}" : "local PA, no port here" : "remote";
        string vm = _p.Config.LookupRecords[index].VmName is { } n ? $", VM {n}" : string.Empty;
        return $"record #{index} (VSID {r.Vsid}, CA {r.CustomerAddress}): MAC {r.MacAddress}, PA {r.ProviderAddress} ({where}), {r.Rule}, {r.Type}{vm}";
    }

    /// <summary>Whose an address of the virtual network is (Forwarder.DomainAddressOf), for a step.</summary>
    private string Describe(in DomainAddress owned) => owned.Kind switch
    {
        DomainAddressKind.Record => $"a tenant address ({Describe(owned.Record)})",
        DomainAddressKind.Binding => $"an L2Only VM's learned address in VSID {owned.Vsid} (a Dynamic binding to {Describe(owned.Record)})",
        DomainAddressKind.Gateway => $"a gateway address of VSID {owned.Vsid}, the dataplane's own",
        DomainAddressKind.SubnetEdge => $"the network or broadcast address of an on-link subnet of VSID {owned.Vsid}",
        _ => "an address outside the virtual network",
    };

    private TraceRecord RecordOf(int index, string role, IpAddr? learnedCa = null)
    {
        ref readonly RecordEntry r = ref _p.Records[index];
        return new TraceRecord
        {
            Role = role,
            VirtualSubnetId = r.Vsid,
            CustomerAddress = (learnedCa ?? r.CustomerAddress).ToString(),
            MacAddress = r.MacAddress.ToString(),
            ProviderAddress = r.ProviderAddress.ToString(),
            Rule = r.Rule == TranslationRule.Nat ? "TranslationMethodNat" : "TranslationMethodEncap",
            Type = learnedCa is null ? r.Type.ToString() : nameof(RecordType.Dynamic),
            Local = r.IsLocal,
            LocalPort = r.LocalPortIndex >= 0 ? PortName(r.LocalPortIndex) : null,
            VmName = _p.Config.LookupRecords[index].VmName,
            Index = index,
        };
    }

    private TraceRoute RouteOf(int domain, CustomerRouteEntry route) => new()
    {
        RoutingDomainId = _p.Domains[domain].Id.ToString("B"),
        VirtualSubnetId = route.Vsid,
        DestinationPrefix = route.Prefix.ToString(),
        NextHop = route.NextHop.ToString(),
        Metric = route.Metric,
        OnLink = route.IsOnLink,
    };

    private static string Hex(uint value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>The headers of a parsed frame, as far as <paramref name="info"/> got.</summary>
    private static TraceHeaders HeadersOf(ReadOnlySpan<byte> frame, in PacketInfo info, bool ip)
    {
        bool ports = ip && info.Protocol is IpProtocol.Tcp or IpProtocol.Udp && !info.IsLaterFragment;
        return new TraceHeaders
        {
            DestinationMac = Ethernet.ReadDestination(frame).ToString(),
            SourceMac = Ethernet.ReadSource(frame).ToString(),
            VlanId = info.VlanId >= 0 ? info.VlanId : null,
            EtherType = "0x" + info.EtherType.ToString("x4", CultureInfo.InvariantCulture),
            IpVersion = ip ? info.IpVersion : null,
            Source = ip ? info.Source.ToString() : null,
            Destination = ip ? info.Destination.ToString() : null,
            Protocol = ip ? info.Protocol : null,
            Ttl = ip ? info.Ttl : null,
            Tos = ip ? info.Tos : null,
            IpLength = ip ? info.L3Length : null,
            DontFragment = ip && info.IpVersion == 4 ? info.DontFragment : null,
            Fragment = ip ? info.IsFragment : null,
            SourcePort = ports ? info.SourcePort : null,
            DestinationPort = ports ? info.DestinationPort : null,
        };
    }

    /// <summary>"IPv4 10.1.1.7 → 10.1.1.8, UDP 1024 → 4789, TTL 64, 50 bytes".</summary>
    private static string Describe(in PacketInfo info)
    {
        string protocol = info.Protocol switch
        {
            IpProtocol.Tcp => "TCP",
            IpProtocol.Udp => "UDP",
            IpProtocol.Icmp => "ICMP",
            IpProtocol.Icmpv6 => "ICMPv6",
            IpProtocol.Gre => "GRE",
            _ => $"protocol {info.Protocol}",
        };
        string ports = info.Protocol is IpProtocol.Tcp or IpProtocol.Udp && !info.IsLaterFragment ? $" {info.SourcePort} → {info.DestinationPort}" : string.Empty;
        string fragment = info.IsLaterFragment ? ", later fragment" : info.IsFragment ? ", first fragment" : string.Empty;
        string df = info.IpVersion == 4 && info.DontFragment ? ", DF" : string.Empty;
        string ttl = info.IpVersion == 4 ? "TTL" : "hop limit";
        return $"IPv{info.IpVersion} {info.Source} → {info.Destination}, {protocol}{ports}, {ttl} {info.Ttl}{df}{fragment}, {info.L3Length} bytes";
    }

    /// <summary>Why the parser stopped, in words.</summary>
    private static string ParseProblem(DropReason r, in PacketInfo info, int length) => r switch
    {
        DropReason.Truncated => $"the frame ({length} bytes) ends inside a header",
        DropReason.MalformedHeader => "a header is malformed (version, header length, total length or header checksum)",
        DropReason.UnsupportedEthertype => $"EtherType 0x{info.EtherType:x4} is neither IPv4, IPv6 nor ARP",
        _ => "the frame does not parse",
    };
}
