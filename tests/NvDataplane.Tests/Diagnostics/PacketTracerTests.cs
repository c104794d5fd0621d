using System.Buffers.Binary;
using System.Text.Json;
using NvDataplane.Diagnostics;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Tests.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Diagnostics;

/// <summary>
/// <c>nvdp trace</c>'s engine: the explained outcome agrees with the private forwarder's actual
/// one for every input frame of every golden scenario; the steps name the records, routes, ACL
/// rules and tunnel the forwarder used, checked against the scenario's independent expected
/// frames (the scapy oracle); the inputs (hex, capture files) fail with clear messages; the live
/// worker is never touched.
/// </summary>
public class PacketTracerTests
{
    public static IEnumerable<string> Scenarios => TestPaths.ScenarioNames();

    [TestCaseSource(nameof(Scenarios))]
    public async Task The_explanation_agrees_with_the_forwarder_on_every_frame_of_the_scenario(string name)
    {
        var (policy, inputs) = await Scenario(name);
        Assert.That(inputs, Is.Not.Empty);
        var fates = new HashSet<TraceFate>();
        Assert.Multiple(() =>
        {
            foreach (var (port, index, frame) in inputs)
            {
                var result = PacketTracer.Trace(policy, port, frame.Data, frame.TimestampNs);
                fates.Add(result.Actual.Fate);
                Assert.That(result.Agrees, Is.True, $"{name} {port} frame {index}:\n{result}");
                Assert.That(result.Explained.SameAs(result.Actual), Is.EqualTo(result.Agrees));
                Assert.That(result.Steps[^1].Stage, Is.EqualTo("result"));
                Assert.That(result.Actual.Egress.Sum(e => e.Frames.Count), Is.EqualTo(result.Actual.Egress.Sum(e => e.Count)), "every frame sent is shown");
            }
        });
        Assert.That(fates, Is.Not.Empty);
    }

    [Test]
    public void The_corpus_covers_every_fate_and_many_drop_reasons()
    {
        var all = Scenarios.SelectMany(s => Scenario(s).Result.Inputs.Select(i => (s, i.Port, i.Frame))).ToList();
        var results = all.Select(x => PacketTracer.Trace(Scenario(x.s).Result.Policy, x.Port, x.Frame.Data, x.Frame.TimestampNs)).ToList();
        Assert.That(results.Select(r => r.Actual.Fate).Distinct(), Is.EquivalentTo(Enum.GetValues<TraceFate>()), "forwarded, answered, waiting and dropped all occur");
        Assert.That(results.Select(r => r.Actual.DropReason).OfType<string>().Distinct().Count(), Is.GreaterThanOrEqualTo(20), "the corpus exercises most drop reasons");
        Assert.That(results, Has.Count.GreaterThan(150));
        Assert.That(results.All(r => r.Agrees), Is.True);
    }

    [Test]
    public void Outcomes_that_differ_in_any_part_do_not_agree()
    {
        TraceOutcome Make(TraceFate fate = TraceFate.Dropped, string? reason = "acl_deny", string[]? lost = null, int egress = 1, int waiting = 0, string[]? hits = null) => new()
        {
            Fate = fate,
            DropReason = reason,
            LostCopies = lost ?? [],
            Egress = [new TraceEgress { Port = "red1", Count = egress, Frames = [] }],
            Waiting = waiting,
            AclHits = hits ?? [],
            Summary = "x",
        };

        var baseline = Make();
        Assert.That(baseline.SameAs(Make()), Is.True);
        Assert.That(baseline.SameAs(Make(fate: TraceFate.Forwarded)), Is.False);
        Assert.That(baseline.SameAs(Make(reason: "no_route")), Is.False);
        Assert.That(baseline.SameAs(Make(lost: ["tx_full"])), Is.False);
        Assert.That(baseline.SameAs(Make(egress: 2)), Is.False);
        Assert.That(baseline.SameAs(Make(waiting: 1)), Is.False);
        Assert.That(baseline.SameAs(Make(hits: ["rule"])), Is.False);
    }

    [Test]
    public async Task An_encapsulated_frame_names_both_records_the_tunnel_and_the_next_hop()
    {
        var (policy, inputs) = await Scenario("encap-ipv4");
        var udp = inputs.Single(i => i.Index == 1).Frame; // UDP 40000 -> 33053, to the remote Red VM

        var result = PacketTracer.Trace(policy, "red1", udp.Data);

        Assert.That(result.Agrees, Is.True, result.ToString());
        Assert.That(result.Explained.Fate, Is.EqualTo(TraceFate.Forwarded));
        Assert.That(result.Explained.Summary, Is.EqualTo("encapsulated to PA 192.168.1.11 via port pnic0"));
        Assert.That(result.Outer!.Source, Is.EqualTo("10.1.1.7"));
        Assert.That((result.Outer.SourcePort, result.Outer.DestinationPort), Is.EqualTo((40000, 33053)));
        var source = result.Steps.Single(s => s.Stage == "source").Record!;
        Assert.That((source.CustomerAddress, source.VirtualSubnetId, source.Local, source.LocalPort, source.Type), Is.EqualTo(("10.1.1.7", 5001u, true, "red1", "Static")));
        var destination = result.Steps.Single(s => s.Stage == "destination").Record!;
        Assert.That((destination.CustomerAddress, destination.MacAddress, destination.ProviderAddress, destination.Local, destination.Rule),
            Is.EqualTo(("10.1.1.8", "00-15-5D-00-00-02", "192.168.1.11", false, "TranslationMethodEncap")));
        var tunnel = result.Steps.Single(s => s.Stage == "tunnel").Tunnel!;
        Assert.That(tunnel.Method, Is.EqualTo("encap"));
        Assert.That((tunnel.SourcePa, tunnel.DestinationPa, tunnel.VirtualSubnetId, tunnel.ProviderPort), Is.EqualTo(("192.168.1.10", "192.168.1.11", 5001u, "pnic0")));
        Assert.That((tunnel.NextHop, tunnel.NextHopVia, tunnel.NextHopMac), Is.EqualTo(("192.168.1.11", "on-link in 192.168.1.0/24", "02-00-00-00-01-0B")));
        Assert.That((tunnel.Mtu, tunnel.Overhead, tunnel.PacketSize, tunnel.OuterTtl), Is.EqualTo((1500, 42, 48 + 42, 64)));

        // The frame the forwarder sent is the oracle's (FlowID masked), and carries the key the steps name.
        var sent = Convert.FromHexString(result.Actual.Egress.Single(e => e.Port == "pnic0").Frames.Single());
        var expected = (await GoldenScenarioTests.ReadAll(Path.Combine(TestPaths.Captures, "encap-ipv4", "expected", "pnic0.pcap")))[1].Data;
        Assert.That(GoldenScenarioTests.Masked(sent), Is.EqualTo(GoldenScenarioTests.Masked(expected)));
        uint key = BinaryPrimitives.ReadUInt32BigEndian(sent.AsSpan(14 + 20 + 4));
        Assert.That(tunnel.GreKey, Is.EqualTo($"0x{key:x}"));
        Assert.That(tunnel.FlowId, Is.EqualTo(key & 0xFF));
    }

    [Test]
    public async Task Acl_steps_list_the_rules_tried_and_the_one_that_decided()
    {
        var (policy, inputs) = await Scenario("acl");

        var denied = PacketTracer.Trace(policy, "red1", inputs.Single(i => i.Port == "red1" && i.Index == 0).Frame.Data); // TCP SYN to 10.1.1.8:22
        Assert.That(denied.Agrees, Is.True, denied.ToString());
        Assert.That((denied.Explained.Fate, denied.Explained.DropReason), Is.EqualTo((TraceFate.Dropped, "acl_deny")));
        var acl = denied.Steps.First(s => s.Acl is not null).Acl!;
        Assert.That((acl.Direction, acl.Port, acl.Hit, acl.Verdict), Is.EqualTo(("outbound", "red1", "no-ssh-out", "deny")));
        Assert.That(acl.Rules[^1], Has.Property(nameof(TraceAclRule.Matched)).True.And.Property(nameof(TraceAclRule.Label)).EqualTo("no-ssh-out"));
        Assert.That(acl.Rules.Take(acl.Rules.Count - 1).Select(r => r.Matched), Has.All.False, "the rules before the hit were tried and did not match");
        Assert.That(denied.Explained.AclHits, Is.EqualTo(new[] { "no-ssh-out" }));
        Assert.That(denied.Actual.AclHits, Is.EqualTo(new[] { "no-ssh-out" }), "the forwarder counted the same rule");

        // TCP 40001 -> red3:22: the priority-10 rule allows it before no-ssh-out is tried; red3's inbound rules judge it too.
        var allowed = PacketTracer.Trace(policy, "red1", inputs.Single(i => i.Port == "red1" && i.Index == 4).Frame.Data);
        Assert.That(allowed.Agrees, Is.True, allowed.ToString());
        Assert.That(allowed.Explained.Summary, Is.EqualTo("delivered to port red3"));
        var outbound = allowed.Steps.Where(s => s.Acl is not null).Select(s => s.Acl!).ToList();
        Assert.That(outbound[0].Hit, Is.EqualTo("admin-ssh-to-red3"));
        Assert.That(outbound[0].Verdict, Is.EqualTo("allow"));
        Assert.That(outbound.Select(a => a.Direction), Is.EqualTo(new[] { "outbound", "inbound" }));
    }

    [Test]
    public async Task A_routed_frame_shows_the_customer_route_the_next_record_and_the_router_hop()
    {
        var (policy, inputs) = await Scenario("routing");
        var result = PacketTracer.Trace(policy, "red1", inputs.Single(i => i.Port == "red1" && i.Index == 0).Frame.Data); // 10.1.1.7 -> 10.1.2.5

        Assert.That(result.Agrees, Is.True, result.ToString());
        var route = result.Steps.First(s => s.Route is not null).Route!;
        Assert.That((route.DestinationPrefix, route.VirtualSubnetId, route.OnLink, route.NextHop), Is.EqualTo(("10.1.2.0/24", 5002u, true, "0.0.0.0")));
        Assert.That(route.RoutingDomainId, Is.EqualTo("{11111111-2222-3333-4444-000000000000}"));
        Assert.That(result.Steps.Single(s => s.Stage == "destination").Record!.VirtualSubnetId, Is.EqualTo(5002u));
        Assert.That(result.Steps.Any(s => s.Stage == "route" && s.Text.Contains("TTL 64 → 63", StringComparison.Ordinal)), Is.True);
        Assert.That(result.Steps.Single(s => s.Stage == "tunnel").Tunnel!.VirtualSubnetId, Is.EqualTo(5002u), "the destination record's VSID");
    }

    [Test]
    public async Task A_ttl_that_runs_out_is_dropped_and_the_time_exceeded_goes_back_to_the_sender()
    {
        var (policy, inputs) = await Scenario("routing");
        var result = PacketTracer.Trace(policy, "red1", inputs.Single(i => i.Port == "red1" && i.Index == 2).Frame.Data);

        Assert.That(result.Agrees, Is.True, result.ToString());
        Assert.That((result.Explained.Fate, result.Explained.DropReason), Is.EqualTo((TraceFate.Dropped, "ttl_expired")));
        Assert.That(result.Explained.Egress.Single().Port, Is.EqualTo("red1"));
        Assert.That(result.Steps.Any(s => s.Stage == "icmp" && s.Text.Contains("ICMP time exceeded from the gateway 10.1.1.1", StringComparison.Ordinal)), Is.True);
        var sent = Convert.FromHexString(result.Actual.Egress.Single().Frames.Single());
        var expected = (await GoldenScenarioTests.ReadAll(Path.Combine(TestPaths.Captures, "routing", "expected", "red1.pcap"))).Select(f => f.Data).ToList();
        Assert.That(expected, Has.Some.EqualTo(sent), "the ICMP error is the oracle's");
    }

    [Test]
    public async Task A_decapsulated_frame_shows_outer_and_inner_headers_and_the_anti_spoofing_check()
    {
        var (policy, inputs) = await Scenario("decap-ipv4");
        var result = PacketTracer.Trace(policy, "pnic0", inputs.Single(i => i.Index == 3).Frame.Data); // VSID 6001 ICMP echo request

        Assert.That(result.Agrees, Is.True, result.ToString());
        Assert.That((result.Outer!.VirtualSubnetId, result.Outer.Source, result.Outer.Destination, result.Outer.Protocol), Is.EqualTo((6001u, "192.168.1.11", "192.168.1.10", 47)));
        Assert.That((result.Inner!.Source, result.Inner.Destination, result.Inner.Protocol), Is.EqualTo(("10.1.1.8", "10.1.1.7", 1)));
        Assert.That(result.Steps.Single(s => s.Stage == "source").Text, Does.Contain("outer source 192.168.1.11 is its PA"));
        Assert.That(result.Explained.Summary, Is.EqualTo("decapsulated to port blue1"));
        var expected = (await GoldenScenarioTests.ReadAll(Path.Combine(TestPaths.Captures, "decap-ipv4", "expected", "blue1.pcap")))[0].Data;
        Assert.That(result.Actual.Egress.Single().Frames.Single(), Is.EqualTo(Convert.ToHexStringLower(expected)));
    }

    [Test]
    public async Task Answers_and_refusals_name_what_answered_or_why_not()
    {
        var (policy, inputs) = await Scenario("arp-and-pa");
        byte[] Frame(string port, int index) => inputs.Single(i => i.Port == port && i.Index == index).Frame.Data; // index as in frames.txt

        var arp = PacketTracer.Trace(policy, "red1", Frame("red1", 0));
        Assert.That((arp.Explained.Fate, arp.Explained.Summary), Is.EqualTo((TraceFate.Answered, "answered on port red1 (ARP reply: 10.1.1.8 is at 00-15-5D-00-00-02)")));
        var own = PacketTracer.Trace(policy, "red1", Frame("red1", 3));
        Assert.That(own.Explained.DropReason, Is.EqualTo("arp_unresolved"));
        Assert.That(own.Steps.Single(s => s.Stage == "target").Text, Does.Contain("requester's own address"));
        var paPing = PacketTracer.Trace(policy, "pnic0", Frame("pnic0", 10));
        Assert.That(paPing.Explained.Summary, Is.EqualTo("answered on port pnic0 (PA echo reply)"));
        var foreign = PacketTracer.Trace(policy, "pnic0", Frame("pnic0", 11));
        Assert.That(foreign.Explained.DropReason, Is.EqualTo("not_for_host"));
        Assert.That(new[] { arp, own, paPing, foreign }.Select(r => r.Agrees), Has.All.True);
    }

    [Test]
    public async Task The_mtu_rule_shows_sizes_and_the_icmp_or_the_fragments()
    {
        var (policy, inputs) = await Scenario("mtu");
        var df = PacketTracer.Trace(policy, "red1", inputs.Single(i => i.Index == 1).Frame.Data);
        Assert.That((df.Explained.DropReason, df.Agrees), Is.EqualTo(("mtu_exceeded", true)));
        Assert.That(df.Steps.First(s => s.Stage == "mtu").Text, Is.EqualTo("IP packet 959 + overhead 42 = 1001 bytes > MTU 1000 of pnic0"));
        Assert.That(df.Explained.Egress.Single().Port, Is.EqualTo("red1"), "ICMP fragmentation needed back to the sender");

        var noDf = PacketTracer.Trace(policy, "red1", inputs.Single(i => i.Index == 4).Frame.Data);
        Assert.That((noDf.Explained.Fate, noDf.Agrees), Is.EqualTo((TraceFate.Forwarded, true)));
        Assert.That(noDf.Explained.Egress.Single(), Has.Property(nameof(TraceEgress.Port)).EqualTo("pnic0").And.Property(nameof(TraceEgress.Count)).EqualTo(3));
        Assert.That(noDf.Steps.Any(s => s.Text.StartsWith("no DF: fragmented into 3", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public void Without_a_static_neighbor_the_frame_waits_and_an_arp_request_goes_out()
    {
        var policy = PolicySnapshot.Build(Load(RedConfig(withNeighbor: false)));
        var result = PacketTracer.Trace(policy, "red1", RedUdp());

        Assert.That(result.Agrees, Is.True, result.ToString());
        Assert.That((result.Explained.Fate, result.Explained.Waiting), Is.EqualTo((TraceFate.Waiting, 1)));
        Assert.That(result.Explained.Summary, Does.StartWith("waiting for the MAC of next hop 192.168.1.11 on port pnic0"));
        Assert.That(result.Steps.Single(s => s.Stage == "tunnel").Tunnel!.NextHopMac, Is.Null);
        var request = Convert.FromHexString(result.Actual.Egress.Single(e => e.Port == "pnic0").Frames.Single());
        Assert.That(BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(12)), Is.EqualTo(0x0806), "an ARP request");
        Assert.That(request.AsSpan(0, 6).ToArray(), Is.EqualTo(Mac("FF-FF-FF-FF-FF-FF")));
        Assert.That(request.AsSpan(14 + 24, 4).ToArray(), Is.EqualTo(Addr("192.168.1.11")), "asking for the next hop");
        Assert.That(result.Notes[0], Does.Contain("fresh worker's state"));
    }

    [Test]
    public void A_frame_from_a_foreign_mac_is_a_spoofed_source()
    {
        var policy = PolicySnapshot.Build(Load(RedConfig(withNeighbor: true)));
        var frame = RedUdp();
        Mac("00-15-5D-00-00-99").CopyTo(frame, 6);

        var result = PacketTracer.Trace(policy, "red1", frame);

        Assert.That((result.Explained.DropReason, result.Actual.DropReason, result.Agrees), Is.EqualTo(("spoofed_source", "spoofed_source", true)));
        Assert.That(result.Steps.Single(s => s.Stage == "source").Text,
            Is.EqualTo("source MAC 00-15-5D-00-00-99 is not the port's MAC 00-15-5D-00-00-01 → spoofed_source"));
        Assert.That(result.Actual.Egress, Is.Empty);
    }

    [Test]
    public void The_result_serializes_to_json_and_renders_as_text()
    {
        var policy = PolicySnapshot.Build(Load(RedConfig(withNeighbor: true)));
        var result = PacketTracer.Trace(policy, "red1", RedUdp());

        using var json = JsonDocument.Parse(result.ToJson());
        var root = json.RootElement;
        Assert.That(root.GetProperty("port").GetString(), Is.EqualTo("red1"));
        Assert.That(root.GetProperty("explained").GetProperty("fate").GetString(), Is.EqualTo("forwarded"));
        Assert.That(root.GetProperty("actual").GetProperty("egress")[0].GetProperty("frames")[0].GetString(), Does.StartWith("0200000001 0b".Replace(" ", "", StringComparison.Ordinal)));
        Assert.That(root.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("stage").GetString()), Does.Contain("tunnel").And.Contain("destination"));
        Assert.That(root.GetProperty("agrees").GetBoolean(), Is.True);
        Assert.That(result.ToJson(indented: false), Does.Not.Contain("\n"));
        Assert.That(root.GetProperty("steps")[0].TryGetProperty("record", out _), Is.False, "nulls are left out");

        // The CLI's reflection-based serializer (camelCase options) gives the same document.
        string reflected = JsonSerializer.Serialize(result, CamelCase);
        Assert.That(JsonDocument.Parse(reflected).RootElement.GetProperty("explained").GetProperty("fate").GetString(), Is.EqualTo("forwarded"));

        string text = result.ToString();
        Assert.That(text, Does.StartWith("trace: 50-byte frame in on red1 (vm), policy version 1\n"));
        Assert.That(text, Does.Contain("tunnel").And.Contain("explained: forwarded — encapsulated to PA 192.168.1.11 via port pnic0"));
        Assert.That(text, Does.Contain("  sent on pnic0 #1: 02 00 00 00 01 0b"));
        Assert.That(text, Does.Contain("the explanation agrees with the forwarder"));
    }

    [Test]
    public void The_live_worker_is_not_touched()
    {
        var store = new PolicyStore(PolicySnapshot.Build(Load(RedConfig(withNeighbor: true))));
        var live = new Forwarder(store, new BufferPool(16));
        var buffer = live.Pool.Rent()!;
        buffer.TrySet(RedUdp());
        live.Process(1, buffer);
        long forwarded = live.Counters.Forwarded;
        long rx = live.Counters.TotalRx;
        int pending = live.PendingTransmit(0).Length;

        var result = PacketTracer.Trace(store.Current, "red1", RedUdp());

        Assert.That(result.Explained.Fate, Is.EqualTo(TraceFate.Forwarded));
        Assert.That((live.Counters.Forwarded, live.Counters.TotalRx, live.PendingTransmit(0).Length, live.Pool.Available), Is.EqualTo((forwarded, rx, pending, 15)));
    }

    [Test]
    public void Unknown_ports_and_impossible_frames_are_refused_with_what_would_do()
    {
        var policy = PolicySnapshot.Build(Load(RedConfig(withNeighbor: true)));
        Assert.That(() => PacketTracer.Trace(policy, "red9", RedUdp()), Throws.ArgumentException.With.Message.Contains("no port named 'red9'; the ports are pnic0, red1"));
        Assert.That(() => PacketTracer.Trace(policy, "red1", []), Throws.ArgumentException.With.Message.Contains("empty"));
        Assert.That(() => PacketTracer.Trace(policy, "red1", new byte[9217]), Throws.ArgumentException.With.Message.Contains("9217 bytes"));
        var runt = PacketTracer.Trace(policy, "red1", new byte[10]);
        Assert.That((runt.Explained.DropReason, runt.Agrees, runt.Outer), Is.EqualTo(("truncated", true, (TraceHeaders?)null)));
    }

    [TestCase("00155d000002 00155d000001 0800", "00155D00000200155D0000010800")]
    [TestCase("00:15:5d:00:00:02", "00155D000002")]
    [TestCase("  0a0B\n\t0c:0D\r\n", "0A0B0C0D")]
    public void Hex_frames_may_be_spaced_or_colon_separated(string text, string expected)
    {
        Assert.That(Convert.ToHexString(TraceInput.ParseHex(text)), Is.EqualTo(expected));
    }

    [TestCase("", "no frame: the hex string is empty")]
    [TestCase(" : ", "no frame: the hex string is empty")]
    [TestCase("00155", "5 hex digits: an odd count, and every byte takes two")]
    [TestCase("00 155 d0", "'155' at position 4 has 3 hex digits: an odd count, and every byte takes two")]
    [TestCase("0015zz", "'z' at position 5 is not a hex digit (0-9, a-f); spaces and colons may separate bytes")]
    [TestCase("0x0015", "'x' at position 2 is not a hex digit (0-9, a-f); spaces and colons may separate bytes")]
    public void Bad_hex_is_refused_with_where_and_why(string text, string message)
    {
        Assert.That(TraceInput.TryParseHex(text, out _, out string? error), Is.False);
        Assert.That(error, Is.EqualTo(message));
        Assert.That(() => TraceInput.ParseHex(text), Throws.TypeOf<FormatException>().With.Message.EqualTo(message));
    }

    [Test]
    public void Hex_longer_than_a_port_takes_is_refused()
    {
        Assert.That(TraceInput.TryParseHex(new string('a', 9216 * 2), out var ok, out _), Is.True);
        Assert.That(ok, Has.Length.EqualTo(9216));
        Assert.That(() => TraceInput.ParseHex(new string('a', 9217 * 2)), Throws.TypeOf<FormatException>().With.Message.EqualTo("9217 bytes: longer than the 9216 bytes a port takes in one frame"));
    }

    [Test]
    public async Task Capture_files_give_their_frames_or_say_what_is_wrong()
    {
        using var temp = new TempDir();
        string good = Path.Combine(temp.Path, "good.pcap");
        using (var w = PcapWriter.Create(good))
        {
            w.Write(1_700_000_000_000_000_000, RedUdp());
            w.Write(1_700_000_000_001_000_000, new byte[] { 1, 2, 3 });
        }

        var frames = await TraceInput.ReadCaptureAsync(good);
        Assert.That(frames.Select(f => f.Data.Length), Is.EqualTo(new[] { 50, 3 }));
        Assert.That(frames[0].TimestampNs, Is.EqualTo(1_700_000_000_000_000_000));
        Assert.That(await TraceInput.ReadCaptureAsync(good, maxFrames: 1), Has.Count.EqualTo(1));
        var traced = PacketTracer.TraceAll(PolicySnapshot.Build(Load(RedConfig(withNeighbor: true))), "red1", frames);
        Assert.That(traced.Select(t => t.Actual.DropReason), Is.EqualTo(new[] { null, "truncated" }));

        string empty = Path.Combine(temp.Path, "empty.pcap");
        using (PcapWriter.Create(empty))
        {
        }

        Assert.That(() => TraceInput.ReadCaptureAsync(empty), Throws.TypeOf<FormatException>().With.Message.EqualTo($"{empty}: the capture holds no frame"));

        string text = Path.Combine(temp.Path, "notes.txt");
        await File.WriteAllTextAsync(text, "not a capture at all");
        Assert.That(() => TraceInput.ReadCaptureAsync(text), Throws.TypeOf<FormatException>().With.Message.Contains("unknown magic"));

        string cut = Path.Combine(temp.Path, "cut.pcapng");
        using (var w = PcapNgWriter.Create(cut, "red1", snapLength: 20))
        {
            w.Write(0, RedUdp().AsSpan(0, 20), 50, PcapNgDirection.Inbound);
        }

        Assert.That(() => TraceInput.ReadCaptureAsync(cut), Throws.TypeOf<FormatException>().With.Message.EqualTo($"{cut}: frame 1: 20 of its 50 bytes were captured (snap length); a trace needs the whole frame"));

        string linux = Path.Combine(temp.Path, "cooked.pcap");
        var header = Hex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 71000000"); // LINKTYPE_LINUX_SLL (113)
        await File.WriteAllBytesAsync(linux, Concat(header, Hex("00000000 00000000 03000000 03000000 010203")));
        Assert.That(() => TraceInput.ReadCaptureAsync(linux), Throws.TypeOf<FormatException>().With.Message.EqualTo($"{linux}: frame 1: link type 113 is not Ethernet (1)"));
        Assert.That(() => TraceInput.ReadCaptureAsync(Path.Combine(temp.Path, "missing.pcap")), Throws.InstanceOf<IOException>());
    }

    private static byte[] RedUdp() => Concat(
        Eth("00-15-5D-00-00-02", "00-15-5D-00-00-01", 0x0800),
        Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(40000, 53, new byte[8])));

    private static string RedConfig(bool withNeighbor) => $$"""
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [ {{(withNeighbor ? """{ "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" }""" : string.Empty)}} ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ]
        }
        """;

    private static HostConfig Load(string json)
    {
        var loaded = ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return loaded.Config!;
    }

    private static readonly JsonSerializerOptions CamelCase = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private static readonly Dictionary<string, (PolicySnapshot, List<(string, int, CapturedFrame)>)> Loaded = [];

    /// <summary>Input i of a scenario has timestamp 1700000000 + i × 0.001 s (captures/README.md): its index in frames.txt.</summary>
    private const long ScenarioEpochNs = 1_700_000_000_000_000_000;

    /// <summary>A scenario's policy and its input frames: (port, index in frames.txt, frame).</summary>
    private static async Task<(PolicySnapshot Policy, List<(string Port, int Index, CapturedFrame Frame)> Inputs)> Scenario(string name)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(name, out var known))
            {
                return known;
            }
        }

        string dir = Path.Combine(TestPaths.Captures, name);
        using var scenario = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "scenario.json")));
        var load = ConfigLoader.LoadFile(Path.Combine(dir, "config.json"));
        Assert.That(load.Problems, Is.Empty);
        var inputs = new List<(string, int, CapturedFrame)>();
        foreach (var input in scenario.RootElement.GetProperty("inputs").EnumerateArray())
        {
            string port = input.GetProperty("port").GetString()!;
            var frames = await GoldenScenarioTests.ReadAll(Path.Combine(dir, input.GetProperty("file").GetString()!));
            inputs.AddRange(frames.Select(f => (port, (int)((f.TimestampNs - ScenarioEpochNs) / 1_000_000), f)));
        }

        var result = (PolicySnapshot.Build(load.Config!), inputs);
        lock (Loaded)
        {
            Loaded[name] = result;
        }

        return result;
    }
}
