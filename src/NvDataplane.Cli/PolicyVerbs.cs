using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Policy;
using Spectre.Console;

namespace NvDataplane.Cli;

/// <summary>What a policy field is to the verbs: it selects the entries <c>set</c> changes, and/or <c>add</c> needs it.</summary>
[Flags]
internal enum FieldUse
{
    None = 0,
    Selects = 1,
    Required = 2,
}

/// <summary>One field of a section's entries as a command-line option: <c>customerAddress</c> is <c>--customer-address</c>.</summary>
internal sealed record PolicyField(string Json, string Description, FieldUse Use = FieldUse.None, bool Number = false)
{
    public string Option { get; init; } = "--" + ControlApi.Kebab(Json);
}

/// <summary>
/// The four verbs of a policy section, as the HNV cmdlets have them (Get-, New-, Set-, Remove-):
/// <c>list</c> filters by any field, <c>add</c> gives an entry (the fields HNV requires are
/// required), <c>set</c> selects by the section's selecting fields and sets the others it is
/// given, <c>remove</c> removes every entry its filters match (at least one filter). Each sends
/// one request to the daemon's control API and prints its answer (text, or <c>--format json</c>).
/// </summary>
internal static class PolicyVerbs
{
    public static Command Build(string name, string description, PolicySection section, IReadOnlyList<PolicyField> fields, TextWriter stdout, TextWriter stderr)
    {
        var command = new Command(name, description);
        string entry = PolicySections.EntryName(section);
        command.Subcommands.Add(Verb("list", $"the {Plural(entry, 2)}, filtered by any of the options", section, fields, stdout, stderr, FieldUse.None, (client, values) =>
            client(HttpMethod.Get, ControlApi.PathOf(section) + Query(values), null, root => PrintList(Terminal.Create(stdout, redirectedWidth: 240), section, fields, root))));
        command.Subcommands.Add(Verb("add", $"adds a {entry}", section, fields, stdout, stderr, FieldUse.Required, (client, values) =>
            client(HttpMethod.Post, ControlApi.PathOf(section), Json(w => WriteFields(w, fields, values, _ => true)), root => PrintChange(stdout, section, "added", root))));
        command.Subcommands.Add(Verb("set", $"sets fields of the {Plural(entry, 2)} that {string.Join(" and ", fields.Where(f => f.Use.HasFlag(FieldUse.Selects)).Select(f => f.Option))} select", section, fields, stdout, stderr, FieldUse.Selects, (client, values) =>
        {
            if (!fields.Any(f => !f.Use.HasFlag(FieldUse.Selects) && values.ContainsKey(f.Json)))
            {
                stderr.WriteLine($"nvdp: give a field to set: {string.Join(", ", fields.Where(f => !f.Use.HasFlag(FieldUse.Selects)).Select(f => f.Option))}");
                return Program.ExitUsage;
            }

            string body = Json(w =>
            {
                w.WriteStartObject("match");
                WriteFields(w, fields, values, f => f.Use.HasFlag(FieldUse.Selects));
                w.WriteEndObject();
                w.WriteStartObject("fields");
                WriteFields(w, fields, values, f => !f.Use.HasFlag(FieldUse.Selects));
                w.WriteEndObject();
            });
            return client(HttpMethod.Patch, ControlApi.PathOf(section), body, root => PrintChange(stdout, section, "set", root));
        }));
        command.Subcommands.Add(Verb("remove", $"removes every {entry} the options match (give at least one)", section, fields, stdout, stderr, FieldUse.None, (client, values) =>
        {
            if (values.Count == 0)
            {
                stderr.WriteLine($"nvdp: give at least one of {string.Join(", ", fields.Select(f => f.Option))} to say which {Plural(entry, 2)} to remove");
                return Program.ExitUsage;
            }

            return client(HttpMethod.Delete, ControlApi.PathOf(section) + Query(values), null, root => PrintChange(stdout, section, "removed", root));
        }));
        return command;
    }

    private delegate int Client(HttpMethod method, string pathAndQuery, string? json, Action<JsonElement> print);

    /// <summary>A verb with one option per field (<paramref name="required"/>: the fields it cannot do without) and the daemon options.</summary>
    private static Command Verb(string name, string description, PolicySection section, IReadOnlyList<PolicyField> fields, TextWriter stdout, TextWriter stderr, FieldUse required, Func<Client, Dictionary<string, string>, int> run)
    {
        var command = new Command(name, description);
        var options = fields.Select(f => new Option<string?>(f.Option)
        {
            Description = f.Description,
            Required = required != FieldUse.None && f.Use.HasFlag(required),
        }).ToList();
        options.ForEach(command.Options.Add);
        var daemon = new ControlVerbOptions();
        daemon.AddTo(command);
        command.SetAction(parse =>
        {
            var values = new Dictionary<string, string>();
            for (int i = 0; i < fields.Count; i++)
            {
                if (parse.GetValue(options[i]) is not { } value)
                {
                    continue;
                }

                if (fields[i].Number && !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    stderr.WriteLine($"nvdp: {fields[i].Option} {value}: give a whole number");
                    return Program.ExitUsage;
                }

                values[fields[i].Json] = value;
            }

            return run((method, path, json, print) => daemon.Send(parse, stdout, stderr, method, path, json, print), values);
        });
        return command;
    }

    private static string Query(Dictionary<string, string> values) =>
        values.Count == 0 ? "" : "?" + string.Join('&', values.Select(v => Uri.EscapeDataString(v.Key) + "=" + Uri.EscapeDataString(v.Value)));

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The given fields <paramref name="which"/> selects, numbers as JSON numbers, in the file's field names.</summary>
    private static void WriteFields(Utf8JsonWriter writer, IReadOnlyList<PolicyField> fields, Dictionary<string, string> values, Func<PolicyField, bool> which)
    {
        foreach (var f in fields.Where(f => which(f) && values.ContainsKey(f.Json)))
        {
            if (f.Number)
            {
                writer.WriteNumber(f.Json, long.Parse(values[f.Json], CultureInfo.InvariantCulture));
            }
            else
            {
                writer.WriteString(f.Json, values[f.Json]);
            }
        }
    }

    private static void PrintList(IAnsiConsole console, PolicySection section, IReadOnlyList<PolicyField> fields, JsonElement root)
    {
        var entries = root.GetProperty(PolicySections.JsonName(section));
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var f in fields)
        {
            table.AddColumn(f.Json);
        }

        foreach (var e in entries.EnumerateArray())
        {
            table.AddRow([.. fields.Select(f => Markup.Escape(e.TryGetProperty(f.Json, out var v) ? (v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()) : ""))]);
        }

        console.Write(table);
        console.WriteLine($"{Count(entries.GetArrayLength(), section)} (policy version {root.GetProperty("version").GetInt64()})");
    }

    private static void PrintChange(TextWriter stdout, PolicySection section, string what, JsonElement root)
    {
        stdout.WriteLine($"policy version {root.GetProperty("version").GetInt64()}: {Count(root.GetProperty("affected").GetInt64(), section)} {what}");
    }

    private static string Count(long n, PolicySection section) => $"{n} {Plural(PolicySections.EntryName(section), n)}";

    private static string Plural(string name, long n) => n == 1 ? name : name.EndsWith('s') ? name + "es" : name + "s";
}
