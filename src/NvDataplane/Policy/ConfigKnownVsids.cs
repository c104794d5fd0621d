using System.Globalization;

namespace NvDataplane.Policy;

/// <summary>
/// The VSIDs the file's ports, lookup records and customer routes name, for the sections that
/// refer to a virtual subnet by its VSID (<c>acls</c>, <c>virtualSubnets</c>): a VSID nothing
/// else names is a typo, reported with the ones that exist.
/// </summary>
internal sealed class ConfigKnownVsids
{
    /// <summary>Null when a port, record or route could not be read: its VSID might be the one named (its own problem is reported already).</summary>
    private readonly SortedSet<uint>? _known;

    private ConfigKnownVsids(SortedSet<uint>? known) => _known = known;

    public static ConfigKnownVsids Of(IReadOnlyList<ConfigPortReader.Draft> ports, IReadOnlyList<LookupRecordConfig?> records, IReadOnlyList<CustomerRouteConfig?> routes)
    {
        if (ports.Any(p => p.Config is null) || records.Any(r => r is null) || routes.Any(r => r is null))
        {
            return new ConfigKnownVsids(null);
        }

        var known = new SortedSet<uint>(ports.Select(p => p.Config!.VirtualSubnetId).OfType<uint>());
        known.UnionWith(records.Select(r => r!.VirtualSubnetId));
        known.UnionWith(routes.Select(r => r!.VirtualSubnetId));
        return new ConfigKnownVsids(known);
    }

    /// <summary>The required VSID field <paramref name="name"/> of <paramref name="entry"/>; null (reported) when it is invalid or names no known subnet.</summary>
    public uint? Read(ConfigObjectReader entry, string name)
    {
        uint? vsid = entry.VirtualSubnetId(name, required: true);
        if (vsid is { } v && _known is not null && !_known.Contains(v))
        {
            string valid = _known.Count == 0
                ? "the file names no virtual subnet yet; add the port, lookup records or customer routes of this VSID"
                : "use one of: " + string.Join(", ", _known.Select(k => k.ToString(CultureInfo.InvariantCulture)));
            entry.Report(name, string.Create(CultureInfo.InvariantCulture, $"{v} is not the virtual subnet of any port, lookup record or customer route; {valid}"));
            return null;
        }

        return vsid;
    }
}
