using System.Text;
using System.Text.RegularExpressions;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>Reads <c>ports</c>: names, roles, devices, MACs, MTUs, the VSID of vm and external ports.</summary>
internal static partial class ConfigPortReader
{
    private const string NameRule = "1..32 of A-Z a-z 0-9 _ . -";
    private const int MinMtu = 576;
    private const int MaxMtu = 65535;

    /// <summary>Linux interface names (afpacket, tap) are at most IFNAMSIZ - 1 = 15 bytes of UTF-8.</summary>
    private const int MaxLinuxInterfaceNameSize = 15;

    private static readonly string[] Fields = ["name", "role", "device", "macAddress", "mtu", "virtualSubnetId", "vmName", .. ConfigExternalPortReader.Fields];

    private static readonly Dictionary<string, PortRole> Roles = new(StringComparer.OrdinalIgnoreCase)
    {
        ["provider"] = PortRole.Provider,
        ["vm"] = PortRole.Vm,
        ["external"] = PortRole.External,
    };

    /// <summary>A port as far as it could be read, for checks across ports and sections.</summary>
    public sealed record Draft(string Path, string? Name, PortRole? Role, MacAddress? Mac, string? Device, PortConfig? Config);

    public static List<Draft> Read(ConfigObjectReader root, ConfigProblemList problems)
    {
        var drafts = new List<Draft>();
        var firsts = new FirstUses();
        foreach (var port in root.ArrayOfObjects("ports", Fields))
        {
            var draft = ReadOne(port, problems);
            CheckUnique(port, draft, firsts);
            drafts.Add(draft);
        }

        return drafts;
    }

    private static Draft ReadOne(ConfigObjectReader port, ConfigProblemList problems)
    {
        int before = problems.Count;
        string? name = ReadName(port);
        var role = port.Choice("role", Roles, "provider, vm or external", required: true);
        string? device = ReadDevice(port);
        var mac = port.Mac("macAddress", required: true, unicast: true);
        long? mtu = port.Integer("mtu", MinMtu, MaxMtu, whenAbsent: PortConfig.DefaultMtu);
        uint? vsid = ReadVirtualSubnetId(port, role);
        string? vmName = ReadVmName(port, role);
        var external = ConfigExternalPortReader.Read(port, role);

        PortConfig? config = problems.Count == before && name is not null && role is { } r && mac is { } m && mtu is { } u
            ? new PortConfig(name, r, device, m, (int)u, vsid, vmName, external)
            : null;
        return new Draft(port.Path, name, role, mac, device, config);
    }

    private static string? ReadName(ConfigObjectReader port)
    {
        string? name = port.String("name", required: true, $"a port name of {NameRule}");
        if (name is not null && !NamePattern().IsMatch(name))
        {
            port.Report("name", $"{ConfigValueText.Quote(name)} is not a valid port name; use {NameRule}");
            return null;
        }

        return name;
    }

    private static string? ReadDevice(ConfigObjectReader port)
    {
        const string Valid = "afpacket:IFNAME, tap:NAME or pcap:NAME";
        string? device = port.String("device", expected: Valid);
        if (device is null)
        {
            return null;
        }

        int colon = device.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? string.Empty : device[..colon];
        string name = colon < 0 ? string.Empty : device[(colon + 1)..];
        if (kind is not ("afpacket" or "tap" or "pcap"))
        {
            port.Report("device", $"{ConfigValueText.Quote(device)} names no known device kind; use {Valid}");
            return null;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            port.Report("device", $"{ConfigValueText.Quote(device)} has no name after \"{kind}:\"; use {Valid}");
            return null;
        }

        if (kind != "pcap" && Encoding.UTF8.GetByteCount(name) > MaxLinuxInterfaceNameSize)
        {
            port.Report("device", $"{ConfigValueText.Quote(device)}: the name is {Encoding.UTF8.GetByteCount(name)} bytes of UTF-8 and Linux interface names are at most {MaxLinuxInterfaceNameSize} bytes; use a shorter name");
            return null;
        }

        return device;
    }

    private static uint? ReadVirtualSubnetId(ConfigObjectReader port, PortRole? role)
    {
        if (role == PortRole.Provider && port.Has("virtualSubnetId"))
        {
            port.Report("virtualSubnetId", "a provider port has no virtual subnet; remove virtualSubnetId (only vm ports have one)");
            return null;
        }

        return port.VirtualSubnetId("virtualSubnetId", required: role is PortRole.Vm or PortRole.External);
    }

    private static string? ReadVmName(ConfigObjectReader port, PortRole? role)
    {
        if ((role is PortRole.Provider or PortRole.External) && port.Has("vmName"))
        {
            port.Report("vmName", $"{(role == PortRole.Provider ? "a provider" : "an external")} port belongs to no VM; remove vmName (only vm ports have one)");
            return null;
        }

        return port.String("vmName");
    }

    /// <summary>The path of the first port with each name, MAC and device: one lookup per port, however many ports there are.</summary>
    private sealed class FirstUses
    {
        public Dictionary<string, string> Names { get; } = new(StringComparer.Ordinal);

        public Dictionary<MacAddress, string> Macs { get; } = [];

        /// <summary>The first port on each interface, whatever the kind that names it.</summary>
        public Dictionary<string, (string Path, string Device)> Interfaces { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>Names, MACs and devices are each one port's own.</summary>
    private static void CheckUnique(ConfigObjectReader port, Draft draft, FirstUses firsts)
    {
        if (draft.Name is not null && !firsts.Names.TryAdd(draft.Name, draft.Path))
        {
            port.Report("name", $"{ConfigValueText.Quote(draft.Name)} is already the name of {firsts.Names[draft.Name]}; port names must be unique");
        }

        if (draft.Mac is { } mac && !firsts.Macs.TryAdd(mac, draft.Path))
        {
            port.Report("macAddress", $"{mac} is already the MAC of {firsts.Macs[mac]}; each port needs its own MAC address");
        }

        if (draft.Device is { } mine && !firsts.Interfaces.TryAdd(InterfaceOf(mine), (draft.Path, mine)))
        {
            string iface = InterfaceOf(mine);
            var (path, device) = firsts.Interfaces[iface];
            string same = device == mine
                ? $"{ConfigValueText.Quote(mine)} is already the device of {path}"
                : $"{ConfigValueText.Quote(mine)} names interface {iface}, already the device of {path} ({ConfigValueText.Quote(device)})";
            port.Report("device", same + "; each port needs its own device: two ports on one interface would put the frames of one on the wire of the other");
        }
    }

    /// <summary>
    /// The interface a device opens: afpacket:X, pcap:X and tap:X all name interface X (a TAP is
    /// an interface of its name), so two ports with the same X share one wire whatever the kinds.
    /// </summary>
    private static string InterfaceOf(string device) => device[(device.IndexOf(':', StringComparison.Ordinal) + 1)..];

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,32}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
