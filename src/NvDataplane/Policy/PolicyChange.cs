using System.Text.Json;

namespace NvDataplane.Policy;

/// <summary>The policy sections that change while the daemon runs; ports and global settings need a restart.</summary>
public enum PolicySection
{
    LookupRecords,
    CustomerRoutes,
    ProviderAddresses,
    ProviderRoutes,
}

public static class PolicySections
{
    public static readonly PolicySection[] All = Enum.GetValues<PolicySection>();

    /// <summary>The section's field name in the configuration file (SPEC section 2).</summary>
    public static string JsonName(PolicySection section) => section switch
    {
        PolicySection.LookupRecords => "lookupRecords",
        PolicySection.CustomerRoutes => "customerRoutes",
        PolicySection.ProviderAddresses => "providerAddresses",
        PolicySection.ProviderRoutes => "providerRoutes",
        _ => throw new ArgumentOutOfRangeException(nameof(section)),
    };

    /// <summary>The section whose file field name is <paramref name="jsonName"/>.</summary>
    public static bool TryParse(string jsonName, out PolicySection section)
    {
        foreach (var s in All)
        {
            if (JsonName(s) == jsonName)
            {
                section = s;
                return true;
            }
        }

        section = default;
        return false;
    }

    /// <summary>What one entry of the section is called in messages.</summary>
    public static string EntryName(PolicySection section) => section switch
    {
        PolicySection.LookupRecords => "lookup record",
        PolicySection.CustomerRoutes => "customer route",
        PolicySection.ProviderAddresses => "provider address",
        PolicySection.ProviderRoutes => "provider route",
        _ => throw new ArgumentOutOfRangeException(nameof(section)),
    };
}

/// <summary>
/// One edit of the running policy, in the configuration file's own terms: entries are JSON
/// objects with the fields of SPEC section 2 (<c>customerAddress</c>, <c>virtualSubnetId</c>, …),
/// and a match selects the entries whose fields equal every field it names (addresses, prefixes,
/// MACs and GUIDs compared by value, other strings ignoring case), as the HNV Set- and Remove-
/// cmdlets select records by their parameters.
/// </summary>
public abstract record PolicyChange(PolicySection Section)
{
    /// <summary>New-NetVirtualization*: one more entry.</summary>
    public sealed record Add(PolicySection Section, JsonElement Entry) : PolicyChange(Section);

    /// <summary>Set-NetVirtualization*: every matching entry takes the given fields (at least one must match).</summary>
    public sealed record Set(PolicySection Section, JsonElement Match, JsonElement Fields) : PolicyChange(Section);

    /// <summary>Remove-NetVirtualization*: every matching entry goes (at least one must match; an empty match is refused).</summary>
    public sealed record Remove(PolicySection Section, JsonElement Match) : PolicyChange(Section);

    /// <summary>The whole section becomes <paramref name="Entries"/> (a policy source such as etcd).</summary>
    public sealed record Replace(PolicySection Section, IReadOnlyList<JsonElement> Entries) : PolicyChange(Section);
}

/// <summary>
/// What became of one request's changes: applied together as policy <paramref name="Version"/>,
/// or refused as a whole with every problem (JSON paths of the candidate document, SPEC section 2).
/// </summary>
public sealed record PolicyChangeResult(bool Applied, long Version, int Affected, IReadOnlyList<ConfigProblem> Problems)
{
    /// <summary>Refused unread because too many requests were waiting (HTTP 429 / 503 material), not because it is wrong.</summary>
    public bool Busy { get; init; }

    public static PolicyChangeResult Refused(long version, IReadOnlyList<ConfigProblem> problems) => new(false, version, 0, problems);
}

/// <summary>The entries a query selected from policy <paramref name="Version"/>, or the problems that refused it.</summary>
public sealed record PolicyQueryResult(long Version, IReadOnlyList<JsonElement> Entries, IReadOnlyList<ConfigProblem> Problems);
