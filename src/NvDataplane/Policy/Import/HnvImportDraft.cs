using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NvDataplane.Headers;

namespace NvDataplane.Policy.Import;

/// <summary>
/// Builds the configuration document from the bound commands, ports included, has
/// <see cref="ConfigLoader"/> check it, and leaves out each command a problem points at (the
/// problem reported at the command's line and parameter), until the document loads clean.
/// Each round leaves out at least one command, so it ends.
/// </summary>
internal sealed partial class HnvImportDraft(string hostName, List<HnvImportEntry> entries, List<ImportMessage> problems, List<ImportMessage> notes)
{
    private const string ProviderAddresses = "providerAddresses";
    private const string LookupRecords = "lookupRecords";
    private const int MaxPortName = 32;

    private static readonly string[] Sections = [ProviderAddresses, "providerRoutes", LookupRecords, "customerRoutes"];

    public HostConfig Load()
    {
        while (true)
        {
            var document = new Document(entries);
            var root = Build(document);
            var result = ConfigLoader.Load(root.ToJsonString());
            if (result.Config is { } config)
            {
                problems.AddRange(document.Problems);
                notes.AddRange(document.Notes);
                return config;
            }

            int before = entries.Count(e => e.Dropped);
            foreach (var problem in result.Problems)
            {
                Drop(document, problem);
            }

            if (entries.Count(e => e.Dropped) == before)
            {
                throw new InvalidOperationException("the imported configuration has a problem no command can be left out for: " + string.Join("; ", result.Problems));
            }
        }
    }

    private JsonObject Build(Document document)
    {
        var ports = new JsonArray();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        AddProviderPorts(document, ports, taken);
        AddVmPorts(document, ports, taken);
        var root = new JsonObject
        {
            ["host"] = new JsonObject { ["name"] = hostName },
            ["ports"] = ports,
        };
        foreach (string section in Sections)
        {
            var array = new JsonArray();
            foreach (var entry in document.Entries[section])
            {
                var json = entry.ToJson();
                if (section == ProviderAddresses)
                {
                    json["port"] = ProviderPortName(entry.InterfaceIndex);
                }

                array.Add((JsonNode)json);
            }

            root[section] = array;
        }

        return root;
    }

    private static string ProviderPortName(uint interfaceIndex) => string.Create(CultureInfo.InvariantCulture, $"pnic{interfaceIndex}");

    /// <summary>One provider port per interface index, with the first -MACAddress given for it, or a made-up one.</summary>
    private static void AddProviderPorts(Document document, JsonArray ports, HashSet<string> taken)
    {
        var byIndex = new Dictionary<uint, Port>();
        foreach (var pa in document.Entries[ProviderAddresses])
        {
            if (!byIndex.TryGetValue(pa.InterfaceIndex, out var port))
            {
                port = new Port(ProviderPortName(pa.InterfaceIndex), pa);
                port.Json["role"] = "provider";
                port.Sources["name"] = pa.Sources[HnvImportEntry.PortSource];
                byIndex.Add(pa.InterfaceIndex, port);
                document.Ports.Add(port);
                taken.Add(port.Name);
            }

            if (pa.PortMac is not { } mac)
            {
                continue;
            }

            if (port.Sources.TryGetValue("macAddress", out var first))
            {
                if (!SameMac(mac, first.Entry.PortMac!))
                {
                    document.Problems.Add(new ImportMessage(pa.Sources[HnvImportEntry.PortMacSource].Argument.Line, $"{HnvCmdlets.ProviderAddress}: -MACAddress {mac} is not imported (the address is): port {port.Name} has the MAC {first.Entry.PortMac} of line {first.Argument.Line}, and a port has one MAC"));
                }

                continue;
            }

            port.Json["macAddress"] = mac;
            port.Sources["macAddress"] = pa.Sources[HnvImportEntry.PortMacSource];
        }

        foreach (var port in document.Ports)
        {
            if (!port.Json.ContainsKey("macAddress"))
            {
                // Locally administered, unicast, one per interface index: 02-00 and the index.
                uint index = port.Origin.InterfaceIndex;
                var madeUp = new MacAddress(0x0200_0000_0000UL | index);
                port.Json["macAddress"] = madeUp.ToString();
                document.Notes.Add(new ImportMessage(port.Origin.Command.Line, string.Create(CultureInfo.InvariantCulture,
                    $"port {port.Name} gets the made-up MAC {madeUp}: the script gives no -MACAddress for interface {index}; set the NIC's own MAC, and a device, before nvdp run")));
            }

            ports.Add((JsonNode)port.Json);
        }
    }

    /// <summary>A vm port for each MAC whose lookup record has one of this host's provider addresses.</summary>
    private static void AddVmPorts(Document document, JsonArray ports, HashSet<string> taken)
    {
        var local = new HashSet<IpAddr>();
        foreach (var pa in document.Entries[ProviderAddresses])
        {
            if (IpAddr.TryParse(pa.Text("address"), out var address))
            {
                local.Add(address);
            }
        }

        var byMac = new Dictionary<MacAddress, HnvImportEntry>();
        foreach (var record in document.Entries[LookupRecords])
        {
            if (!IpAddr.TryParse(record.Text("providerAddress"), out var pa) || !local.Contains(pa)
                || !MacAddress.TryParse(record.Text("macAddress"), out var mac) || record.Number("virtualSubnetId") is not { } vsid)
            {
                continue;
            }

            if (byMac.TryGetValue(mac, out var first))
            {
                if (first.Number("virtualSubnetId") is { } firstVsid && firstVsid != vsid)
                {
                    document.Problems.Add(new ImportMessage(record.Sources["virtualSubnetId"].Argument.Line, string.Create(CultureInfo.InvariantCulture,
                        $"{HnvCmdlets.LookupRecord}: the VM with MAC {mac} on this host is in virtual subnet {firstVsid} (line {first.Command.Line}); its port stays there, as a port has one virtual subnet")));
                }

                continue;
            }

            byMac.Add(mac, record);
            string? vmName = record.Text("vmName");
            var port = new Port(VmPortName(vmName, mac, taken), record);
            port.Json["role"] = "vm";
            port.Json["macAddress"] = record.Text("macAddress");
            port.Json["virtualSubnetId"] = vsid;
            port.Sources["macAddress"] = record.Sources["macAddress"];
            port.Sources["virtualSubnetId"] = record.Sources["virtualSubnetId"];
            if (vmName is not null)
            {
                port.Json["vmName"] = vmName;
                port.Sources["vmName"] = port.Sources["name"] = record.Sources["vmName"];
            }

            document.Ports.Add(port);
            ports.Add((JsonNode)port.Json);
        }
    }

    private static bool SameMac(string a, string b) =>
        MacAddress.TryParse(a, out var x) && MacAddress.TryParse(b, out var y) ? x == y : a.Equals(b, StringComparison.OrdinalIgnoreCase);

    /// <summary>The VM name in the port-name alphabet (a run of other characters becomes one '-'), else vm- and the MAC; -2, -3 ... when taken.</summary>
    private static string VmPortName(string? vmName, MacAddress mac, HashSet<string> taken)
    {
        var kept = new StringBuilder();
        foreach (char c in vmName ?? string.Empty)
        {
            bool allowed = char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-';
            if (allowed || (kept.Length != 0 && kept[^1] != '-'))
            {
                kept.Append(allowed ? c : '-');
            }
        }

        string basis = kept.ToString().Trim('-');
        if (basis.Length == 0)
        {
            basis = string.Create(CultureInfo.InvariantCulture, $"vm-{mac.Value:X12}");
        }

        string name = basis[..Math.Min(basis.Length, MaxPortName)];
        for (int n = 2; !taken.Add(name); n++)
        {
            string suffix = string.Create(CultureInfo.InvariantCulture, $"-{n}");
            name = basis[..Math.Min(basis.Length, MaxPortName - suffix.Length)] + suffix;
        }

        return name;
    }

    /// <summary>Leaves out the command <paramref name="problem"/> points at, and says why at its line and parameter.</summary>
    private void Drop(Document document, ConfigProblem problem)
    {
        var match = PathPattern().Match(problem.Path);
        if (!match.Success)
        {
            return;
        }

        string section = match.Groups["section"].Value;
        int index = int.Parse(match.Groups["index"].Value, CultureInfo.InvariantCulture);
        string field = match.Groups["field"].Value;
        HnvImportEntry entry;
        HnvSource? source = null;
        if (section == "ports")
        {
            var port = document.Ports[index];
            source = port.Sources.TryGetValue(field, out var s) ? s : null;
            entry = source?.Entry ?? port.Origin;
        }
        else
        {
            entry = document.Entries[section][index];
            source = entry.Sources.TryGetValue(field, out var s) ? s : null;
        }

        string message = ReferencePattern().Replace(problem.Message, m => Describe(document, m));
        string parameter = source is { } src ? $"-{src.Parameter}: " : string.Empty;
        problems.Add(new ImportMessage(source?.Argument.Line ?? entry.Command.Line, $"{entry.Cmdlet.Name} not imported: {parameter}{message}"));
        entry.Dropped = true;
    }

    /// <summary>A JSON path in a problem's message, as the script line it comes from.</summary>
    private static string Describe(Document document, Match reference)
    {
        string section = reference.Groups["section"].Value;
        int index = int.Parse(reference.Groups["index"].Value, CultureInfo.InvariantCulture);
        if (section == "ports" && index < document.Ports.Count)
        {
            var port = document.Ports[index];
            return string.Create(CultureInfo.InvariantCulture, $"port {port.Name} (line {port.Origin.Command.Line})");
        }

        return document.Entries.TryGetValue(section, out var list) && index < list.Count
            ? string.Create(CultureInfo.InvariantCulture, $"line {list[index].Command.Line}")
            : reference.Value;
    }

    [GeneratedRegex(@"^\$\.(?<section>[A-Za-z]+)\[(?<index>\d+)\](?:\.(?<field>[A-Za-z0-9]+))?", RegexOptions.CultureInvariant)]
    private static partial Regex PathPattern();

    [GeneratedRegex(@"\$\.(?<section>[A-Za-z]+)\[(?<index>\d+)\](?:\.[A-Za-z0-9]+)?", RegexOptions.CultureInvariant)]
    private static partial Regex ReferencePattern();

    /// <summary>One round's document: the commands still in, by section, and the ports made for them.</summary>
    private sealed class Document(List<HnvImportEntry> entries)
    {
        public Dictionary<string, List<HnvImportEntry>> Entries { get; } =
            Sections.ToDictionary(s => s, s => entries.Where(e => !e.Dropped && e.Cmdlet.Section == s).ToList(), StringComparer.Ordinal);

        public List<Port> Ports { get; } = [];

        /// <summary>What the ports say, reported for the last round only.</summary>
        public List<ImportMessage> Problems { get; } = [];

        public List<ImportMessage> Notes { get; } = [];
    }

    /// <summary>A port made for a command (<paramref name="Origin"/>), and where each of its values came from.</summary>
    private sealed class Port(string name, HnvImportEntry origin)
    {
        public string Name => name;

        public HnvImportEntry Origin => origin;

        public JsonObject Json { get; } = new() { ["name"] = name };

        public Dictionary<string, HnvSource> Sources { get; } = new(StringComparer.Ordinal);
    }
}
