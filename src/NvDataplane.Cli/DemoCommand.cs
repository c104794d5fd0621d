using System.Buffers.Binary;
using System.CommandLine;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using Spectre.Console;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp demo</c>: hosts hv1 and hv2 run the real pipeline in one process, their provider
/// ports joined by an in-memory wire. Red (VSID 5001) and Blue (VSID 6001) both use 10.1.1.7 on
/// hv1 and 10.1.1.8 on hv2; the demo sends ARP, ping, UDP and TCP within each tenant, tries to
/// cross from Blue to Red, and writes what every port sent as pcaps.
/// </summary>
internal static class DemoCommand
{
    private static readonly Guid RedDomain = Guid.Parse("11111111-2222-3333-4444-000000000000");
    private static readonly Guid BlueDomain = Guid.Parse("22222222-3333-4444-5555-000000000000");
    private static readonly MacAddress Hv1Nic = MacAddress.Parse("02-00-00-00-01-0A");
    private static readonly MacAddress Hv2Nic = MacAddress.Parse("02-00-00-00-01-0B");
    private static readonly IpAddr Hv1Pa = IpAddr.Parse("192.168.1.10");
    private static readonly IpAddr Hv2Pa = IpAddr.Parse("192.168.1.11");
    private static readonly IpAddr Ca7 = IpAddr.Parse("10.1.1.7");
    private static readonly IpAddr Ca8 = IpAddr.Parse("10.1.1.8");
    private static readonly IpAddr Ca9 = IpAddr.Parse("10.1.1.9");
    private static readonly MacAddress Red1 = MacAddress.Parse("00-15-5D-00-00-01");
    private static readonly MacAddress Red2 = MacAddress.Parse("00-15-5D-00-00-02");
    private static readonly MacAddress Red3 = MacAddress.Parse("00-15-5D-00-00-03");
    private static readonly MacAddress Blue1 = MacAddress.Parse("00-15-5D-00-01-01");
    private static readonly MacAddress Blue2 = MacAddress.Parse("00-15-5D-00-01-02");

    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var outDir = new Option<string>("--out-dir") { Description = "where the pcaps are written", DefaultValueFactory = _ => "nvdp-demo" }.NotEmpty().NotAFile();
        var format = Program.FormatOption();
        var cmd = new Command("demo", "two hosts, two tenants with the same addresses, end to end through the real pipeline") { outDir, format };
        cmd.SetAction(parse => Run(parse.GetValue(outDir)!, parse.GetValue(format) == "json", stdout, stderr));
        return cmd;
    }

    public static HostConfig HostConfigFor(string host)
    {
        bool hv1 = host == "hv1";
        var records = new List<LookupRecordConfig>
        {
            new(Ca7, 5001, Red1, Hv1Pa, TranslationRule.Encap, RecordType.Static, "Red-1"),
            new(Ca8, 5001, Red2, Hv2Pa, TranslationRule.Encap, RecordType.Static, "Red-2"),
            new(Ca9, 5001, Red3, Hv2Pa, TranslationRule.Encap, RecordType.Static, "Red-3"),
            new(Ca7, 6001, Blue1, Hv1Pa, TranslationRule.Encap, RecordType.Static, "Blue-1"),
            new(Ca8, 6001, Blue2, Hv2Pa, TranslationRule.Encap, RecordType.Static, "Blue-2"),
        };
        var vmPorts = hv1
            ? new[] { new PortConfig("red1", PortRole.Vm, null, Red1, 1500, 5001, "Red-1"), new PortConfig("blue1", PortRole.Vm, null, Blue1, 1500, 6001, "Blue-1") }
            : new[] { new PortConfig("red2", PortRole.Vm, null, Red2, 1500, 5001, "Red-2"), new PortConfig("blue2", PortRole.Vm, null, Blue2, 1500, 6001, "Blue-2") };
        return new HostConfig(
            host,
            GlobalSettings.Default,
            [new PortConfig("pnic0", PortRole.Provider, null, hv1 ? Hv1Nic : Hv2Nic, 1500, null, null), .. vmPorts],
            [new ProviderAddressConfig(hv1 ? Hv1Pa : Hv2Pa, 24, 0, "pnic0")],
            [],
            [new ProviderNeighborConfig(hv1 ? Hv2Pa : Hv1Pa, hv1 ? Hv2Nic : Hv1Nic)],
            records,
            [
                new CustomerRouteConfig(RedDomain, 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255),
                new CustomerRouteConfig(BlueDomain, 6001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255),
            ]);
    }

    private sealed class Host(string name)
    {
        public string Name { get; } = name;
        public Forwarder Forwarder { get; } = new(new PolicyStore(PolicySnapshot.Build(HostConfigFor(name))), new BufferPool(64));
        public int Port(string port) => Forwarder.Policy.FindPort(port);
    }

    /// <summary>One row of the account: what was sent, what the wire carried, how it ended.</summary>
    public sealed record Step(int Number, string From, string What, string Wire, string Result);

    private static int Run(string outDir, bool json, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            Directory.CreateDirectory(outDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"nvdp: --out-dir {outDir}: cannot create the folder: {ex.Message}");
            return Program.ExitFailure;
        }

        var hosts = new[] { new Host("hv1"), new Host("hv2") };
        var writers = new Dictionary<string, PcapWriter>();
        var steps = new List<Step>();
        long clock = 1_700_000_000L * 1_000_000_000L;
        try
        {
            void Send(string from, string what, byte[] frame)
            {
                clock += 1_000_000;
                var host = from.EndsWith('1') ? hosts[0] : hosts[1];
                var wire = new List<string>();
                var results = new List<string>();
                Inject(host, host.Port(from), frame, clock, wire, results, depth: 0);
                steps.Add(new Step(steps.Count + 1, from, what, wire.Count == 0 ? "-" : string.Join("; ", wire), string.Join("; ", results)));
            }

            void Inject(Host host, int port, byte[] frame, long ts, List<string> wire, List<string> results, int depth)
            {
                var fwd = host.Forwarder;
                var before = (long[])fwd.Counters.Drops.Clone();
                var buffer = fwd.Pool.Rent()!;
                buffer.TrySet(frame, ts);
                fwd.BeginBatch();
                fwd.Process(port, buffer);
                for (int r = 0; r < before.Length; r++)
                {
                    if (fwd.Counters.Drops[r] != before[r])
                    {
                        results.Add($"dropped on {host.Name}: {DropReasons.Name((DropReason)r)}");
                    }
                }

                var toPeer = new List<byte[]>();
                for (int p = 0; p < fwd.PortCount; p++)
                {
                    var info = fwd.Policy.Ports[p];
                    foreach (var b in fwd.PendingTransmit(p))
                    {
                        byte[] bytes = b.Frame.ToArray();
                        Writer($"{host.Name}-{info.Name}").Write(ts, bytes);
                        if (info.Role == PortRole.Provider)
                        {
                            Writer("wire").Write(ts, bytes);
                            wire.Add(DescribeNvgre(bytes));
                            toPeer.Add(bytes);
                        }
                        else
                        {
                            results.Add(p == port ? $"answered on {info.Name} ({Describe(bytes)})" : $"delivered to {info.Name} on {host.Name}");
                        }
                    }

                    fwd.CompleteTransmit(p);
                }

                var peer = host == hosts[0] ? hosts[1] : hosts[0];
                foreach (var bytes in toPeer)
                {
                    if (depth < 2)
                    {
                        Inject(peer, peer.Port("pnic0"), bytes, ts, wire, results, depth + 1);
                    }
                }
            }

            PcapWriter Writer(string name)
            {
                if (!writers.TryGetValue(name, out var w))
                {
                    w = PcapWriter.Create(Path.Combine(outDir, name + ".pcap"));
                    writers[name] = w;
                }

                return w;
            }

            Send("red1", "ARP who-has 10.1.1.8", DemoFrames.ArpRequest(Red1, Ca7, Ca8));
            Send("red1", "ping 10.1.1.7 → 10.1.1.8", DemoFrames.IcmpEcho(Red1, Red2, Ca7, Ca8, reply: false, 1));
            Send("red2", "ping reply 10.1.1.8 → 10.1.1.7", DemoFrames.IcmpEcho(Red2, Red1, Ca8, Ca7, reply: true, 1));
            Send("blue1", "ARP who-has 10.1.1.8", DemoFrames.ArpRequest(Blue1, Ca7, Ca8));
            Send("blue1", "ping 10.1.1.7 → 10.1.1.8", DemoFrames.IcmpEcho(Blue1, Blue2, Ca7, Ca8, reply: false, 1));
            Send("blue2", "ping reply 10.1.1.8 → 10.1.1.7", DemoFrames.IcmpEcho(Blue2, Blue1, Ca8, Ca7, reply: true, 1));
            Send("red1", "UDP 10.1.1.7:40000 → 10.1.1.8:7000", DemoFrames.Udp(Red1, Red2, Ca7, Ca8, 40000, 7000, "hello from Red-1"));
            Send("red2", "UDP 10.1.1.8:7000 → 10.1.1.7:40000", DemoFrames.Udp(Red2, Red1, Ca8, Ca7, 7000, 40000, "hello back from Red-2"));
            Send("blue1", "TCP SYN 10.1.1.7:41000 → 10.1.1.8:80", DemoFrames.Tcp(Blue1, Blue2, Ca7, Ca8, 41000, 80, 1000, 0, 0x02));
            Send("blue2", "TCP SYN-ACK 10.1.1.8:80 → 10.1.1.7:41000", DemoFrames.Tcp(Blue2, Blue1, Ca8, Ca7, 80, 41000, 5000, 1001, 0x12));
            Send("blue1", "TCP ACK 10.1.1.7:41000 → 10.1.1.8:80", DemoFrames.Tcp(Blue1, Blue2, Ca7, Ca8, 41000, 80, 1001, 5001, 0x10));
            Send("blue1", "Blue → 10.1.1.9 (only Red has it)", DemoFrames.IcmpEcho(Blue1, Red3, Ca7, Ca9, reply: false, 2));
            Send("blue1", "Blue forging Red-1's MAC", DemoFrames.IcmpEcho(Red1, Red2, Ca7, Ca8, reply: false, 3));
        }
        finally
        {
            foreach (var w in writers.Values)
            {
                w.Dispose();
            }
        }

        if (json)
        {
            stdout.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { steps, pcaps = writers.Keys.Order().Select(k => Path.Combine(outDir, k + ".pcap")) }, Program.CamelCase));
            return Program.ExitOk;
        }

        var console = Terminal.Create(stdout);
        console.Write(new Rule("[bold]NvDataplane demo[/]: hv1 (PA 192.168.1.10) and hv2 (PA 192.168.1.11); Red VSID 5001 and Blue VSID 6001 both use 10.1.1.7 (hv1) and 10.1.1.8 (hv2)").LeftJustified());
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumns("#", "from", "frame", "on the provider wire", "result");
        foreach (var s in steps)
        {
            string result = s.Result.Contains("dropped", StringComparison.Ordinal) ? $"[red]{Markup.Escape(s.Result)}[/]" : $"[green]{Markup.Escape(s.Result)}[/]";
            table.AddRow(s.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(s.From), Markup.Escape(s.What), Markup.Escape(s.Wire), result);
        }

        console.Write(table);
        console.WriteLine($"Pcaps written to {Path.GetFullPath(outDir)}: {string.Join(", ", writers.Keys.Order().Select(k => k + ".pcap"))}");
        console.WriteLine("Open wire.pcap in Wireshark, or: tshark -r " + Path.Combine(outDir, "wire.pcap") + " -Y 'gre.key & 0xffffff00 == 0x138900'  (VSID 5001 only)");
        return Program.ExitOk;
    }

    /// <summary>"NVGRE 192.168.1.10→192.168.1.11 key 0x0013897A (VSID 5001, FlowID 0x7A) inner 10.1.1.7→10.1.1.8".</summary>
    private static string DescribeNvgre(byte[] f)
    {
        if (f.Length < 14 + 20 + 8 + 14 + 20 || f[23] != IpProtocol.Gre)
        {
            return Describe(f);
        }

        uint key = BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(14 + 20 + 4));
        var outerSrc = IpAddr.ReadV4(f.AsSpan(26));
        var outerDst = IpAddr.ReadV4(f.AsSpan(30));
        int inner = 14 + 20 + 8 + 14;
        return $"NVGRE VSID {key >> 8} FlowID 0x{key & 0xFF:X2}, PA {outerSrc}→{outerDst}, inner {IpAddr.ReadV4(f.AsSpan(inner + 12))}→{IpAddr.ReadV4(f.AsSpan(inner + 16))}";
    }

    private static string Describe(byte[] f)
    {
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
        return type == Ethernet.TypeArp
            ? $"ARP reply {IpAddr.ReadV4(f.AsSpan(28))} is-at {MacAddress.Read(f.AsSpan(22))}"
            : $"{f.Length}-byte frame";
    }
}
