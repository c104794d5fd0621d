using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>acls</c>, ordered allow/deny rules per VSID, and checks each against the rest of the
/// file: its VSID must be one a port, lookup record or customer route uses; its prefixes and its
/// ICMP flavour belong to one address family; ports go with tcp or udp only, low port first;
/// names are unique.
/// </summary>
internal static class ConfigAclReader
{
    public const int MaxPriority = 65535;
    private const int MaxNameLength = 64;
    private const string DirectionChoices = "inbound, outbound or both";
    private const string ActionChoices = "allow or deny";
    private const string ProtocolChoices = "tcp, udp, icmp, icmpv6, any or a protocol number 0..255";
    private const string PortsExample = "a port 0..65535 or a range such as \"1024-65535\"";

    /// <summary>The <c>protocol</c> value for "any protocol" while reading (a number is 0..255).</summary>
    private const int AnyProtocol = -1;

    private static readonly string[] Fields =
        ["virtualSubnetId", "priority", "direction", "protocol", "sourcePrefix", "destinationPrefix", "sourcePorts", "destinationPorts", "action", "name"];

    private static readonly Dictionary<string, AclDirection> Directions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["inbound"] = AclDirection.Inbound,
        ["outbound"] = AclDirection.Outbound,
        ["both"] = AclDirection.Both,
    };

    private static readonly Dictionary<string, AclAction> Actions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["allow"] = AclAction.Allow,
        ["deny"] = AclAction.Deny,
    };

    private static readonly Dictionary<string, int> Protocols = new(StringComparer.OrdinalIgnoreCase)
    {
        ["tcp"] = IpProtocol.Tcp,
        ["udp"] = IpProtocol.Udp,
        ["icmp"] = IpProtocol.Icmp,
        ["icmpv6"] = IpProtocol.Icmpv6,
        ["any"] = AnyProtocol,
    };

    public static List<AclRuleConfig?> Read(
        ConfigObjectReader root,
        ConfigProblemList problems,
        IReadOnlyList<ConfigPortReader.Draft> ports,
        IReadOnlyList<LookupRecordConfig?> records,
        IReadOnlyList<CustomerRouteConfig?> routes)
    {
        var known = ConfigKnownVsids.Of(ports, records, routes);
        var configs = new List<AclRuleConfig?>();
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rule in root.ArrayOfObjects("acls", Fields))
        {
            int before = problems.Count;
            uint? vsid = known.Read(rule, "virtualSubnetId");
            long? priority = rule.Integer("priority", 0, MaxPriority, required: true);
            var direction = rule.Choice("direction", Directions, DirectionChoices, required: true);
            int? protocol = ReadProtocol(rule);
            var source = rule.Prefix("sourcePrefix", required: false);
            var destination = rule.Prefix("destinationPrefix", required: false);
            var sourcePorts = ReadPorts(rule, "sourcePorts", protocol);
            var destinationPorts = ReadPorts(rule, "destinationPorts", protocol);
            var action = rule.Choice("action", Actions, ActionChoices, required: true);
            string? name = ReadName(rule, names);
            CheckFamily(rule, protocol, source, destination);

            configs.Add(problems.Count == before && vsid is { } v && priority is { } p && direction is { } d && protocol is { } pr
                && sourcePorts is { } sp && destinationPorts is { } dp && action is { } a
                ? new AclRuleConfig(v, (uint)p, d, pr == AnyProtocol ? null : (byte)pr, source, destination, sp, dp, a, name)
                : null);
        }

        return configs;
    }

    /// <summary>A protocol name or number; <see cref="AnyProtocol"/> when not given.</summary>
    private static int? ReadProtocol(ConfigObjectReader rule)
    {
        if (rule.IsNumber("protocol"))
        {
            long? number = rule.Integer("protocol", 0, byte.MaxValue);
            return number is { } n ? (int)n : null;
        }

        return rule.Choice("protocol", Protocols, ProtocolChoices, whenAbsent: AnyProtocol);
    }

    /// <summary>A port or "low-high" range, only for tcp and udp; <see cref="PortRange.All"/> when not given.</summary>
    private static PortRange? ReadPorts(ConfigObjectReader rule, string field, int? protocol)
    {
        if (!rule.Has(field))
        {
            return PortRange.All;
        }

        PortRange? range;
        if (rule.IsNumber(field))
        {
            long? port = rule.Integer(field, 0, ushort.MaxValue);
            range = port is { } p ? new PortRange((ushort)p, (ushort)p) : null;
        }
        else
        {
            string? text = rule.String(field, expected: PortsExample);
            range = text is null ? null : ParseRange(rule, field, text);
        }

        if (range is not null && protocol is { } pr && pr is not (IpProtocol.Tcp or IpProtocol.Udp))
        {
            rule.Report(field, $"ports apply to tcp and udp only, and the rule's protocol is {ProtocolName(pr)}; remove {field} or set protocol to tcp or udp");
            return null;
        }

        return range;
    }

    private static PortRange? ParseRange(ConfigObjectReader rule, string field, string text)
    {
        int dash = text.IndexOf('-', StringComparison.Ordinal);
        string low = dash < 0 ? text : text[..dash];
        string high = dash < 0 ? text : text[(dash + 1)..];
        if (!TryParsePort(low, out int l) || !TryParsePort(high, out int h))
        {
            rule.Report(field, $"{ConfigValueText.Quote(text)} is not a port or port range; use {PortsExample}");
            return null;
        }

        if (l > ushort.MaxValue || h > ushort.MaxValue)
        {
            rule.Report(field, $"{ConfigValueText.Quote(text)} is out of range; ports are 0..65535");
            return null;
        }

        if (l > h)
        {
            rule.Report(field, string.Create(CultureInfo.InvariantCulture, $"{ConfigValueText.Quote(text)} runs backwards; write the low port first: \"{h}-{l}\""));
            return null;
        }

        return new PortRange((ushort)l, (ushort)h);
    }

    /// <summary>Decimal digits only, spaces around them allowed.</summary>
    private static bool TryParsePort(string text, out int port) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out port);

    private static string? ReadName(ConfigObjectReader rule, Dictionary<string, string> names)
    {
        string? name = rule.String("name", expected: "a rule name");
        if (name is null)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            rule.Report("name", "is empty; give the rule a name, or leave name out to show it as VSID/priority");
            return null;
        }

        if (name.Length > MaxNameLength) // control characters: refused as a string already (ConfigObjectReader.String)
        {
            rule.Report("name", string.Create(CultureInfo.InvariantCulture, $"{ConfigValueText.Quote(name)} is not a valid rule name; use 1..{MaxNameLength} printable characters"));
            return null;
        }

        if (!names.TryAdd(name, rule.Path))
        {
            rule.Report("name", $"{ConfigValueText.Quote(name)} is already the name of {names[name]}; ACL rule names must be unique");
            return null;
        }

        return name;
    }

    /// <summary>Both prefixes of one family, and icmp only with IPv4, icmpv6 only with IPv6: a rule that mixes them could never match.</summary>
    private static void CheckFamily(ConfigObjectReader rule, int? protocol, IpPrefix? source, IpPrefix? destination)
    {
        if (source is { } s && destination is { } d && s.IsV4 != d.IsV4)
        {
            rule.Report("destinationPrefix", $"{d} is {ConfigFamily.Name(d.Address)} but the source prefix {s} is {ConfigFamily.Name(s.Address)}; a rule matches one address family, so use prefixes of one family (or two rules)");
            return;
        }

        if ((source ?? destination) is not { } prefix)
        {
            return;
        }

        if (protocol == IpProtocol.Icmp && !prefix.IsV4)
        {
            rule.Report("protocol", $"icmp is ICMP for IPv4 but the rule's prefixes are IPv6 ({prefix}); use icmpv6");
        }
        else if (protocol == IpProtocol.Icmpv6 && prefix.IsV4)
        {
            rule.Report("protocol", $"icmpv6 is ICMP for IPv6 but the rule's prefixes are IPv4 ({prefix}); use icmp");
        }
    }

    private static string ProtocolName(int protocol) => protocol switch
    {
        AnyProtocol => "any (the default)",
        IpProtocol.Icmp => "icmp",
        IpProtocol.Icmpv6 => "icmpv6",
        _ => protocol.ToString(CultureInfo.InvariantCulture),
    };
}
