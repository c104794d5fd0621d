using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NvDataplane.Io;
using NvDataplane.Policy;
using NvDataplane.Policy.Import;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp import-ps FILE.ps1 [--out FILE.json] [--format json]</c>: the New-NetVirtualization*
/// commands of a Windows provisioning script as a configuration file (HnvScriptImporter). The
/// configuration goes to <c>--out</c> or stdout; what could not be imported, by
/// <c>FILE:LINE: message</c>, and notes go to stderr. Exit 0 when every command was imported,
/// 2 when anything was not (what could be is written all the same, so every problem shows in one
/// run), or on bad usage; 1 when the output cannot be written.
/// </summary>
internal static class ImportPsCommand
{
    /// <summary>
    /// The largest script read: about 150,000 records' cmdlets. Reading one takes some 60 times
    /// its size in memory (the parsed commands, the draft, the document).
    /// </summary>
    private const int MaxScriptBytes = 32 * 1024 * 1024;

    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var script = new Argument<string>("script") { Description = "the PowerShell provisioning script (.ps1) to read; it is read, never run" };
        var output = new Option<string>("--out", "-o") { Description = "write the configuration to this file instead of stdout" }.NotEmpty().NotAFolder();
        var format = Program.FormatOption("text (default) or json: one object with the problems, notes and the configuration");
        var cmd = new Command("import-ps", "turn the New-NetVirtualization* commands of an HNV PowerShell script into a configuration file; exit 2 if anything could not be imported")
        {
            script,
            output,
            format,
        };
        cmd.SetAction(parse => Run(parse.GetValue(script)!, parse.GetValue(output), parse.GetValue(format) == "json", stdout, stderr));
        return cmd;
    }

    private static int Run(string path, string? outPath, bool json, TextWriter stdout, TextWriter stderr)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            stderr.WriteLine($"nvdp: {path}: no such file");
            return Program.ExitUsage;
        }

        // Compared as files (the script exists, checked above): another spelling or a link is the same script.
        if (outPath is not null && FileIdentity.Same(outPath, path))
        {
            stderr.WriteLine($"nvdp: --out {outPath} is the script being imported ({path}); write the configuration to another file");
            return Program.ExitUsage;
        }

        string text;
        try
        {
            text = TextFile.Read(path, MaxScriptBytes);
        }
        catch (InvalidDataException e)
        {
            stderr.WriteLine($"nvdp: {e.Message}");
            return Program.ExitUsage;
        }

        var result = HnvScriptImporter.Import(text, Path.GetFileNameWithoutExtension(path));
        string config = ConfigWriter.Write(result.Config);
        if (outPath is not null)
        {
            try
            {
                File.WriteAllText(outPath, config);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"nvdp: --out {outPath}: cannot write the configuration: {e.Message}");
                return Program.ExitFailure;
            }
        }

        if (json)
        {
            WriteJson(path, outPath, result, config, stdout);
        }
        else
        {
            WriteText(path, outPath, result, config, stdout, stderr);
        }

        return result.Complete ? Program.ExitOk : Program.ExitUsage;
    }

    private static void WriteText(string path, string? outPath, HnvImportResult result, string config, TextWriter stdout, TextWriter stderr)
    {
        var messages = result.Problems.Select(p => (p.Line, Text: p.Message))
            .Concat(result.Notes.Select(n => (n.Line, Text: "note: " + n.Message)))
            .OrderBy(m => m.Line);
        foreach (var (line, text) in messages)
        {
            stderr.WriteLine(line > 0 ? $"{path}:{line}: {text}" : $"{path}: {text}");
        }

        if (result.Skipped.Count != 0)
        {
            var names = result.Skipped.Select(s => s.Count == 1
                ? string.Create(CultureInfo.InvariantCulture, $"{s.Name} (line {s.FirstLine})")
                : string.Create(CultureInfo.InvariantCulture, $"{s.Name} (line {s.FirstLine}, {s.Count} times)"));
            int skipped = result.Skipped.Sum(s => s.Count);
            string what = skipped == 1 ? "command that is not a Net-Virtualization cmdlet" : "commands that are not Net-Virtualization cmdlets";
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path}: note: skipped {skipped} {what}: {string.Join(", ", names)}"));
        }

        var c = result.Config;
        string summary = $"{path}: imported {Count(c.ProviderAddresses.Count, "provider address", "provider addresses")}, {Count(c.ProviderRoutes.Count, "provider route", "provider routes")}, "
            + $"{Count(c.LookupRecords.Count, "lookup record", "lookup records")}, {Count(c.CustomerRoutes.Count, "customer route", "customer routes")} and {Count(c.Ports.Count, "port", "ports")}"
            + (outPath is null ? string.Empty : $" into {outPath}")
            + (result.Complete ? "; complete" : $"; {Count(result.Problems.Count, "problem", "problems")}, see above");
        if (outPath is null)
        {
            stdout.Write(config);
            stderr.WriteLine(summary);
        }
        else
        {
            stdout.WriteLine(summary);
        }
    }

    private static void WriteJson(string path, string? outPath, HnvImportResult result, string config, TextWriter stdout)
    {
        var c = result.Config;
        stdout.WriteLine(JsonSerializer.Serialize(new
        {
            script = path,
            @out = outPath,
            complete = result.Complete,
            imported = new
            {
                ports = c.Ports.Count,
                providerAddresses = c.ProviderAddresses.Count,
                providerRoutes = c.ProviderRoutes.Count,
                lookupRecords = c.LookupRecords.Count,
                customerRoutes = c.CustomerRoutes.Count,
            },
            problems = result.Problems.Select(p => new { line = p.Line, message = p.Message }),
            notes = result.Notes.Select(n => new { line = n.Line, message = n.Message }),
            skipped = result.Skipped.Select(s => new { command = s.Name, count = s.Count, line = s.FirstLine }),
            config = JsonNode.Parse(config),
        }));
    }

    private static string Count(int n, string one, string many) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {(n == 1 ? one : many)}");
}
