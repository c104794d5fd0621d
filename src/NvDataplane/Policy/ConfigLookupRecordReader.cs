using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>lookupRecords</c>, (VSID, CA) → (MAC, PA, rule, type), and checks them against each
/// other: one record per (VSID, CA) (L2Only: per VSID, MAC and family), a NAT record's PA is its
/// own, wildcard CAs exactly on GatewayWildcard and L2Only records (HNV: CA 0.0.0.0 / ::), and
/// L2Only records encapsulate (IP rewrite needs a fixed CA).
/// </summary>
internal static class ConfigLookupRecordReader
{
    private const string RuleChoices = "TranslationMethodEncap or TranslationMethodNat (or Encap / Nat)";
    private const string TypeChoices = "Static, Dynamic, L2Only or GatewayWildcard";

    private static readonly string[] Fields =
        ["customerAddress", "virtualSubnetId", "macAddress", "providerAddress", "rule", "type", "vmName", "customerId", "context"];

    private static readonly Dictionary<string, TranslationRule> Rules = new(StringComparer.OrdinalIgnoreCase)
    {
        ["TranslationMethodEncap"] = TranslationRule.Encap,
        ["Encap"] = TranslationRule.Encap,
        ["TranslationMethodNat"] = TranslationRule.Nat,
        ["Nat"] = TranslationRule.Nat,
    };

    private static readonly Dictionary<string, RecordType> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Static"] = RecordType.Static,
        ["Dynamic"] = RecordType.Dynamic,
        ["L2Only"] = RecordType.L2Only,
        ["GatewayWildcard"] = RecordType.GatewayWildcard,
    };

    /// <summary>Whether <paramref name="text"/> names a rule (Encap, Nat, HNV's TranslationMethod… spellings), as a record's <c>rule</c> may.</summary>
    internal static bool IsRule(string text) => Rules.ContainsKey(text);

    /// <summary>Whether <paramref name="text"/> names a record type, as a record's <c>type</c> may.</summary>
    internal static bool IsType(string text) => Types.ContainsKey(text);

    /// <summary>A record as far as it could be read, for the checks across records.</summary>
    private sealed record Draft(ConfigObjectReader Record, IpAddr? Ca, uint? Vsid, IpAddr? Pa, TranslationRule? Rule, RecordType? Type, MacAddress? Mac = null);

    /// <param name="routes">The customer routes as read (null entries unreadable): they give each VSID its routing domain, of which one GatewayWildcard record per family may name the gateway.</param>
    public static List<LookupRecordConfig?> Read(ConfigObjectReader root, ConfigProblemList problems, IReadOnlyList<CustomerRouteConfig?> routes)
    {
        var configs = new List<LookupRecordConfig?>();
        var drafts = new List<Draft>();
        var byKey = new Dictionary<(uint Vsid, IpAddr Ca), string>();
        var l2OnlyByKey = new Dictionary<(uint Vsid, MacAddress Mac, IpAddr Ca), string>();
        foreach (var record in root.ArrayOfObjects("lookupRecords", Fields))
        {
            int before = problems.Count;
            var draft = ReadOne(record, out var config);
            CheckAddresses(draft);
            if (draft.Type == RecordType.L2Only)
            {
                CheckUniqueL2Only(draft, l2OnlyByKey);
            }
            else
            {
                CheckUniqueKey(draft, byKey);
            }

            drafts.Add(draft);
            configs.Add(problems.Count == before ? config : null);
        }

        CheckNatProviderAddresses(drafts);
        CheckOneGatewayPerDomain(drafts, routes);
        CheckGatewayAddresses(drafts, routes);
        return configs;
    }

    /// <summary>
    /// One record on its own: its fields and every check that needs no other record, as
    /// <see cref="Read"/> makes them; null when any fails. The policy editor reads a changed
    /// record with it (LookupRecordShadow.cs), and leaves the wording of problems to <see cref="Read"/>.
    /// </summary>
    public static LookupRecordConfig? ReadAlone(System.Text.Json.JsonElement entry)
    {
        var problems = new ConfigProblemList();
        ConfigStringCheck.Check(entry, ConfigJsonPath.Root, problems);
        if (problems.Count != 0 || ConfigObjectReader.Open(entry, ConfigJsonPath.Root, problems, Fields) is not { } record)
        {
            return null;
        }

        var draft = ReadOne(record, out var config);
        CheckAddresses(draft);
        return problems.Count == 0 ? config : null;
    }

    /// <summary>
    /// <paramref name="record"/> with <paramref name="fields"/> set, when the fields are ones a set
    /// may change without changing the record's key (providerAddress, rule, vmName, customerId,
    /// context, and macAddress of a record other than L2Only), each given once as a string that
    /// reads as <see cref="ReadOne"/> reads it, and the result passes <see cref="CheckAddresses"/>:
    /// what <see cref="ReadAlone"/> returns for the entry merged with the fields, which
    /// <paramref name="written"/> then holds as the merge writes them. Null otherwise, and the
    /// policy editor then takes the general way, which words any problem.
    /// </summary>
    public static LookupRecordConfig? TrySet(LookupRecordConfig record, System.Text.Json.JsonElement fields, out RecordField[] written)
    {
        written = [];
        int count = fields.ValueKind == System.Text.Json.JsonValueKind.Object ? fields.GetPropertyCount() : 0;
        if (count is 0 or > 6)
        {
            return null;
        }

        var updated = record;
        var given = new RecordField[count];
        int seen = 0;
        int n = 0;
        foreach (var field in fields.EnumerateObject())
        {
            if (field.Value.ValueKind != System.Text.Json.JsonValueKind.String || !ConfigStringCheck.TryGetString(field.Value, out string text)
                || ConfigObjectReader.ControlCharacter(text) is not null)
            {
                return null;
            }

            int bit;
            string name;
            if (field.NameEquals("providerAddress"u8))
            {
                (bit, name) = (1, "providerAddress");
                if (!IpAddr.TryParse(text, out var pa))
                {
                    return null;
                }

                updated = updated with { ProviderAddress = pa };
            }
            else if (field.NameEquals("rule"u8))
            {
                (bit, name) = (2, "rule");
                if (!Rules.TryGetValue(text, out var rule))
                {
                    return null;
                }

                updated = updated with { Rule = rule };
            }
            else if (field.NameEquals("macAddress"u8) && record.Type != RecordType.L2Only)
            {
                (bit, name) = (4, "macAddress");
                if (!MacAddress.TryParse(text, out var mac) || mac.IsBroadcast || mac.IsMulticast || mac.IsZero)
                {
                    return null;
                }

                updated = updated with { MacAddress = mac };
            }
            else if (field.NameEquals("vmName"u8))
            {
                (bit, name) = (8, "vmName");
                updated = updated with { VmName = text };
            }
            else if (field.NameEquals("customerId"u8))
            {
                (bit, name) = (16, "customerId");
                updated = updated with { CustomerId = text };
            }
            else if (field.NameEquals("context"u8))
            {
                (bit, name) = (32, "context");
                updated = updated with { Context = text };
            }
            else
            {
                return null;
            }

            // A field given twice is written twice by the merge, and refused by the reader.
            if ((seen & bit) != 0)
            {
                return null;
            }

            seen |= bit;
            given[n++] = new RecordField(name, text);
        }

        if (!PassesAddressChecks(updated))
        {
            return null;
        }

        written = given;
        return updated;
    }

    /// <summary>Whether a whole record passes every check of <see cref="CheckAddresses"/>, which must say the same.</summary>
    private static bool PassesAddressChecks(LookupRecordConfig r)
    {
        bool wildcardType = r.Type is RecordType.GatewayWildcard or RecordType.L2Only;
        return wildcardType == r.CustomerAddress.IsUnspecified
            && !r.CustomerAddress.IsBroadcastOrMulticast
            && !(wildcardType && r.Rule == TranslationRule.Nat)
            && !r.ProviderAddress.IsUnspecified
            && !r.ProviderAddress.IsBroadcastOrMulticast
            && !(r.Rule == TranslationRule.Nat && r.ProviderAddress.IsV4 != r.CustomerAddress.IsV4);
    }

    private static Draft ReadOne(ConfigObjectReader record, out LookupRecordConfig? config)
    {
        var ca = record.Address("customerAddress", required: true);
        uint? vsid = record.VirtualSubnetId("virtualSubnetId", required: true);
        var mac = record.Mac("macAddress", required: true, unicast: true);
        var pa = record.Address("providerAddress", required: true);
        var rule = record.Choice("rule", Rules, RuleChoices, whenAbsent: TranslationRule.Encap);
        var type = record.Choice("type", Types, TypeChoices, whenAbsent: RecordType.Static);
        string? vmName = record.String("vmName");
        string? customerId = record.String("customerId");
        string? context = record.String("context");

        config = ca is { } c && vsid is { } v && mac is { } m && pa is { } p && rule is { } r && type is { } t
            ? new LookupRecordConfig(c, v, m, p, r, t, vmName, customerId, context)
            : null;
        return new Draft(record, ca, vsid, pa, rule, type, mac);
    }

    /// <summary>Wildcard CA exactly on GatewayWildcard and L2Only records; a real PA; NAT keeps the family and is neither L2Only nor GatewayWildcard (<see cref="PassesAddressChecks"/> says the same of a typed record).</summary>
    private static void CheckAddresses(Draft draft)
    {
        var record = draft.Record;
        if (draft.Ca is { } ca && draft.Type is { } type)
        {
            bool wildcardType = type is RecordType.GatewayWildcard or RecordType.L2Only;
            if (wildcardType && !ca.IsUnspecified)
            {
                record.Report("customerAddress", $"{ca} is not a wildcard; a {type} record has customer address 0.0.0.0 or ::");
            }
            else if (!wildcardType && ca.IsUnspecified)
            {
                record.Report("customerAddress", $"{ca} is the wildcard address, only valid with type GatewayWildcard or L2Only; give the VM's customer address or set one of those types");
            }

            if (ca.IsBroadcastOrMulticast)
            {
                record.Report("customerAddress", $"{ca} is a broadcast or multicast address; HNV's records that send a VSID's broadcast and multicast through a provider multicast group are not supported here: flooding is set per VSID in $.virtualSubnets");
            }

            if (type == RecordType.L2Only && draft.Rule == TranslationRule.Nat)
            {
                record.Report("rule", "an L2Only record cannot use TranslationMethodNat (IP rewrite needs a fixed customer address); use TranslationMethodEncap");
            }
            else if (type == RecordType.GatewayWildcard && draft.Rule == TranslationRule.Nat)
            {
                record.Report("rule", "a GatewayWildcard record cannot use TranslationMethodNat (IP rewrite maps one customer address to its own provider address, and a gateway stands for every address outside the virtual network); use TranslationMethodEncap");
            }
        }

        if (draft.Pa is { } pa && pa.IsUnspecified)
        {
            record.Report("providerAddress", $"{pa} is the unspecified address; give the provider address of the host the VM runs on");
        }
        else if (draft.Pa is { } group && group.IsBroadcastOrMulticast)
        {
            record.Report("providerAddress", $"{group} is a broadcast or multicast address; provider multicast is not supported here: give the provider address of the host the VM runs on (flooding is set per VSID in $.virtualSubnets)");
        }
        else if (draft.Pa is { } natPa && draft.Ca is { } natCa && draft.Rule == TranslationRule.Nat && natPa.IsV4 != natCa.IsV4)
        {
            record.Report("providerAddress", $"{natPa} is {ConfigFamily.Name(natPa)} but the customer address {natCa} is {ConfigFamily.Name(natCa)}; TranslationMethodNat rewrites CA and PA in place, so use a PA of the CA's family");
        }
    }

    private static void CheckUniqueKey(Draft draft, Dictionary<(uint Vsid, IpAddr Ca), string> byKey)
    {
        if (draft.Vsid is not { } vsid || draft.Ca is not { } ca)
        {
            return;
        }

        if (!byKey.TryAdd((vsid, ca), draft.Record.Path))
        {
            draft.Record.Report("customerAddress", string.Create(
                CultureInfo.InvariantCulture,
                $"{ca} in virtual subnet {vsid} is already mapped by {byKey[(vsid, ca)]}; each (virtualSubnetId, customerAddress) appears once"));
        }
    }

    /// <summary>One L2Only record per VM (VSID and MAC) and address family: the VM is found by its MAC.</summary>
    private static void CheckUniqueL2Only(Draft draft, Dictionary<(uint Vsid, MacAddress Mac, IpAddr Ca), string> byKey)
    {
        if (draft.Vsid is not { } vsid || draft.Ca is not { } ca || draft.Mac is not { } mac)
        {
            return;
        }

        if (!byKey.TryAdd((vsid, mac, ca), draft.Record.Path))
        {
            draft.Record.Report("macAddress", string.Create(
                CultureInfo.InvariantCulture,
                $"{mac} in virtual subnet {vsid} already has an L2Only record for {ca} ({byKey[(vsid, mac, ca)]}); give each VM one L2Only record per address family"));
        }
    }

    /// <summary>
    /// One GatewayWildcard record per routing domain and address family: the dataplane finds the
    /// gateway of a domain by it (for addresses without a record, and to vouch for outside
    /// sources), so a second one, in another VSID of the domain, would be silently ignored. Two in
    /// one VSID already collide on their key (<see cref="CheckUniqueKey"/>); a VSID without a
    /// customer route has no routing domain, and its wildcard record serves nothing to collide with.
    /// </summary>
    private static void CheckOneGatewayPerDomain(List<Draft> drafts, IReadOnlyList<CustomerRouteConfig?> routes)
    {
        var domainOf = new Dictionary<uint, Guid>();
        foreach (var route in routes)
        {
            if (route is not null)
            {
                domainOf.TryAdd(route.VirtualSubnetId, route.RoutingDomainId);
            }
        }

        var first = new Dictionary<(Guid Domain, bool V4), Draft>();
        foreach (var draft in drafts)
        {
            if (draft.Type != RecordType.GatewayWildcard || draft.Vsid is not { } vsid || draft.Ca is not { } ca || !domainOf.TryGetValue(vsid, out var domain))
            {
                continue;
            }

            if (!first.TryAdd((domain, ca.IsV4), draft) && first[(domain, ca.IsV4)] is { Vsid: { } otherVsid } other && otherVsid != vsid)
            {
                draft.Record.Report("type", string.Create(
                    CultureInfo.InvariantCulture,
                    $"a second {ConfigFamily.Name(ca)} GatewayWildcard record of routing domain {domain:B}: {other.Record.Path} (virtual subnet {otherVsid}) is already its gateway, here in virtual subnet {vsid}; one gateway per routing domain and address family: remove one, or route through the other's gateway CA"));
            }
        }
    }

    /// <summary>
    /// The gateway addresses of each VSID (<see cref="IpPrefix.TryGetGatewayAddress"/> of its
    /// on-link customer routes), each with the prefix that gives it. The policy editor's record
    /// shadow uses the same set (LookupRecordShadow.cs).
    /// </summary>
    internal static Dictionary<(uint Vsid, IpAddr Address), IpPrefix> GatewayAddresses(IEnumerable<CustomerRouteConfig?> routes)
    {
        var gateways = new Dictionary<(uint, IpAddr), IpPrefix>();
        foreach (var route in routes)
        {
            if (route is { NextHop.IsUnspecified: true } && route.DestinationPrefix.TryGetGatewayAddress(out var gateway))
            {
                gateways.TryAdd((route.VirtualSubnetId, gateway), route.DestinationPrefix);
            }
        }

        return gateways;
    }

    /// <summary>
    /// No record may have a gateway address of its VSID as its CA (SPEC: the dataplane owns it and
    /// answers ARP, neighbor discovery and ping for it; HNV reserves the lowest address of a
    /// virtual subnet the same way): a VM there would be reachable only by frames sent to its MAC.
    /// </summary>
    private static void CheckGatewayAddresses(List<Draft> drafts, IReadOnlyList<CustomerRouteConfig?> routes)
    {
        var gateways = GatewayAddresses(routes);
        if (gateways.Count == 0)
        {
            return;
        }

        foreach (var draft in drafts)
        {
            if (draft.Vsid is { } vsid && draft.Ca is { IsUnspecified: false } ca && gateways.TryGetValue((vsid, ca), out var prefix))
            {
                draft.Record.Report("customerAddress", string.Create(
                    CultureInfo.InvariantCulture,
                    $"{ca} is the gateway address of {prefix} in virtual subnet {vsid} (the lowest address of an on-link customer route), which the dataplane owns and answers for; no VM may have it, as in HNV: give the VM another address of the subnet, or, when the on-link route is the newer change, leave it out"));
            }
        }
    }

    /// <summary>Every TranslationMethodNat CA needs its own PA: no other record may use it.</summary>
    private static void CheckNatProviderAddresses(List<Draft> drafts)
    {
        // The first two records of each PA are enough to name "the other one" for any record.
        var firstTwo = new Dictionary<IpAddr, (Draft First, Draft? Second)>();
        foreach (var draft in drafts)
        {
            if (draft.Pa is { } pa && !pa.IsUnspecified)
            {
                firstTwo[pa] = firstTwo.TryGetValue(pa, out var seen) ? (seen.First, seen.Second ?? draft) : (draft, null);
            }
        }

        foreach (var nat in drafts)
        {
            if (nat.Rule != TranslationRule.Nat || nat.Pa is not { } pa || !firstTwo.TryGetValue(pa, out var sharing) || sharing.Second is null)
            {
                continue;
            }

            var other = ReferenceEquals(sharing.First, nat) ? sharing.Second : sharing.First;
            nat.Record.Report("providerAddress", $"{pa} is also the provider address of {other.Record.Path}; a TranslationMethodNat record needs a PA of its own");
        }
    }
}
