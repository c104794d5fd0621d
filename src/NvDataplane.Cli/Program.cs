using System.CommandLine;
using System.Text.Json;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp</c>: thin command handlers over the library. Exit codes: 0 done, 1 failure while
/// running, 2 bad usage or bad configuration (message on stderr).
/// </summary>
public static class Program
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    /// <summary>JSON names as the CLI and the control API write them (bench results, the stats' policy source).</summary>
    internal static readonly JsonSerializerOptions CamelCase = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs a command line with the given output streams (tests call this directly).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = BuildRoot(stdout, stderr);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                stderr.WriteLine($"nvdp: {e.Message}");
            }

            stderr.WriteLine("Try 'nvdp --help'.");
            return ExitUsage;
        }

        try
        {
            // nvdp run handles SIGINT/SIGTERM itself; System.CommandLine's own termination wait would hold the exit.
            // Its exception handler would print a stack trace before the catch below saw a file error.
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or CaptureFormatException)
        {
            stderr.WriteLine($"nvdp: {ex.Message}");
            return ExitFailure;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A defect of nvdp's own: the whole exception for the report, and exit 1 as any
            // failure while running (what System.CommandLine's handler did before it was off).
            stderr.WriteLine($"nvdp: internal error, please report it: {ex}");
            return ExitFailure;
        }
    }

    private static RootCommand BuildRoot(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("NvDataplane: Hyper-V Network Virtualization (NVGRE and IP rewrite) as a userspace dataplane.");
        root.Subcommands.Add(ValidateCommand(stdout, stderr));
        root.Subcommands.Add(ReplayCommand(stdout, stderr));
        root.Subcommands.Add(DemoCommand.Build(stdout, stderr));
        root.Subcommands.Add(BenchCommand(stdout, stderr));
        root.Subcommands.Add(Cli.RunCommand.Build(stderr));
        root.Subcommands.Add(ImportPsCommand.Build(stdout, stderr));
        root.Subcommands.Add(LookupCommand.Build(stdout, stderr));
        root.Subcommands.Add(RouteCommand.Build(stdout, stderr));
        root.Subcommands.Add(PaCommand.Build(stdout, stderr));
        root.Subcommands.Add(ProviderRouteCommand.Build(stdout, stderr));
        root.Subcommands.Add(StatsCommand.Build(stdout, stderr));
        root.Subcommands.Add(ConfigCommand.Build(stdout, stderr));
        root.Subcommands.Add(TraceCommand.Build(stdout, stderr));
        root.Subcommands.Add(CaptureCommand.Build(stdout, stderr));
        return root;
    }

    private static Option<string> ConfigOption() => new Option<string>("--config", "-c") { Description = "the configuration file (JSON, SPEC section 2)", Required = true }.NotEmpty();

    /// <summary>--format: text (the default) or json; anything else is refused as bad usage (exit 2) by the parser.</summary>
    internal static Option<string> FormatOption(string description = "text (default) or json")
    {
        var format = new Option<string>("--format") { Description = description, DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        return format;
    }

    /// <summary>Loads and validates a configuration; prints every problem and returns null when there is one.</summary>
    internal static HostConfig? LoadConfig(string path, TextWriter stderr)
    {
        var result = ConfigLoader.LoadFile(path);
        foreach (var problem in result.Problems)
        {
            stderr.WriteLine($"{path}: {problem}");
        }

        return result.Config;
    }

    private static Command ValidateCommand(TextWriter stdout, TextWriter stderr)
    {
        var config = ConfigOption();
        var format = FormatOption();
        var cmd = new Command("validate", "report every problem in a configuration file; exit 2 if there is any") { config, format };
        cmd.SetAction(parse =>
        {
            string path = parse.GetValue(config)!;
            var result = ConfigLoader.LoadFile(path);
            if (parse.GetValue(format) == "json")
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    valid = result.Succeeded,
                    problems = result.Problems.Select(p => new { path = p.Path, message = p.Message }),
                }));
            }
            else
            {
                foreach (var problem in result.Problems)
                {
                    stderr.WriteLine($"{path}: {problem}");
                }

                if (result.Config is { } c)
                {
                    stdout.WriteLine($"{path}: valid: host {c.HostName}, {c.Ports.Count} ports, {c.LookupRecords.Count} lookup records, {c.CustomerRoutes.Count} customer routes");
                }
            }

            return result.Succeeded ? ExitOk : ExitUsage;
        });
        return cmd;
    }

    private static Command ReplayCommand(TextWriter stdout, TextWriter stderr)
    {
        var config = ConfigOption();
        var inputs = new Option<string[]>("--in") { Description = "PORT=FILE.pcap: frames arriving on PORT (repeatable)", Required = true, Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string>("--out-dir") { Description = "where DIR/PORT.pcap files are written", Required = true }.NotEmpty().NotAFile();
        var reloads = new Option<string[]>("--reload") { Description = "TIME=FILE: replace the policy with FILE before the first frame at or after TIME (seconds since the epoch, as in the capture), as SIGHUP would (repeatable)" };
        var format = FormatOption();
        var cmd = new Command("replay", "run the pipeline over capture files (pcap or pcapng) and write what each port emits") { config, inputs, outDir, reloads, format };
        cmd.SetAction(parse =>
        {
            var list = new List<ReplayInput>();
            foreach (string spec in parse.GetValue(inputs)!)
            {
                int eq = spec.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || eq == spec.Length - 1)
                {
                    stderr.WriteLine($"nvdp: --in {spec}: use PORT=FILE, e.g. --in red1=red1.pcap");
                    return ExitUsage;
                }

                list.Add(new ReplayInput(spec[..eq], spec[(eq + 1)..]));
            }

            if (LoadConfig(parse.GetValue(config)!, stderr) is not { } host)
            {
                return ExitUsage;
            }

            foreach (var input in list.Where(i => !File.Exists(i.Path)))
            {
                stderr.WriteLine($"nvdp: --in {input.Port}={input.Path}: {(Directory.Exists(input.Path) ? "that is a folder; give a capture file" : "no such file")}");
                return ExitUsage;
            }

            var reloadList = new List<ReplayReload>();
            foreach (string spec in parse.GetValue(reloads) ?? [])
            {
                int eq = spec.IndexOf('=', StringComparison.Ordinal);
                // long nanoseconds reach 9,223,372,036 s (the year 2262): a larger TIME is no capture's
                if (eq <= 0 || !decimal.TryParse(spec[..eq], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out decimal at)
                    || at > long.MaxValue / 1_000_000_000m)
                {
                    stderr.WriteLine($"nvdp: --reload {spec}: use TIME=FILE, TIME in seconds (not nanoseconds) since the epoch, e.g. --reload 1700000000.5=next.json");
                    return ExitUsage;
                }

                if (LoadConfig(spec[(eq + 1)..], stderr) is not { } next)
                {
                    return ExitUsage;
                }

                reloadList.Add(new ReplayReload((long)(at * 1_000_000_000m), next, spec));
            }

            ReplaySummary summary;
            try
            {
                summary = ReplayRunner.RunAsync(host, list, parse.GetValue(outDir)!, reloadList).GetAwaiter().GetResult();
            }
            catch (ReplayUsageException ex)
            {
                // Only the runner's own refusals are bad usage; any other ArgumentException is a defect.
                stderr.WriteLine($"nvdp: {ex.Message}");
                return ExitUsage;
            }

            WriteSummary(summary, parse.GetValue(format) == "json", stdout);
            return ExitOk;
        });
        return cmd;
    }

    internal static void WriteSummary(ReplaySummary summary, bool json, TextWriter stdout)
    {
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                ports = summary.Ports.ToDictionary(p => p.Key, p => new { rx = p.Value.Rx, tx = p.Value.Tx }),
                drops = summary.Drops,
                acls = summary.Acls,
                learned = summary.Learned.Select(l => new
                {
                    virtualSubnetId = l.Vsid,
                    customerAddress = l.CustomerAddress.ToString(),
                    macAddress = l.MacAddress.ToString(),
                    providerAddress = l.ProviderAddress.ToString(),
                    type = "Dynamic",
                }),
                migration = summary.Migration,
            }));
            return;
        }

        stdout.WriteLine("port          rx        tx");
        foreach (var (name, (rx, tx)) in summary.Ports)
        {
            stdout.WriteLine($"{name,-10} {rx,5} {tx,9}");
        }

        stdout.WriteLine(summary.Drops.Count == 0 ? "drops: none" : "drops:");
        foreach (var (reason, n) in summary.Drops)
        {
            stdout.WriteLine($"  {reason,-24} {n}");
        }

        if (summary.Acls.Count != 0)
        {
            stdout.WriteLine("acl hits:");
            foreach (var (rule, n) in summary.Acls)
            {
                stdout.WriteLine($"  {rule,-24} {n}");
            }
        }

        if (summary.Learned.Count != 0)
        {
            stdout.WriteLine("learned (Dynamic records):");
            foreach (var l in summary.Learned)
            {
                stdout.WriteLine($"  {l.Vsid} {l.CustomerAddress} {l.MacAddress} {l.ProviderAddress}");
            }
        }

        if (summary.Migration.Values.Any(n => n != 0))
        {
            stdout.WriteLine("migration:");
            foreach (var (name, n) in summary.Migration.Where(m => m.Value != 0))
            {
                stdout.WriteLine($"  {name,-24} {n}");
            }
        }
    }

    private static Command BenchCommand(TextWriter stdout, TextWriter stderr)
    {
        int Churn(int records, double seconds, int batch, int inflight, double rate, bool json)
        {
            if (records is < 1 or > 1_000_000 || !(seconds is > 0 and <= 600) || batch is < 1 or > 100_000 || inflight is < 1 or > 64 || !(rate >= 0 && double.IsFinite(rate)))
            {
                stderr.WriteLine("nvdp: use --records 1..1000000, --seconds in (0, 600], --churn-batch 1..100000, --churn-inflight 1..64 and a finite --churn-rate >= 0");
                return ExitUsage;
            }

            var r = PolicyChurnBench.RunAsync(records, seconds, batch, inflight, rate).GetAwaiter().GetResult();
            if (json)
            {
                stdout.WriteLine(JsonSerializer.Serialize(r, CamelCase));
            }
            else
            {
                stdout.WriteLine($"policy churn: {r.Records} records, batches of {batch}, {inflight} in flight{(rate > 0 ? $", offered {rate:F0}/s" : "")}; {r.WindowPairs} pairs of 1 s windows, changes off / on");
                stdout.WriteLine($"  forwarding {r.BaselineMpps:F2} Mpps alone, {r.ChurnMpps:F2} Mpps under changes ({r.ThroughputDropPercent:F1}% less; per pair min / median / max {r.PairDropMinPercent:F1} / {r.PairDropMedianPercent:F1} / {r.PairDropMaxPercent:F1}%)");
                stdout.WriteLine($"  {r.ChangesPerSecond:F0} record changes/s applied ({r.Changes} in {r.Versions} versions, {r.FastVersions} of them by the fast path; {r.RefusedRequests} requests refused), GC pauses {r.GcPauseMs} ms after the warm-up (gen0 / gen1 / gen2 collections {r.GcCollections}), {r.AllocatedBytesPerChange:F0} bytes allocated per change");
                stdout.WriteLine($"  visible to the forwarding thread after the API call returned: p50 {r.VisibleP50Us:F1} us, p99 {r.VisibleP99Us:F1} us, max {r.VisibleMaxUs:F1} us");
            }

            return ExitOk;
        }

        var scenario = new Option<string>("--scenario") { Description = "encap, decap or rewrite", DefaultValueFactory = _ => "encap" };
        scenario.AcceptOnlyFromAmong("encap", "decap", "rewrite");
        var records = new Option<int>("--records") { Description = "lookup records in the table", DefaultValueFactory = _ => 1000 };
        var frameSize = new Option<int>("--frame-size") { Description = "inner frame size in bytes", DefaultValueFactory = _ => 64 };
        var seconds = new Option<double>("--seconds") { Description = "measured seconds (after a 1 s warm-up; with --churn: after a 3 s warm-up, in 1 s windows alternately without and with changes)", DefaultValueFactory = _ => 3 };
        var format = FormatOption();
        var churn = new Option<bool>("--churn") { Description = "also change lookup records through the control API while forwarding (encap scenario): throughput with and without, changes/s, visibility delay" };
        var churnBatch = new Option<int>("--churn-batch") { Description = "changes per /v1/changes request", DefaultValueFactory = _ => 1000 };
        var churnInflight = new Option<int>("--churn-inflight") { Description = "requests in flight at once", DefaultValueFactory = _ => 4 };
        var churnRate = new Option<double>("--churn-rate") { Description = "changes per second to offer (0: as fast as the API takes them)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("bench", "in-memory throughput of the whole pipeline on one core") { scenario, records, frameSize, seconds, format, churn, churnBatch, churnInflight, churnRate };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(churn))
            {
                return Churn(parse.GetValue(records), parse.GetValue(seconds), parse.GetValue(churnBatch), parse.GetValue(churnInflight), parse.GetValue(churnRate), parse.GetValue(format) == "json");
            }

            var kind = Enum.Parse<TrafficScenario>(parse.GetValue(scenario)!, ignoreCase: true);
            int n = parse.GetValue(records);
            double s = parse.GetValue(seconds);
            if (n is < 1 or > 10_000_000 || !(s is > 0 and <= 600))
            {
                stderr.WriteLine("nvdp: use --records 1..10000000 and --seconds in (0, 600]");
                return ExitUsage;
            }

            SyntheticTraffic traffic;
            try
            {
                traffic = new SyntheticTraffic(kind, n, parse.GetValue(frameSize));
            }
            catch (ArgumentOutOfRangeException ex)
            {
                stderr.WriteLine($"nvdp: {ex.Message}");
                return ExitUsage;
            }

            var r = ThroughputRunner.Run(traffic, s);
            if (parse.GetValue(format) == "json")
            {
                // The record's properties in camelCase are the documented keys (mpps, nsPerPacket, ...).
                stdout.WriteLine(JsonSerializer.Serialize(r, CamelCase));
            }
            else
            {
                stdout.WriteLine($"{r.Scenario}: {r.Records} records, {r.FrameSize}-byte frames, {r.Packets} packets in {r.Seconds:F2} s");
                stdout.WriteLine($"  {r.Mpps:F2} Mpps, {r.NsPerPacket:F1} ns/packet, {r.AllocatedBytesPerPacket:F4} bytes allocated/packet, {r.GcCollections} GC collections, {r.Dropped} dropped");
            }

            return r.Dropped == 0 ? ExitOk : ExitFailure;
        });
        return cmd;
    }
}
