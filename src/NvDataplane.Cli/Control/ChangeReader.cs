using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// Turns request bodies and query strings into <see cref="PolicyChange"/>s, in the configuration
/// file's own JSON shape. A body that is JSON but not a request of the right shape is refused
/// with the JSON path of each problem (<c>$.changes[3].op</c>), before the editor sees anything.
/// The batch path costs one <see cref="PolicyChange"/> per change and nothing else: names are
/// compared as UTF-8 in place, paths are only built for problems.
/// </summary>
internal static class ChangeReader
{
    public const string BatchField = "changes";

    /// <summary>A batch is read no further once this many of its changes are wrong: a body of ten million wrong items must not become ten million problems.</summary>
    public const int MaxProblems = 100;

    private static readonly FieldNames SetFields = new("match", "fields");
    private static readonly FieldNames BatchFields = new(BatchField);
    private static readonly FieldNames BatchItemFields = new("op", "section", "entry", "match", "fields", "entries");

    /// <summary><c>{"match": {...}, "fields": {...}}</c> (PATCH on a section): every matching entry takes the fields.</summary>
    public static PolicyChange? Set(PolicySection section, JsonElement body, List<ConfigProblem> problems)
    {
        var path = ItemPath.Root;
        if (!IsObject(body, path, "an object with match and fields", problems) || !SetFields.Check(body, path, problems))
        {
            return null;
        }

        bool ok = Field(body, path, "match", problems, out var match);
        ok &= Field(body, path, "fields", problems, out var fields);
        return ok ? new PolicyChange.Set(section, match, fields) : null;
    }

    /// <summary>
    /// <c>{"changes": [{"op": "add"|"set"|"remove"|"replace", "section": "lookupRecords", ...}]}</c>:
    /// add takes <c>entry</c>, set <c>match</c> and <c>fields</c>, remove <c>match</c>, replace
    /// <c>entries</c> (the whole section).
    /// </summary>
    public static List<PolicyChange> Batch(JsonElement body, List<ConfigProblem> problems)
    {
        if (!IsObject(body, ItemPath.Root, "an object with a changes array", problems) || !BatchFields.Check(body, ItemPath.Root, problems))
        {
            return [];
        }

        if (!body.TryGetProperty(BatchField, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            problems.Add(new ConfigProblem("$.changes", "give an array of changes, e.g. [{\"op\": \"add\", \"section\": \"lookupRecords\", \"entry\": {...}}]"));
            return [];
        }

        var changes = new List<PolicyChange>(array.GetArrayLength());
        int index = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (problems.Count >= MaxProblems)
            {
                problems.Add(new ConfigProblem("$.changes", $"not read past change {index}: {MaxProblems} problems are listed already; fix those first"));
                break;
            }

            if (BatchItem(item, new ItemPath(index++), problems) is { } change)
            {
                changes.Add(change);
            }
        }

        if (changes.Count == 0 && problems.Count == 0)
        {
            problems.Add(new ConfigProblem("$.changes", "is empty; give at least one change"));
        }

        return changes;
    }

    /// <summary>
    /// A match from the query string (<c>?customerAddress=10.1.1.7&amp;virtualSubnetId=5001</c>), as
    /// a JSON object of strings: the editor compares values by meaning, so <c>"5001"</c> matches 5001.
    /// </summary>
    public static JsonDocument Match(IQueryCollection query, List<ConfigProblem> problems)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, values) in query)
            {
                if (values.Count != 1)
                {
                    problems.Add(new ConfigProblem("$." + name, $"is given {values.Count} times; give each filter once"));
                    continue;
                }

                json.WriteString(name, values[0]);
            }

            json.WriteEndObject();
        }

        return JsonDocument.Parse(buffer.WrittenMemory);
    }

    private static PolicyChange? BatchItem(JsonElement item, ItemPath path, List<ConfigProblem> problems)
    {
        if (!IsObject(item, path, "a change object with op and section", problems) || !BatchItemFields.Check(item, path, problems))
        {
            return null;
        }

        var section = Section(item, path, problems);
        if (!item.TryGetProperty("op"u8, out var op) || op.ValueKind != JsonValueKind.String)
        {
            problems.Add(new ConfigProblem(path + ".op", "give the operation: add, set, remove or replace"));
            return null;
        }

        if (section is not { } s)
        {
            return null;
        }

        if (op.ValueEquals("add"u8))
        {
            return Field(item, path, "entry", problems, out var entry) ? new PolicyChange.Add(s, entry) : null;
        }

        if (op.ValueEquals("remove"u8))
        {
            return Field(item, path, "match", problems, out var match) ? new PolicyChange.Remove(s, match) : null;
        }

        if (op.ValueEquals("set"u8))
        {
            bool ok = Field(item, path, "match", problems, out var match);
            ok &= Field(item, path, "fields", problems, out var fields);
            return ok ? new PolicyChange.Set(s, match, fields) : null;
        }

        if (op.ValueEquals("replace"u8))
        {
            if (!item.TryGetProperty("entries"u8, out var entries) || entries.ValueKind != JsonValueKind.Array)
            {
                problems.Add(new ConfigProblem(path + ".entries", "give the section's new entries as an array"));
                return null;
            }

            return new PolicyChange.Replace(s, [.. entries.EnumerateArray()]);
        }

        problems.Add(new ConfigProblem(path + ".op", $"\"{op.GetString()}\" is not an operation; use add, set, remove or replace"));
        return null;
    }

    private static PolicySection? Section(JsonElement item, ItemPath path, List<ConfigProblem> problems)
    {
        if (item.TryGetProperty("section"u8, out var name) && name.ValueKind == JsonValueKind.String)
        {
            foreach (var section in PolicySections.All)
            {
                if (name.ValueEquals(PolicySections.JsonName(section)))
                {
                    return section;
                }
            }
        }

        problems.Add(new ConfigProblem(path + ".section", $"give the section the change is for: {string.Join(", ", PolicySections.All.Select(PolicySections.JsonName))}"));
        return null;
    }

    /// <summary>The object field <paramref name="name"/> (<c>entry</c>, <c>match</c>, <c>fields</c>).</summary>
    private static bool Field(JsonElement item, ItemPath path, string name, List<ConfigProblem> problems, out JsonElement value)
    {
        if (item.TryGetProperty(name, out value) && value.ValueKind == JsonValueKind.Object)
        {
            return true;
        }

        problems.Add(new ConfigProblem(path + "." + name, name switch
        {
            "entry" => "give the entry as an object with the fields of the section's entries (SPEC section 2)",
            "match" => "give an object naming the fields that select the entries",
            _ => "give an object with the fields to set",
        }));
        return false;
    }

    private static bool IsObject(JsonElement value, ItemPath path, string expected, List<ConfigProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Object)
        {
            return true;
        }

        problems.Add(new ConfigProblem(path.ToString(), $"expected {expected}, got {value.ValueKind.ToString().ToLowerInvariant()}"));
        return false;
    }

    /// <summary>Where a change stands in the request (<c>$</c> or <c>$.changes[3]</c>), spelled out only for a problem.</summary>
    private readonly record struct ItemPath(int Index)
    {
        public static readonly ItemPath Root = new(-1);

        public static string operator +(ItemPath path, string suffix) => path.ToString() + suffix;

        public override string ToString() => Index < 0 ? "$" : string.Create(CultureInfo.InvariantCulture, $"$.changes[{Index}]");
    }

    /// <summary>The fields an object of a request may have, compared as UTF-8 without allocating.</summary>
    private sealed class FieldNames(params string[] names)
    {
        private readonly byte[][] _utf8 = [.. names.Select(System.Text.Encoding.UTF8.GetBytes)];

        public bool Check(JsonElement value, ItemPath path, List<ConfigProblem> problems)
        {
            int before = problems.Count;
            foreach (var property in value.EnumerateObject())
            {
                if (!Known(property))
                {
                    problems.Add(new ConfigProblem(path + "." + property.Name, $"is not a field here; use {string.Join(", ", names)}"));
                }
            }

            return problems.Count == before;
        }

        private bool Known(JsonProperty property)
        {
            foreach (byte[] name in _utf8)
            {
                if (property.NameEquals(name))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
