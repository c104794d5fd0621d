using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Policy;
using Spectre.Console;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp stats [--clear]</c>: the running daemon's counters since start or the last clear — per
/// port, per VSID, drops by reason, and per worker the packets, batches, batch fill and time per
/// packet in receive / forward / transmit, in ns and CPU cycles (as OVS's
/// <c>dpif-netdev/pmd-stats-show</c> and VPP's <c>show runtime</c> show them).
/// </summary>
internal static class StatsCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var clear = new Option<bool>("--clear") { Description = "start the counts shown here from zero (/metrics keeps its running totals)" };
        var daemon = new ControlVerbOptions();
        var command = new Command("stats", "the running daemon's counters: ports, virtual subnets, drops, workers") { clear };
        daemon.AddTo(command);
        command.SetAction(parse => parse.GetValue(clear)
            ? daemon.Send(parse, stdout, stderr, HttpMethod.Post, ControlApi.ClearStatsPath, null, root => stdout.WriteLine($"statistics cleared; counting from {root.GetProperty("since").GetString()}"))
            : daemon.Send(parse, stdout, stderr, HttpMethod.Get, ControlApi.StatsPath, null, root => Print(Terminal.Create(stdout), root)));
        return command;
    }

    private static void Print(IAnsiConsole console, JsonElement s)
    {
        var policy = s.GetProperty("policy");
        var totals = s.GetProperty("totals");
        console.WriteLine($"host {s.GetProperty("host").GetString()}, counting since {s.GetProperty("since").GetString()} ({Number(s.GetProperty("seconds"))} s)");
        console.WriteLine($"policy version {policy.GetProperty("version")}, {policy.GetProperty("changes")} changes: "
            + string.Join(", ", PolicySections.All.Select(p => $"{policy.GetProperty(PolicySections.JsonName(p))} {PolicySections.JsonName(p)}")));
        if (policy.TryGetProperty("unseenVersions", out var unseen) && unseen.TryGetInt64(out long late) && late > 0)
        {
            console.WriteLine($"{late} policy versions were answered before the worker took them (it did not move for 10 ms)");
        }

        if (s.TryGetProperty("policySource", out var source))
        {
            console.WriteLine($"policy source etcd: {(source.GetProperty("connected").GetBoolean() ? "connected" : "UNREACHABLE")}, revision {source.GetProperty("appliedRevision")} applied (last seen {source.GetProperty("revision")}), "
                + $"{source.GetProperty("rejectedKeys")} keys rejected now; {source.GetProperty("updates")} updates, {source.GetProperty("reads")} full reads, {source.GetProperty("unreachable")} times unreachable");
        }

        console.WriteLine($"rx {totals.GetProperty("rx")}, forwarded {totals.GetProperty("forwarded")}, answered {totals.GetProperty("answered")}, dropped {totals.GetProperty("dropped")}");

        var ports = Table("port", "role", "vsid", "rx", "tx", "refused", "device drops", "rx too large", "tx dropped");
        foreach (var p in s.GetProperty("ports").EnumerateArray())
        {
            ports.AddRow(Text(p, "name"), Text(p, "role"), Text(p, "virtualSubnetId"), Text(p, "rx"), Text(p, "tx"), Text(p, "txRefused"), Text(p, "deviceDrops"), Text(p, "rxTooLarge"), Text(p, "txDropped"));
        }

        console.Write(ports);
        var subnets = Table("vsid", "vm ports", "rx", "tx");
        foreach (var v in s.GetProperty("virtualSubnets").EnumerateArray())
        {
            subnets.AddRow(Text(v, "virtualSubnetId"), Markup.Escape(string.Join(", ", v.GetProperty("ports").EnumerateArray().Select(p => p.GetString()))), Text(v, "rx"), Text(v, "tx"));
        }

        console.Write(subnets);
        var drops = s.GetProperty("drops");
        if (drops.EnumerateObject().Any())
        {
            var table = Table("drop reason", "frames");
            foreach (var d in drops.EnumerateObject())
            {
                table.AddRow(Markup.Escape(d.Name), d.Value.GetRawText());
            }

            console.Write(table);
        }
        else
        {
            console.WriteLine("drops: none");
        }

        var cpu = s.GetProperty("cpu");
        var workers = Table("worker", "packets", "batches", "batch fill", "ns/pkt receive", "ns/pkt forward", "ns/pkt transmit", "cycles/pkt receive", "cycles/pkt forward", "cycles/pkt transmit");
        foreach (var w in s.GetProperty("workers").EnumerateArray())
        {
            var ns = w.GetProperty("nsPerPacket");
            var cycles = w.GetProperty("cyclesPerPacket");
            workers.AddRow(
                Text(w, "worker"), Text(w, "packets"), Text(w, "batches"), (w.GetProperty("batchFill").GetDouble() * 100).ToString("F1", CultureInfo.InvariantCulture) + "%",
                Text(ns, "receive"), Text(ns, "forward"), Text(ns, "transmit"), Text(cycles, "receive"), Text(cycles, "forward"), Text(cycles, "transmit"));
        }

        console.Write(workers);
        console.WriteLine(cpu.GetProperty("mhz").ValueKind == JsonValueKind.Number
            ? $"cycles = ns × {Number(cpu.GetProperty("mhz"))} MHz ({cpu.GetProperty("source").GetString()}); batch fill = frames per non-empty receive / 32"
            : "cycles: the CPU clock is unknown here; batch fill = frames per non-empty receive / 32");
    }

    private static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (string c in columns)
        {
            table.AddColumn(c);
        }

        return table;
    }

    private static string Text(JsonElement e, string field) =>
        e.TryGetProperty(field, out var v) ? Markup.Escape(v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText()) : "";

    private static string Number(JsonElement e) => e.GetDouble().ToString("0.###", CultureInfo.InvariantCulture);
}
