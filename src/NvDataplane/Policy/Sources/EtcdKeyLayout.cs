using System.Globalization;
using System.Text;
using System.Text.Json;
using NvDataplane.Headers;

namespace NvDataplane.Policy.Sources;

/// <summary>
/// Where the policy lives under the prefix of <c>policySource</c>, one etcd key per entry, each
/// value the entry's JSON object exactly as in the file (SPEC section 2):
/// <code>
/// PREFIX/lookupRecords/VSID/CA        a lookup record (customerAddress CA, virtualSubnetId VSID)
/// PREFIX/lookupRecords/VSID/CA/MAC    an L2Only record (they share the wildcard CA; one per VM MAC)
/// PREFIX/customerRoutes/NAME          a customer route; NAME is the operator's, one key segment
/// </code>
/// A record's key names what makes it unique, so moving a VM to another host is one put of its
/// key with the new <c>providerAddress</c>. The key and the value must agree (VSID, CA, and the
/// MAC of an L2Only record); any other key under the prefix is refused, as is a value that is
/// not a JSON object.
/// </summary>
public static class EtcdKeyLayout
{
    private const string Records = "lookupRecords";
    private const string Routes = "customerRoutes";
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The key of the lookup record for (<paramref name="vsid"/>, <paramref name="customerAddress"/>); an L2Only record adds its <paramref name="mac"/>.</summary>
    public static string LookupRecordKey(string prefix, uint vsid, string customerAddress, string? mac = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}/{Records}/{vsid}/{customerAddress}") + (mac is null ? "" : "/" + mac);

    /// <summary>The key of the customer route named <paramref name="name"/>.</summary>
    public static string CustomerRouteKey(string prefix, string name) => $"{prefix}/{Routes}/{name}";

    /// <summary>
    /// What the value of <paramref name="key"/> (a key under <paramref name="prefix"/>) is: the
    /// entry of its section, or the problem that keeps it out of the policy. Validation of the
    /// entry's fields is left to the editor, which sees the whole candidate policy.
    /// </summary>
    public static EtcdEntry Parse(string prefix, string key, ReadOnlySpan<byte> value)
    {
        string[] segments = key.Length > prefix.Length + 1 ? key[(prefix.Length + 1)..].Split('/') : [""];
        PolicySection? section = segments switch
        {
            [Records, _, _] or [Records, _, _, _] => PolicySection.LookupRecords,
            [Routes, { Length: > 0 }] => PolicySection.CustomerRoutes,
            _ => null,
        };
        if (section is not { } s)
        {
            return EtcdEntry.Refused(null, $"the key is outside the layout; use {prefix}/{Records}/VSID/CA (an L2Only record {prefix}/{Records}/VSID/CA/MAC) or {prefix}/{Routes}/NAME");
        }

        JsonElement entry;
        try
        {
            using var document = JsonDocument.Parse(StrictUtf8.GetString(value), ConfigLoader.ParseOptions);
            entry = document.RootElement.Clone();
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            return EtcdEntry.Refused(s, e is JsonException j
                ? $"the value is not JSON (byte {(j.BytePositionInLine ?? 0) + 1} of line {(j.LineNumber ?? 0) + 1}); write the {PolicySections.EntryName(s)} as a JSON object with the fields of $.{PolicySections.JsonName(s)}[]"
                : "the value is not UTF-8 text; write a JSON object");
        }

        if (entry.ValueKind != JsonValueKind.Object)
        {
            return EtcdEntry.Refused(s, $"the value is {ConfigValueText.Describe(entry)}; a {PolicySections.EntryName(s)} is a JSON object with the fields of $.{PolicySections.JsonName(s)}[]");
        }

        string? problem = s == PolicySection.LookupRecords ? RecordDisagrees(segments, entry) : null;
        return problem is null ? new EtcdEntry(s, entry, null) : EtcdEntry.Refused(s, problem);
    }

    /// <summary>Why a record's value does not belong under its key (VSID, CA, L2Only MAC); null when it does.</summary>
    private static string? RecordDisagrees(string[] segments, JsonElement record)
    {
        if (!uint.TryParse(segments[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint vsid))
        {
            return $"the key's VSID segment \"{segments[1]}\" is not a number; use {Records}/VSID/CA";
        }

        if (!IpAddr.TryParse(segments[2], out var ca))
        {
            return $"the key's CA segment \"{segments[2]}\" is not an IP address; use {Records}/VSID/CA";
        }

        if (record.TryGetProperty("virtualSubnetId", out var v) && v.ValueKind == JsonValueKind.Number && (!v.TryGetUInt32(out uint given) || given != vsid))
        {
            return $"the value's virtualSubnetId {v.GetRawText()} is not the key's VSID {vsid}; a record lives under {Records}/ITS-VSID/ITS-CA";
        }

        if (record.TryGetProperty("customerAddress", out var c) && c.ValueKind == JsonValueKind.String && IpAddr.TryParse(c.GetString(), out var givenCa) && givenCa != ca)
        {
            return $"the value's customerAddress {givenCa} is not the key's CA {ca}; a record lives under {Records}/ITS-VSID/ITS-CA";
        }

        bool l2Only = record.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && string.Equals(t.GetString(), "L2Only", StringComparison.OrdinalIgnoreCase);
        if (!l2Only)
        {
            return segments.Length == 4 ? $"only an L2Only record takes a MAC segment after its CA; use {Records}/VSID/CA" : null;
        }

        if (segments.Length != 4)
        {
            return $"an L2Only record shares its wildcard CA with the VSID's other L2Only records, so its key ends with its MAC: {Records}/VSID/CA/MAC";
        }

        bool sameMac = record.TryGetProperty("macAddress", out var m) && m.ValueKind == JsonValueKind.String
            && MacAddress.TryParse(m.GetString(), out var mac) && MacAddress.TryParse(segments[3], out var keyMac) && mac == keyMac;
        return sameMac ? null : $"the key's MAC segment \"{segments[3]}\" is not the value's macAddress; an L2Only record lives under {Records}/VSID/CA/ITS-MAC";
    }
}

/// <summary>What one etcd key holds: an entry of <paramref name="Section"/>, or a <paramref name="Problem"/> that keeps it out of the policy.</summary>
public sealed record EtcdEntry(PolicySection? Section, JsonElement Entry, string? Problem)
{
    public static EtcdEntry Refused(PolicySection? section, string problem) => new(section, default, problem);
}
