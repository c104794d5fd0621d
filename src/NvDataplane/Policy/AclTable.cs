using System.Globalization;
using System.Runtime.CompilerServices;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// The <c>acls</c> section compiled for one policy version: for every port, the rules its VM's
/// outbound and inbound frames are judged by (null when there are none, so a VSID without rules
/// costs the forwarder one array read), and a stable label per rule for its hit counter.
/// Immutable; published with the rest of the <see cref="PolicySnapshot"/>.
/// </summary>
public sealed class AclTable
{
    private AclTable(string[] labels, AclRuleSet?[] outbound, AclRuleSet?[] inbound)
    {
        Labels = labels;
        OutboundByPort = outbound;
        InboundByPort = inbound;
    }

    public static AclTable Empty { get; } = new([], [], []);

    /// <summary>
    /// One label per rule, in file order (a rule's counter index is its place in <c>acls</c>):
    /// its name, else VSID/priority, with #index added when that is already taken.
    /// </summary>
    public IReadOnlyList<string> Labels { get; }

    public int Count => Labels.Count;

    /// <summary>Per port index: the rules a frame that port's VM sends is judged by; null for none.</summary>
    internal AclRuleSet?[] OutboundByPort { get; }

    /// <summary>Per port index: the rules a frame delivered to that port's VM is judged by; null for none.</summary>
    internal AclRuleSet?[] InboundByPort { get; }

    public static AclTable Build(IReadOnlyList<AclRuleConfig> rules, IReadOnlyList<PortInfo> ports)
    {
        var outbound = new AclRuleSet?[ports.Count];
        var inbound = new AclRuleSet?[ports.Count];
        if (rules.Count == 0)
        {
            return new AclTable([], outbound, inbound);
        }

        // Lowest priority first; OrderBy is stable, so equal priorities keep the file order.
        var byVsid = rules.Select((rule, index) => (Rule: rule, Index: index))
            .GroupBy(x => x.Rule.VirtualSubnetId)
            .ToDictionary(g => g.Key, g => g.OrderBy(x => x.Rule.Priority).ToList());
        var sets = new Dictionary<(uint Vsid, AclDirection Direction), AclRuleSet?>();
        foreach (var (vsid, ordered) in byVsid)
        {
            sets[(vsid, AclDirection.Outbound)] = AclRuleSet.Of(ordered.Where(x => x.Rule.Direction.HasFlag(AclDirection.Outbound)));
            sets[(vsid, AclDirection.Inbound)] = AclRuleSet.Of(ordered.Where(x => x.Rule.Direction.HasFlag(AclDirection.Inbound)));
        }

        for (int i = 0; i < ports.Count; i++)
        {
            // An external port stands for its VSID's gateway to the outside network: its
            // outbound rules judge what comes in from outside, its inbound rules what leaves.
            if (ports[i].Role is PortRole.Vm or PortRole.External && ports[i].Config.VirtualSubnetId is uint v)
            {
                outbound[i] = sets.GetValueOrDefault((v, AclDirection.Outbound));
                inbound[i] = sets.GetValueOrDefault((v, AclDirection.Inbound));
            }
        }

        return new AclTable(MakeLabels(rules), outbound, inbound);
    }

    private static string[] MakeLabels(IReadOnlyList<AclRuleConfig> rules)
    {
        var labels = new string[rules.Count];
        var taken = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < rules.Count; i++)
        {
            var r = rules[i];
            string label = r.Name ?? string.Create(CultureInfo.InvariantCulture, $"{r.VirtualSubnetId}/{r.Priority}");
            while (!taken.Add(label))
            {
                label = string.Create(CultureInfo.InvariantCulture, $"{label}#{i}");
            }

            labels[i] = label;
        }

        return labels;
    }
}

/// <summary>
/// The rules of one VSID for one direction, in evaluation order. <see cref="Match"/> returns the
/// first rule that matches (its counter index and action); no match means allow.
/// </summary>
public sealed class AclRuleSet
{
    private readonly AclRule[] _rules;

    private AclRuleSet(AclRule[] rules) => _rules = rules;

    public int Count => _rules.Length;

    /// <summary>The rules in evaluation order (the packet tracer lists the ones it tried).</summary>
    internal ReadOnlySpan<AclRule> Rules => _rules;

    internal static AclRuleSet? Of(IEnumerable<(AclRuleConfig Rule, int Index)> ordered)
    {
        var rules = ordered.Select(x => new AclRule(x.Rule, x.Index)).ToArray();
        return rules.Length == 0 ? null : new AclRuleSet(rules);
    }

    /// <summary>
    /// The counter index of the first rule matching the packet, or -1. <paramref name="sourcePort"/>
    /// and <paramref name="destinationPort"/> are -1 when the packet shows no ports (not TCP/UDP,
    /// or a fragment without the transport header): then only rules without port conditions match.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Match(IpAddr source, IpAddr destination, byte protocol, int sourcePort, int destinationPort, out bool deny)
    {
        foreach (ref readonly AclRule r in _rules.AsSpan())
        {
            if (r.Matches(source, destination, protocol, sourcePort, destinationPort))
            {
                deny = r.Deny;
                return r.Counter;
            }
        }

        deny = false;
        return -1;
    }
}

/// <summary>
/// One rule as the matcher reads it: prefixes as value/mask pairs over the 128-bit
/// <see cref="IpAddr"/> (IPv4 in its mapped form, so an IPv4 prefix's mask also pins the family),
/// ports as inclusive ranges, -1 for any protocol.
/// </summary>
internal readonly struct AclRule
{
    public readonly ulong SourceHi;
    public readonly ulong SourceLo;
    public readonly ulong SourceMaskHi;
    public readonly ulong SourceMaskLo;
    public readonly ulong DestinationHi;
    public readonly ulong DestinationLo;
    public readonly ulong DestinationMaskHi;
    public readonly ulong DestinationMaskLo;
    public readonly ushort SourcePortLow;
    public readonly ushort SourcePortHigh;
    public readonly ushort DestinationPortLow;
    public readonly ushort DestinationPortHigh;
    public readonly short Protocol;

    /// <summary>An IPv6 prefix shorter than 96 bits would also cover IPv4-mapped addresses: such a rule says IPv6 only.</summary>
    public readonly bool Ipv6Only;
    public readonly bool HasPorts;
    public readonly bool Deny;
    public readonly int Counter;

    public AclRule(AclRuleConfig config, int counter)
    {
        (SourceHi, SourceLo, SourceMaskHi, SourceMaskLo) = ValueAndMask(config.SourcePrefix);
        (DestinationHi, DestinationLo, DestinationMaskHi, DestinationMaskLo) = ValueAndMask(config.DestinationPrefix);
        SourcePortLow = config.SourcePorts.Low;
        SourcePortHigh = config.SourcePorts.High;
        DestinationPortLow = config.DestinationPorts.Low;
        DestinationPortHigh = config.DestinationPorts.High;
        Protocol = config.Protocol is { } p ? p : (short)-1;
        Ipv6Only = config.SourcePrefix is { IsV4: false } || config.DestinationPrefix is { IsV4: false };
        HasPorts = !config.SourcePorts.IsAll || !config.DestinationPorts.IsAll;
        Deny = config.Action == AclAction.Deny;
        Counter = counter;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Matches(IpAddr source, IpAddr destination, byte protocol, int sourcePort, int destinationPort) =>
        (Protocol < 0 || Protocol == protocol)
        && (source.Hi & SourceMaskHi) == SourceHi && (source.Lo & SourceMaskLo) == SourceLo
        && (destination.Hi & DestinationMaskHi) == DestinationHi && (destination.Lo & DestinationMaskLo) == DestinationLo
        && (!Ipv6Only || !source.IsV4)
        && (!HasPorts || (sourcePort >= SourcePortLow && sourcePort <= SourcePortHigh
            && destinationPort >= DestinationPortLow && destinationPort <= DestinationPortHigh));

    private static (ulong Hi, ulong Lo, ulong MaskHi, ulong MaskLo) ValueAndMask(IpPrefix? prefix)
    {
        if (prefix is not { } p)
        {
            return (0, 0, 0, 0);
        }

        var all = new IpAddr(ulong.MaxValue, ulong.MaxValue);
        var mask = IpPrefix.Mask(all, p.IsV4 ? p.Length + 96 : p.Length);
        return (p.Address.Hi, p.Address.Lo, mask.Hi, mask.Lo);
    }
}
