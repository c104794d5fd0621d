using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>lookupRecords</c>, (VSID, CA) → (MAC, PA, rule, type), and checks them against each
/// other: one record per (VSID, CA), a NAT record's PA is its own, wildcard CAs only on
/// GatewayWildcard records.
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

    /// <summary>A record as far as it could be read, for the checks across records.</summary>
    private sealed record Draft(ConfigObjectReader Record, IpAddr? Ca, uint? Vsid, IpAddr? Pa, TranslationRule? Rule, RecordType? Type);

    public static List<LookupRecordConfig?> Read(ConfigObjectReader root, ConfigProblemList problems)
    {
        var configs = new List<LookupRecordConfig?>();
        var drafts = new List<Draft>();
        var byKey = new Dictionary<(uint Vsid, IpAddr Ca), string>();
        foreach (var record in root.ArrayOfObjects("lookupRecords", Fields))
        {
            int before = problems.Count;
            var draft = ReadOne(record, out var config);
            CheckAddresses(draft);
            CheckUniqueKey(draft, byKey);
            drafts.Add(draft);
            configs.Add(problems.Count == before ? config : null);
        }

        CheckNatProviderAddresses(drafts);
        return configs;
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
        return new Draft(record, ca, vsid, pa, rule, type);
    }

    /// <summary>Wildcard CA exactly on GatewayWildcard records; a real PA; NAT keeps the family.</summary>
    private static void CheckAddresses(Draft draft)
    {
        var record = draft.Record;
        if (draft.Ca is { } ca && draft.Type is { } type)
        {
            if (type == RecordType.GatewayWildcard && !ca.IsUnspecified)
            {
                record.Report("customerAddress", $"{ca} is not a wildcard; a GatewayWildcard record has customer address 0.0.0.0 or ::");
            }
            else if (type != RecordType.GatewayWildcard && ca.IsUnspecified)
            {
                record.Report("customerAddress", $"{ca} is the wildcard address, only valid with type GatewayWildcard; give the VM's customer address or set type GatewayWildcard");
            }
        }

        if (draft.Pa is { } pa && pa.IsUnspecified)
        {
            record.Report("providerAddress", $"{pa} is the unspecified address; give the provider address of the host the VM runs on");
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
