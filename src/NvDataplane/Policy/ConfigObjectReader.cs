using System.Globalization;
using System.Text.Json;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// Reads the fields of one JSON object of the configuration file. Every getter reports what is
/// wrong with its field to the shared <see cref="ConfigProblemList"/> and returns null, so the
/// caller keeps going and every problem of the file is found in one pass. A field given as JSON
/// <c>null</c> counts as absent.
/// </summary>
internal sealed class ConfigObjectReader
{
    private const string MacExample = "a MAC address such as 00-15-5D-00-00-01, 00:15:5d:00:00:01 or 00155D000001";
    private const string AddressExample = "an IPv4 or IPv6 address such as 10.1.1.7 or 2001:db8::7";
    private const string PrefixExample = "a CIDR prefix such as 10.1.1.0/24 or 2001:db8::/64";
    private const string GuidExample = "a GUID such as {11111111-2222-3333-4444-000000000000} (braces optional)";
    private const string VsidRange = "4096..16777214";

    private readonly JsonElement _object;
    private readonly ConfigProblemList _problems;

    private ConfigObjectReader(JsonElement element, string path, ConfigProblemList problems)
    {
        _object = element;
        Path = path;
        _problems = problems;
    }

    /// <summary>JSON path of this object.</summary>
    public string Path { get; }

    /// <summary>A reader over <paramref name="element"/>, or null (reported) when it is not an object.</summary>
    public static ConfigObjectReader? Open(JsonElement element, string path, ConfigProblemList problems, IReadOnlyList<string> fields)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            problems.Add(path, $"expected an object, got {ConfigValueText.Describe(element)}");
            return null;
        }

        var reader = new ConfigObjectReader(element, path, problems);
        reader.CheckFieldNames(fields);
        return reader;
    }

    public string FieldPath(string name) => ConfigJsonPath.Property(Path, name);

    /// <summary>True when the field is present and not null.</summary>
    public bool Has(string name) => _object.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>True when the field is a JSON number (for fields that take a number or a name).</summary>
    public bool IsNumber(string name) => _object.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number;

    /// <summary>Reports a problem with the value of field <paramref name="name"/>.</summary>
    public void Report(string name, string message) => _problems.Add(FieldPath(name), message);

    /// <summary>The object field <paramref name="name"/> read with <paramref name="fields"/>; null when absent or wrong.</summary>
    public ConfigObjectReader? Object(string name, IReadOnlyList<string> fields) =>
        TryGetField(name, required: false, "an object", out var value) ? Open(value, FieldPath(name), _problems, fields) : null;

    /// <summary>Each object of the array field <paramref name="name"/>, read with <paramref name="fields"/>; none when absent.</summary>
    public IEnumerable<ConfigObjectReader> ArrayOfObjects(string name, IReadOnlyList<string> fields)
    {
        foreach (var (item, path) in ArrayItems(name, "an array of objects"))
        {
            var reader = Open(item, path, _problems, fields);
            if (reader is not null)
            {
                yield return reader;
            }
        }
    }

    /// <summary>
    /// Each item of the array field <paramref name="name"/> read as an address, with its JSON
    /// path; null (reported) for an item that is not one. None when the field is absent.
    /// </summary>
    public List<(IpAddr? Address, string Path)> ArrayOfAddresses(string name)
    {
        var items = new List<(IpAddr?, string)>();
        foreach (var (item, path) in ArrayItems(name, "an array of addresses"))
        {
            IpAddr? address = null;
            if (item.ValueKind != JsonValueKind.String)
            {
                _problems.Add(path, $"expected {AddressExample}, got {ConfigValueText.Describe(item)}");
            }
            else if (!IpAddr.TryParse(item.GetString(), out var parsed, out string? why))
            {
                _problems.Add(path, NotAnAddress(item.GetString() ?? "", why));
            }
            else
            {
                address = parsed;
            }

            items.Add((address, path));
        }

        return items;
    }

    public string? String(string name, bool required = false, string expected = "a string")
    {
        if (!TryGetField(name, required, expected, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            WrongType(name, expected, value);
            return null;
        }

        string text = value.GetString()!;
        if (ControlCharacter(text) is { } control)
        {
            // Names and notes are printed (validate, stats, logs): an ESC could rewrite the terminal.
            Report(name, string.Create(CultureInfo.InvariantCulture, $"contains the control character U+{(int)control:X4}; use printable characters"));
            return null;
        }

        return text;
    }

    /// <summary>The first control character (C0, DEL, C1) of <paramref name="text"/>, or null.</summary>
    internal static char? ControlCharacter(string text)
    {
        foreach (char c in text)
        {
            if (char.IsControl(c))
            {
                return c;
            }
        }

        return null;
    }

    public bool? Boolean(string name, bool whenAbsent)
    {
        if (!TryGetField(name, required: false, "true or false", out var value))
        {
            return whenAbsent;
        }

        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            WrongType(name, "true or false", value);
            return null;
        }

        return value.GetBoolean();
    }

    /// <summary>An integer in <paramref name="min"/>..<paramref name="max"/>; <paramref name="whenAbsent"/> when not given.</summary>
    public long? Integer(string name, long min, long max, long? whenAbsent = null, bool required = false)
    {
        string range = string.Create(CultureInfo.InvariantCulture, $"{min}..{max}");
        if (!TryReadInteger(name, required, range, out long? number))
        {
            return null;
        }

        if (number is not { } n)
        {
            return whenAbsent;
        }

        if (n < min || n > max)
        {
            Report(name, string.Create(CultureInfo.InvariantCulture, $"{n} is out of range; use {range}"));
            return null;
        }

        return n;
    }

    /// <summary>A VSID in 4096..16777214; 0..4095 and 16777215 are reserved.</summary>
    public uint? VirtualSubnetId(string name, bool required)
    {
        if (!TryReadInteger(name, required, VsidRange, out long? number) || number is not { } n)
        {
            return null;
        }

        if (n is >= Vsid.Min and <= Vsid.Max)
        {
            return (uint)n;
        }

        bool reserved = n is >= 0 and < Vsid.Min or Vsid.Max + 1;
        string shown = n.ToString(CultureInfo.InvariantCulture);
        Report(name, reserved ? $"{shown} is reserved; use {VsidRange}" : $"{shown} is out of range (a VSID is 24 bits); use {VsidRange}");
        return null;
    }

    /// <summary>A MAC address; with <paramref name="unicast"/>, group (multicast, broadcast) and all-zero MACs are refused.</summary>
    public MacAddress? Mac(string name, bool required, bool unicast, MacAddress? whenAbsent = null)
    {
        if (!Has(name) && !required)
        {
            return whenAbsent;
        }

        string? text = String(name, required, MacExample);
        if (text is null)
        {
            return null;
        }

        if (!MacAddress.TryParse(text, out var mac))
        {
            Report(name, $"{ConfigValueText.Quote(text)} is not a MAC address; use {MacExample}");
            return null;
        }

        string? kind = !unicast ? null : mac.IsBroadcast ? "the broadcast" : mac.IsMulticast ? "a multicast" : mac.IsZero ? "the all-zero" : null;
        if (kind is not null)
        {
            Report(name, $"{text} is {kind} MAC address; use a unicast MAC (low bit of the first byte clear), not all zeros");
            return null;
        }

        return mac;
    }

    public IpAddr? Address(string name, bool required)
    {
        string? text = String(name, required, AddressExample);
        if (text is null)
        {
            return null;
        }

        if (!IpAddr.TryParse(text, out var address, out string? why))
        {
            Report(name, NotAnAddress(text, why));
            return null;
        }

        return address;
    }

    private static string NotAnAddress(string text, string? why) =>
        $"{ConfigValueText.Quote(text)} {why ?? $"is not an IPv4 or IPv6 address; use {AddressExample}"}";

    /// <summary>A CIDR prefix whose host bits are clear.</summary>
    public IpPrefix? Prefix(string name, bool required)
    {
        string? text = String(name, required, PrefixExample);
        if (text is null)
        {
            return null;
        }

        if (!IpPrefix.TryParse(text, out var prefix, out string? error))
        {
            Report(name, error ?? $"{ConfigValueText.Quote(text)} is not {PrefixExample}");
            return null;
        }

        // TryParse succeeded, so the text before the slash is an address.
        if (IpAddr.TryParse(text[..text.IndexOf('/', StringComparison.Ordinal)], out var given) && given != prefix.Address)
        {
            Report(name, $"{ConfigValueText.Quote(text)} has host bits set; use {prefix}");
            return null;
        }

        return prefix;
    }

    public Guid? Guid(string name, bool required)
    {
        string? text = String(name, required, GuidExample);
        if (text is null)
        {
            return null;
        }

        if (!System.Guid.TryParseExact(text, "D", out var guid) && !System.Guid.TryParseExact(text, "B", out guid))
        {
            Report(name, $"{ConfigValueText.Quote(text)} is not a GUID; use {GuidExample}");
            return null;
        }

        return guid;
    }

    /// <summary>One of the named <paramref name="choices"/> (matched ignoring case); <paramref name="whenAbsent"/> when not given.</summary>
    public T? Choice<T>(string name, IReadOnlyDictionary<string, T> choices, string valid, T? whenAbsent = null, bool required = false)
        where T : struct
    {
        if (!Has(name) && !required)
        {
            return whenAbsent;
        }

        string? text = String(name, required, valid);
        if (text is null)
        {
            return null;
        }

        if (!choices.TryGetValue(text, out var choice))
        {
            Report(name, $"{ConfigValueText.Quote(text)} is not valid; use {valid}");
            return null;
        }

        return choice;
    }

    /// <summary>The items of the array field <paramref name="name"/> with their paths; none when absent or not an array (reported).</summary>
    private IEnumerable<(JsonElement Item, string Path)> ArrayItems(string name, string expected)
    {
        if (!TryGetField(name, required: false, expected, out var array))
        {
            yield break;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            WrongType(name, expected, array);
            yield break;
        }

        int index = 0;
        foreach (var item in array.EnumerateArray())
        {
            yield return (item, ConfigJsonPath.Index(FieldPath(name), index++));
        }
    }

    private void CheckFieldNames(IReadOnlyList<string> fields)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in _object.EnumerateObject())
        {
            if (!fields.Contains(property.Name))
            {
                Report(property.Name, ConfigValueText.UnknownField(property.Name, fields));
            }
            else if (!seen.Add(property.Name))
            {
                Report(property.Name, "is given more than once in this object; keep one");
            }
        }
    }

    private bool TryGetField(string name, bool required, string expected, out JsonElement value)
    {
        bool present = _object.TryGetProperty(name, out value);
        if (present && value.ValueKind != JsonValueKind.Null)
        {
            return true;
        }

        if (required)
        {
            Report(name, present ? $"is null but required; give {expected}" : $"is required; give {expected}");
        }

        return false;
    }

    /// <summary>
    /// False when the field is wrong (reported); true with null when absent, true with the
    /// number when it is a JSON integer that fits a long.
    /// </summary>
    private bool TryReadInteger(string name, bool required, string range, out long? number)
    {
        number = null;
        string expected = $"an integer in {range}";
        if (!TryGetField(name, required, expected, out var value))
        {
            return !required;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            WrongType(name, expected, value);
            return false;
        }

        if (!value.TryGetInt64(out long n))
        {
            string raw = value.GetRawText();
            // 5001.0 and 5001e0 are whole numbers that JSON writes another way; 1e999999 is
            // out of range however it is written. A value is echoed to 24 characters at most.
            string shown = raw.Length <= 24 ? raw : $"{raw[..12]}... ({raw.Length} characters)";
            bool written = raw.AsSpan().IndexOfAny(".eE") < 0;
            string why = written || !value.TryGetDouble(out double d) || Math.Abs(d) >= 9.2e18 ? $"{shown} is out of range; use {range}"
                : Math.Floor(d) == d ? $"{shown} is written with a fraction or an exponent; write the integer ({d.ToString("0", CultureInfo.InvariantCulture)}) with digits only"
                : $"{shown} is not an integer; use {range}";
            Report(name, why);
            return false;
        }

        number = n;
        return true;
    }

    private void WrongType(string name, string expected, JsonElement value) =>
        Report(name, $"expected {expected}, got {ConfigValueText.Describe(value)}");
}
