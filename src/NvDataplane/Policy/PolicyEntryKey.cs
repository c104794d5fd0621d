using System.Buffers;
using System.Globalization;
using System.Text.Json;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// How the policy editor names and compares the entries of a section: each entry's key (what
/// makes it unique: (VSID, CA) for a lookup record, (RDID, VSID, prefix, next hop) for a
/// customer route, the address for a PA, (prefix, next hop) for a provider route), and field
/// values compared by meaning (<c>10.1.1.07</c>-style spellings aside, <c>00:15:5d:…</c> equals
/// <c>00-15-5D-…</c>, <c>Encap</c> equals <c>TranslationMethodEncap</c>, an absent field equals
/// its default).
/// </summary>
internal static class PolicyEntryKey
{
    private static readonly Dictionary<PolicySection, string[]> SectionFields = new()
    {
        [PolicySection.LookupRecords] = ["customerAddress", "virtualSubnetId", "macAddress", "providerAddress", "rule", "type", "vmName", "customerId", "context"],
        [PolicySection.CustomerRoutes] = ["routingDomainId", "virtualSubnetId", "destinationPrefix", "nextHop", "metric"],
        [PolicySection.ProviderAddresses] = ["address", "prefixLength", "vlanId", "port"],
        [PolicySection.ProviderRoutes] = ["destinationPrefix", "nextHop", "metric"],
    };

    private static readonly Dictionary<PolicySection, string[]> KeyFields = new()
    {
        [PolicySection.LookupRecords] = ["virtualSubnetId", "customerAddress"],
        [PolicySection.CustomerRoutes] = ["routingDomainId", "virtualSubnetId", "destinationPrefix", "nextHop"],
        [PolicySection.ProviderAddresses] = ["address"],
        [PolicySection.ProviderRoutes] = ["destinationPrefix", "nextHop"],
    };

    /// <summary>Values an absent field has (SPEC section 2), so a match on them finds entries that leave them out.</summary>
    private static readonly Dictionary<(PolicySection, string), string> Defaults = new()
    {
        [(PolicySection.LookupRecords, "rule")] = "ENCAP",
        [(PolicySection.LookupRecords, "type")] = "STATIC",
        [(PolicySection.CustomerRoutes, "metric")] = "255",
        [(PolicySection.ProviderAddresses, "vlanId")] = "0",
        [(PolicySection.ProviderRoutes, "metric")] = "0",
    };

    public static IReadOnlyList<string> Fields(PolicySection section) => SectionFields[section];

    /// <summary>Whether the property's name is one of <paramref name="names"/>, compared as UTF-8 without making a string.</summary>
    public static bool NameEquals(this JsonProperty property, IReadOnlyList<string> names)
    {
        foreach (string n in names)
        {
            if (property.NameEquals(n))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The entry's key. L2Only records share the wildcard CA, so theirs adds the MAC; an entry
    /// too broken to have a key gets its own text, and validation says what is wrong with it.
    /// </summary>
    public static string Of(PolicySection section, JsonElement entry)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            return "invalid:" + entry.GetRawText();
        }

        string key = string.Join('|', KeyFields[section].Select(f => Value(section, entry, f) ?? "?"));
        if (section == PolicySection.LookupRecords && Value(section, entry, "type") == "L2ONLY")
        {
            key += "|" + (Value(section, entry, "macAddress") ?? "?");
        }

        return key.Contains('?', StringComparison.Ordinal) ? "invalid:" + entry.GetRawText() : key;
    }

    /// <summary>The key a match names when it gives every key field (and is not the wildcard CA, shared by L2Only records).</summary>
    public static bool TryOfMatch(PolicySection section, JsonElement match, out string key)
    {
        key = "";
        var values = new List<string>();
        foreach (var f in KeyFields[section])
        {
            if (!match.TryGetProperty(f, out _) || Value(section, match, f) is not { } v)
            {
                return false;
            }

            values.Add(v);
        }

        if (section == PolicySection.LookupRecords && (values[1] == "0.0.0.0" || values[1] == "::"))
        {
            return false;
        }

        key = string.Join('|', values);
        return true;
    }

    /// <summary>
    /// The (VSID, CA) of a lookup-record match that names exactly those two fields, the VSID as
    /// a JSON integer and the CA as an address other than the wildcard: the key
    /// <see cref="TryOfMatch"/> makes of it, typed. False for any other match.
    /// </summary>
    public static bool TryOfRecordMatch(JsonElement match, out uint vsid, out IpAddr ca)
    {
        vsid = 0;
        ca = default;
        if (match.ValueKind != JsonValueKind.Object || match.GetPropertyCount() != 2
            || !match.TryGetProperty("virtualSubnetId"u8, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetUInt32(out vsid)
            || !match.TryGetProperty("customerAddress"u8, out var c) || c.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        return ConfigStringCheck.TryGetString(c, out string text) && IpAddr.TryParse(text, out ca) && !ca.IsUnspecified;
    }

    /// <summary>Whether <paramref name="match"/> names the key's fields and nothing else (<see cref="TryOfMatch"/> having found them all).</summary>
    public static bool IsKeyOnly(PolicySection section, JsonElement match)
    {
        int count = 0;
        foreach (var _ in match.EnumerateObject())
        {
            count++;
        }

        return count == KeyFields[section].Length;
    }

    /// <summary>Whether setting <paramref name="fields"/> can change an entry's key (its key fields, or what makes a lookup record L2Only).</summary>
    public static bool Touches(PolicySection section, JsonElement fields)
    {
        foreach (var field in fields.EnumerateObject())
        {
            if (Array.IndexOf(KeyFields[section], field.Name) >= 0
                || (section == PolicySection.LookupRecords && field.Name is "type" or "macAddress"))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether every field <paramref name="match"/> names has the same value in <paramref name="entry"/>.</summary>
    public static bool Matches(PolicySection section, JsonElement entry, JsonElement match)
    {
        foreach (var field in match.EnumerateObject())
        {
            if (Value(section, entry, field.Name) != Canonical(field.Name, field.Value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The entry with <paramref name="fields"/> written over it; a field set to null is removed (JSON merge patch).</summary>
    public static JsonElement Merge(JsonElement entry, JsonElement fields)
    {
        var writer = StartMerge();
        foreach (var p in entry.EnumerateObject())
        {
            if (!fields.TryGetProperty(p.Name, out _))
            {
                p.WriteTo(writer);
            }
        }

        foreach (var p in fields.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Null)
            {
                p.WriteTo(writer);
            }
        }

        return EndMerge(writer);
    }

    /// <summary>The entry with string <paramref name="fields"/> written over it, as <see cref="Merge(JsonElement, JsonElement)"/> writes the same fields given as JSON.</summary>
    public static JsonElement Merge(JsonElement entry, RecordField[] fields)
    {
        var writer = StartMerge();
        foreach (var p in entry.EnumerateObject())
        {
            if (Array.FindIndex(fields, f => p.NameEquals(f.Name)) < 0)
            {
                p.WriteTo(writer);
            }
        }

        foreach (var f in fields)
        {
            writer.WriteString(f.Name, f.Value);
        }

        return EndMerge(writer);
    }

    // One buffer and writer per thread (the editor's committer): a merge costs one parse, no clone.
    private static Utf8JsonWriter StartMerge()
    {
        var buffer = t_mergeBuffer ??= new ArrayBufferWriter<byte>(512);
        buffer.ResetWrittenCount();
        var writer = t_mergeWriter ??= new Utf8JsonWriter(buffer);
        writer.Reset(buffer);
        writer.WriteStartObject();
        return writer;
    }

    private static JsonElement EndMerge(Utf8JsonWriter writer)
    {
        writer.WriteEndObject();
        writer.Flush();
        var reader = new Utf8JsonReader(t_mergeBuffer!.WrittenSpan);
        return JsonElement.ParseValue(ref reader);
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_mergeBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_mergeWriter;

    /// <summary>The entry's key fields as an operator reads them, e.g. <c>(virtualSubnetId 5001, customerAddress 10.1.1.7)</c>.</summary>
    public static string Describe(PolicySection section, JsonElement entry) =>
        "(" + string.Join(", ", KeyFields[section].Select(f => $"{f} {(entry.TryGetProperty(f, out var v) ? Text(v) : "(none)")}")) + ")";

    private static string Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();

    /// <summary>The field's value in comparable form (its default when absent); null when absent without default.</summary>
    private static string? Value(PolicySection section, JsonElement entry, string field) =>
        entry.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null
            ? Canonical(field, v)
            : Defaults.GetValueOrDefault((section, field));

    /// <summary>Why <paramref name="text"/> can be no value of <paramref name="field"/> (an address that is none, a VSID that is no number), or null.</summary>
    public static string? BadMatchValue(string field, string text) => field switch
    {
        "customerAddress" or "providerAddress" or "address" or "nextHop" when !IpAddr.TryParse(text, out _, out string? why) => $"\"{text}\" {why ?? "is not an IP address"}",
        "destinationPrefix" when !IpPrefix.TryParse(text, out _, out _) => $"\"{text}\" is not a prefix such as 10.1.1.0/24",
        "macAddress" when !MacAddress.TryParse(text, out _) => $"\"{text}\" is not a MAC address such as 00-15-5D-00-00-01",
        "routingDomainId" when !Guid.TryParse(text, out _) => $"\"{text}\" is not a GUID",
        "virtualSubnetId" or "metric" or "prefixLength" or "vlanId" when !uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _) => $"\"{text}\" is not a whole number",
        "rule" when !ConfigLookupRecordReader.IsRule(text) => $"\"{text}\" is not a rule: Encap or Nat (TranslationMethodEncap, TranslationMethodNat)",
        "type" when !ConfigLookupRecordReader.IsType(text) => $"\"{text}\" is not a record type: Static, Dynamic, L2Only or GatewayWildcard",
        _ => null,
    };

    private static string Canonical(string field, JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            return value.TryGetDecimal(out decimal d) ? d.ToString(CultureInfo.InvariantCulture) : value.GetRawText();
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            return value.GetRawText();
        }

        string text = value.GetString()!;
        switch (field)
        {
            case "customerAddress" or "providerAddress" or "address" or "nextHop" when IpAddr.TryParse(text, out var a):
                return a.ToString();
            case "destinationPrefix" when IpPrefix.TryParse(text, out var p, out _):
                return p.ToString();
            case "macAddress" when MacAddress.TryParse(text, out var m):
                return m.ToString();
            case "routingDomainId" when Guid.TryParse(text, out var g):
                return g.ToString("D");
            case "rule" when text.StartsWith("TranslationMethod", StringComparison.OrdinalIgnoreCase):
                return text["TranslationMethod".Length..].ToUpperInvariant();
            default:
                return text.ToUpperInvariant();
        }
    }
}
