using System.Text.Json;
using NvDataplane.Cli;

namespace NvDataplane.Tests.Cli;

/// <summary>The nvdp command line: exit codes, messages on stderr, JSON shapes of SPEC section 3.</summary>
public class CliTests
{
    internal static (int Code, string Out, string Err) Nvdp(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string Scenario(string name, string file) => Path.Combine(TestPaths.Captures, name, file);

    [Test]
    public void Validate_accepts_a_good_file()
    {
        var (code, output, _) = Nvdp("validate", "--config", Scenario("encap-ipv4", "config.json"));
        Assert.That(code, Is.Zero);
        Assert.That(output, Does.Contain("valid"));
    }

    [Test]
    public void Validate_reports_every_problem_with_its_path_and_exits_2()
    {
        using var temp = new TempDir();
        string path = Path.Combine(temp.Path, "bad.json");
        File.WriteAllText(path, """
            { "ports": [ { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 42 } ],
              "lookupRecords": [ { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "nope", "providerAddress": "192.168.1.10" } ] }
            """);
        var (code, _, err) = Nvdp("validate", "--config", path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("$.ports[0].virtualSubnetId: 42 is reserved; use 4096..16777214"));
        Assert.That(err, Does.Contain("$.lookupRecords[0].macAddress"));
    }

    [Test]
    public void Validate_json_lists_problems()
    {
        var (code, output, _) = Nvdp("validate", "--config", "/nonexistent/config.json", "--format", "json");
        Assert.That(code, Is.EqualTo(2));
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("valid").GetBoolean(), Is.False);
        Assert.That(doc.RootElement.GetProperty("problems").GetArrayLength(), Is.EqualTo(1));
    }

    [Test]
    public void Unknown_verb_or_missing_option_is_usage_error_2()
    {
        Assert.That(Nvdp("frobnicate").Code, Is.EqualTo(2));
        var (code, _, err) = Nvdp("replay", "--config", "x.json");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--in").Or.Contain("--out-dir"));
    }

    [Test]
    public void Replay_json_summary_has_the_spec_shape()
    {
        using var temp = new TempDir();
        var (code, output, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + Scenario("encap-ipv4", "in/red1.pcap"), "--out-dir", temp.Path, "--format", "json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        Assert.That(doc.RootElement.GetProperty("ports").GetProperty("red1").GetProperty("rx").GetInt64(), Is.EqualTo(6));
        Assert.That(doc.RootElement.GetProperty("ports").GetProperty("pnic0").GetProperty("tx").GetInt64(), Is.EqualTo(6));
        Assert.That(doc.RootElement.GetProperty("drops").EnumerateObject().Count(), Is.Zero);
        Assert.That(File.Exists(Path.Combine(temp.Path, "pnic0.pcap")), Is.True);
        Assert.That(File.Exists(Path.Combine(temp.Path, "red1.pcap")), Is.False, "ports that emit nothing get no file");
    }

    [Test]
    public void Replay_into_a_used_folder_leaves_no_file_of_an_earlier_run_for_a_port_that_emits_nothing()
    {
        using var temp = new TempDir();
        string stale = Path.Combine(temp.Path, "red1.pcap");
        string other = Path.Combine(temp.Path, "notes.txt");
        File.WriteAllBytes(stale, File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"))); // as an earlier run would have left it
        File.WriteAllText(other, "not ours");
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + Scenario("encap-ipv4", "in/red1.pcap"), "--out-dir", temp.Path);
        Assert.That(code, Is.Zero, err);
        Assert.That(File.Exists(Path.Combine(temp.Path, "pnic0.pcap")), Is.True);
        Assert.That(File.Exists(stale), Is.False, "red1 emitted nothing this run");
        Assert.That(File.ReadAllText(other), Is.EqualTo("not ours"), "files that are no port's are left alone");
    }

    [Test]
    public void Replay_ended_by_a_corrupt_capture_leaves_no_file_of_an_earlier_run_beside_its_own()
    {
        // The stale file was removed only when the run succeeded: it stood beside this run's partial output.
        using var temp = new TempDir();
        string outDir = Path.Combine(temp.Path, "out");
        Directory.CreateDirectory(outDir);
        string stale = Path.Combine(outDir, "blue1.pcap");
        File.WriteAllBytes(stale, File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap")));
        byte[] good = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"));
        string corrupt = Path.Combine(temp.Path, "red1.pcap");
        File.WriteAllBytes(corrupt, [.. good, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F]); // a record header past every limit

        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + corrupt, "--out-dir", outDir);

        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err, Does.Contain("byte offset"));
        Assert.That(File.Exists(stale), Is.False, "blue1 emitted nothing this run");
    }

    [Test]
    public void Replay_refuses_an_input_that_is_one_of_its_outputs_and_leaves_it_as_it_was()
    {
        using var temp = new TempDir();
        string input = Path.Combine(temp.Path, "red1.pcap");
        byte[] bytes = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"));
        File.WriteAllBytes(input, bytes);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", temp.Path);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("where port red1's output goes"));
        Assert.That(File.ReadAllBytes(input), Is.EqualTo(bytes), "the capture is untouched");
    }

    // blue1 emits nothing in encap-ipv4 (its stale output is removed at the end), pnic0 emits
    // (its output is created, truncating the file): through the link, both were the input.
    [TestCase("blue1.pcap")]
    [TestCase("pnic0.pcap")]
    public void Replay_refuses_an_out_dir_that_reaches_the_input_through_a_symbolic_link_and_leaves_it_as_it_was(string name)
    {
        using var temp = new TempDir();
        string folder = Path.Combine(temp.Path, "A");
        Directory.CreateDirectory(folder);
        string link = Path.Combine(temp.Path, "B");
        Directory.CreateSymbolicLink(link, "A");
        string input = Path.Combine(folder, name);
        byte[] bytes = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"));
        File.WriteAllBytes(input, bytes);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", link);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain($"where port {Path.GetFileNameWithoutExtension(name)}'s output goes"));
        Assert.That(File.Exists(input) ? File.ReadAllBytes(input) : null, Is.EqualTo(bytes), "the capture is untouched");
        Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { input }), "nothing was written");
    }

    [Test]
    public void Replay_refuses_an_output_that_is_a_hard_link_to_the_input_and_leaves_it_as_it_was()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("ln(1), inode numbers");
        }

        using var temp = new TempDir();
        string input = Path.Combine(temp.Path, "in.pcap");
        byte[] bytes = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"));
        File.WriteAllBytes(input, bytes);
        string outDir = Path.Combine(temp.Path, "out");
        Directory.CreateDirectory(outDir);
        var (exit, _, lnErr) = TestProcess.Run("ln", [input, Path.Combine(outDir, "pnic0.pcap")]);
        Assert.That(exit, Is.Zero, lnErr);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", outDir);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("where port pnic0's output goes"));
        Assert.That(File.ReadAllBytes(input), Is.EqualTo(bytes), "the capture is untouched");
    }

    [Test]
    public void Run_names_every_port_without_a_device_by_its_json_path_and_exits_2()
    {
        var (code, _, err) = Nvdp("run", "--config", Scenario("encap-ipv4", "config.json"), "--control", "off");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("$.ports[0].device: port pnic0 has no device").And.Contain("$.ports[1].device: port red1 has no device"));
        Assert.That(err, Does.Contain("afpacket:IFNAME, tap:NAME or pcap:NAME"));
    }

    [TestCase("validate")]
    [TestCase("replay")]
    [TestCase("demo")]
    [TestCase("bench")]
    public void A_format_other_than_text_or_json_is_bad_usage(string verb)
    {
        using var temp = new TempDir();
        string[] args = verb switch
        {
            "validate" => ["validate", "--config", Scenario("encap-ipv4", "config.json"), "--format", "xml"],
            "replay" => ["replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + Scenario("encap-ipv4", "in/red1.pcap"), "--out-dir", temp.Path, "--format", "yaml"],
            "demo" => ["demo", "--out-dir", temp.Path, "--format", "xml"],
            _ => ["bench", "--seconds", "0.1", "--format", "csv"],
        };
        var (code, output, err) = Nvdp(args);
        Assert.That(code, Is.EqualTo(2), output + err);
        Assert.That(err, Does.Contain("--format").Or.Contain("text").And.Contain("json"));
        Assert.That(Directory.GetFiles(temp.Path), Is.Empty, "nothing was run");
    }

    [Test]
    public void Replay_json_summary_counts_hits_per_acl_rule()
    {
        using var temp = new TempDir();
        var (code, output, err) = Nvdp("replay", "--config", Scenario("acl", "config.json"), "--in", "red1=" + Scenario("acl", "in/red1.pcap"), "--out-dir", temp.Path, "--format", "json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var acls = doc.RootElement.GetProperty("acls").EnumerateObject().Select(p => (p.Name, p.Value.GetInt64())).ToList();
        Assert.That(acls, Is.EqualTo(new[] { ("admin-ssh-to-red3", 1L), ("no-ssh-out", 3L), ("no-dns-in", 0L), ("no-v6-telnet", 1L), ("blue-no-icmp", 0L), ("5001/300", 1L) }),
            "every rule in file order, zeros too");
        Assert.That(doc.RootElement.GetProperty("drops").GetProperty("acl_deny").GetInt64(), Is.EqualTo(5));
    }

    [Test]
    public void Replay_json_summary_lists_the_learned_dynamic_records()
    {
        using var temp = new TempDir();
        var (code, output, err) = Nvdp("replay", "--config", Scenario("l2only", "config.json"), "--in", "l2vm=" + Scenario("l2only", "in/l2vm.pcap"), "--out-dir", temp.Path, "--format", "json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var learned = doc.RootElement.GetProperty("learned").EnumerateArray().Single();
        Assert.That(learned.GetProperty("virtualSubnetId").GetUInt32(), Is.EqualTo(5001));
        Assert.That(learned.GetProperty("customerAddress").GetString(), Is.EqualTo("10.1.1.50"));
        Assert.That(learned.GetProperty("macAddress").GetString(), Is.EqualTo("00-15-5D-00-00-20"));
        Assert.That(learned.GetProperty("providerAddress").GetString(), Is.EqualTo("192.168.1.10"));
        Assert.That(learned.GetProperty("type").GetString(), Is.EqualTo("Dynamic"));
        Assert.That(doc.RootElement.TryGetProperty("acls", out _), Is.True, "the existing keys stay");
    }

    [Test]
    public void Replay_with_reloads_reports_the_migration_counters_in_json_and_text()
    {
        using var temp = new TempDir();
        string[] args = ["replay", "--config", Scenario("migration", "config.json"),
            "--in", "pnic0=" + Scenario("migration", "in/pnic0.pcap"), "--in", "red3=" + Scenario("migration", "in/red3.pcap"),
            "--reload", "1700000000.005=" + Scenario("migration", "reload-1.json"), "--reload", "1700000000.020=" + Scenario("migration", "reload-2.json")];
        var (code, output, err) = Nvdp([.. args, "--out-dir", Path.Combine(temp.Path, "json"), "--format", "json"]);
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var migration = doc.RootElement.GetProperty("migration");
        Assert.That(migration.EnumerateObject().Select(p => p.Name).First(), Is.EqualTo("relayed"));
        Assert.That((migration.GetProperty("relayed").GetInt64(), migration.GetProperty("redirects_sent").GetInt64(), migration.GetProperty("unreachables_sent").GetInt64()), Is.EqualTo((5L, 4L, 3L)));
        Assert.That(doc.RootElement.TryGetProperty("learned", out _) && doc.RootElement.TryGetProperty("drops", out _), Is.True, "the existing keys stay");

        var (textCode, text, _) = Nvdp([.. args, "--out-dir", Path.Combine(temp.Path, "text")]);
        Assert.That(textCode, Is.Zero);
        Assert.That(text, Does.Contain("migration:").And.Match(@"relayed\s+5").And.Not.Contain("redirects_untrusted"), "nonzero counters only");
    }

    [TestCase("soon=x.json")]
    [TestCase("1700000000")]
    [TestCase("1700000000005000000=x.json", TestName = "A reload time in nanoseconds is a usage error, not an overflow")]
    public void A_reload_without_a_time_or_file_is_a_usage_error(string reload)
    {
        using var temp = new TempDir();
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + Scenario("encap-ipv4", "in/red1.pcap"), "--reload", reload, "--out-dir", temp.Path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--reload " + reload + ": use TIME=FILE"));
    }

    [Test]
    public void Replay_is_deterministic()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        string[] Args(string dir) => ["replay", "--config", Scenario("overlapping-tenants", "config.json"),
            "--in", "red1=" + Scenario("overlapping-tenants", "in/red1.pcap"), "--in", "blue1=" + Scenario("overlapping-tenants", "in/blue1.pcap"),
            "--in", "pnic0=" + Scenario("overlapping-tenants", "in/pnic0.pcap"), "--out-dir", dir];
        Assert.That(Nvdp(Args(a.Path)).Code, Is.Zero);
        Assert.That(Nvdp(Args(b.Path)).Code, Is.Zero);
        var files = Directory.GetFiles(a.Path).Select(Path.GetFileName).Order().ToList();
        Assert.That(files, Is.Not.Empty);
        foreach (var f in files)
        {
            Assert.That(File.ReadAllBytes(Path.Combine(b.Path, f!)), Is.EqualTo(File.ReadAllBytes(Path.Combine(a.Path, f!))), f);
        }
    }

    [Test]
    public void Replay_of_a_truncated_capture_names_the_file_and_offset_and_exits_1()
    {
        using var temp = new TempDir();
        string cut = Path.Combine(temp.Path, "cut.pcap");
        byte[] whole = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"));
        File.WriteAllBytes(cut, whole[..(whole.Length - 5)]);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + cut, "--out-dir", Path.Combine(temp.Path, "out"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.StartWith("nvdp: ").And.Contain("cut.pcap").And.Contain("byte offset"));
        Assert.That(err, Does.Not.Contain("Unhandled exception").And.Not.Contain("   at "), "a message, not a stack trace");
    }

    // Built as the audit's repro was: an IDB with a negative if_tsoffset (a frame 100 s before
    // 1970), or with if_tsresol 9 and a frame in 2201 (a long of ns holds it, pcap's 32-bit
    // seconds do not). Both reached PcapWriter, whose ArgumentOutOfRangeException was reported
    // as bad usage with a raw .NET message.
    [TestCase("0E00 0800 9C0EAC9AFFFFFFFF", "240A0600 00401E18", "timestamp outside 1970..2262")]
    [TestCase("0900 0100 09000000 00000000", "52CF4E65 00005AAC", "after 2106-02-07")]
    public void Replay_of_a_frame_stamped_outside_what_pcap_holds_names_the_file_and_offset_and_exits_1(string idbOptions, string ticks, string problem)
    {
        using var temp = new TempDir();
        string input = Path.Combine(temp.Path, "far.pcapng");
        byte[] frame = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"))[40..(40 + 74)];
        File.WriteAllBytes(input, [
            .. Io.CaptureBytes.Hex("0A0D0D0A 1C000000 4D3C2B1A 0100 0000 FFFFFFFFFFFFFFFF 1C000000"
                + "01000000 24000000 0100 0000 00000000" + idbOptions + "0000 0000 24000000"
                + "06000000 6C000000 00000000" + ticks + "4A000000 4A000000"),
            .. frame, 0, 0, .. Io.CaptureBytes.Hex("6C000000")]);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", Path.Combine(temp.Path, "out"));
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err, Does.StartWith($"nvdp: {input}: byte offset 64: ").And.Contain(problem));
        Assert.That(err, Does.Not.Contain("Specified argument").And.Not.Contain("   at "), "the file's problem, not .NET's");
    }

    // As the audit's repro: interface 0 Ethernet, interface 1 LINKTYPE_RAW (101); a frame on
    // each, the second (at 176) with no Ethernet header. The first was replayed, then the
    // message named neither the record nor the interface.
    [Test]
    public void Replay_of_a_pcapng_frame_on_a_non_ethernet_interface_names_its_offset_and_interface_and_exits_1()
    {
        using var temp = new TempDir();
        string input = Path.Combine(temp.Path, "mixed.pcapng");
        byte[] frame = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"))[40..(40 + 74)];
        File.WriteAllBytes(input, [
            .. Io.CaptureBytes.Hex("0A0D0D0A 1C000000 4D3C2B1A 0100 0000 FFFFFFFFFFFFFFFF 1C000000"
                + "01000000 14000000 0100 0000 00000000 14000000"
                + "01000000 14000000 6500 0000 00000000 14000000"
                + "06000000 6C000000 00000000 240A0600 00401E18 4A000000 4A000000"),
            .. frame, 0, 0,
            .. Io.CaptureBytes.Hex("6C000000 06000000 5C000000 01000000 240A0600 00401E18 3C000000 3C000000"),
            .. frame[14..], .. Io.CaptureBytes.Hex("5C000000")]);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", Path.Combine(temp.Path, "out"));
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err.TrimEnd(), Is.EqualTo($"nvdp: {input}: byte offset 176: interface 1's link type 101 is not Ethernet (1); replay reads Ethernet captures only"));
    }

    // An ICMP echo from red1 twice, 123 ns and 999 ns after 1,700,000,000 s: in a nanosecond
    // pcap, in a pcapng with if_tsresol 9 (as nvdp capture writes), and in a microsecond pcapng
    // (123 µs and 999 µs). The outputs were always microsecond pcap: the nanoseconds were cut.
    [TestCase("ns-pcap", "4D3CB2A1", 123L, 999L)]
    [TestCase("ns-pcapng", "4D3CB2A1", 123L, 999L)]
    [TestCase("us-pcapng", "D4C3B2A1", 123_000L, 999_000L)]
    public async Task Replay_outputs_keep_the_inputs_nanoseconds(string format, string magic, long first, long second)
    {
        using var temp = new TempDir();
        string input = Path.Combine(temp.Path, "in." + format);
        byte[] frame = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"))[40..(40 + 74)];
        byte[] Epb(string ticks) => [.. Io.CaptureBytes.Hex("06000000 6C000000 00000000" + ticks + "4A000000 4A000000"), .. frame, 0, 0, .. Io.CaptureBytes.Hex("6C000000")];
        const string Shb = "0A0D0D0A 1C000000 4D3C2B1A 0100 0000 FFFFFFFFFFFFFFFF 1C000000";
        File.WriteAllBytes(input, format switch
        {
            // 1,700,000,000 s = 0x6553F100; 1.7e18 ns = 0x17979CFE_362A0000 (+123 = 7B, +999 = 3E7).
            "ns-pcap" => [.. Io.CaptureBytes.Hex("4D3CB2A1 0200 0400 00000000 00000000 00000400 01000000 00F15365 7B000000 4A000000 4A000000"), .. frame,
                .. Io.CaptureBytes.Hex("00F15365 E7030000 4A000000 4A000000"), .. frame],
            "ns-pcapng" => [.. Io.CaptureBytes.Hex(Shb + "01000000 1C000000 0100 0000 00000400 0900 0100 09000000 1C000000"),
                .. Epb("FE9C9717 7B002A36"), .. Epb("FE9C9717 E7032A36")],
            // 1.7e15 µs = 0x00060A24_181E4000 (+123 = 7B, +999 = 3E7).
            _ => [.. Io.CaptureBytes.Hex(Shb + "01000000 14000000 0100 0000 00000400 14000000"), .. Epb("240A0600 7B401E18"), .. Epb("240A0600 E7431E18")],
        });
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", temp.Path);
        Assert.That(code, Is.Zero, err);
        string output = Path.Combine(temp.Path, "pnic0.pcap");
        Assert.That(Convert.ToHexString(File.ReadAllBytes(output)[..4]), Is.EqualTo(magic));
        var times = new List<long>();
        await using (var reader = NvDataplane.Io.CaptureReader.Open(output))
        {
            while (await reader.ReadNextAsync() is { } f)
            {
                times.Add(f.TimestampNs - 1_700_000_000_000_000_000L);
            }
        }

        Assert.That(times, Is.EqualTo(new[] { first, second }));
    }

    // Microsecond outputs were started from what the capture said before its first packet; an
    // interface with nanosecond timestamps described later is refused, not cut to microseconds.
    [Test]
    public void Replay_refuses_a_nanosecond_interface_described_after_the_first_packet()
    {
        using var temp = new TempDir();
        string input = Path.Combine(temp.Path, "late.pcapng");
        byte[] frame = File.ReadAllBytes(Scenario("encap-ipv4", "in/red1.pcap"))[40..(40 + 74)];
        File.WriteAllBytes(input, [
            .. Io.CaptureBytes.Hex("0A0D0D0A 1C000000 4D3C2B1A 0100 0000 FFFFFFFFFFFFFFFF 1C000000"
                + "01000000 14000000 0100 0000 00000400 14000000"
                + "06000000 6C000000 00000000 240A0600 00401E18 4A000000 4A000000"), .. frame, 0, 0,
            .. Io.CaptureBytes.Hex("6C000000 01000000 1C000000 0100 0000 00000400 0900 0100 09000000 1C000000"
                + "06000000 6C000000 01000000 FE9C9717 7B002A36 4A000000 4A000000"), .. frame, 0, 0, .. Io.CaptureBytes.Hex("6C000000")]);
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + input, "--out-dir", Path.Combine(temp.Path, "out"));
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err, Does.StartWith($"nvdp: {input}: byte offset 184: an interface with sub-microsecond timestamps is described after the first packet"));
    }

    [TestCase("/dev/zero", "reports no size")]
    [TestCase("/tmp", "is a directory")]
    public void Validate_of_a_device_or_a_directory_says_why_at_once(string path, string why)
    {
        // /dev/zero was read until the host ran out of memory.
        var (code, _, err) = Nvdp("validate", "--config", path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain(why).And.Not.Contain("   at "));
    }

    [TestCase("replay", "--config", "CONFIG", "--in", "red1=PCAP", "--out-dir", "")]
    [TestCase("demo", "--out-dir", "")]
    [TestCase("import-ps", "SCRIPT", "--out", "")]
    [TestCase("capture", "--port", "red1", "--count", "1", "-w", "")]
    [TestCase("trace", "--port", "red1", "--pcap", "")]
    [TestCase("stats", "--token-file", "")]
    [TestCase("validate", "--config", "")]
    public void An_empty_path_is_a_usage_error_naming_the_option_not_an_internal_error(params string[] args)
    {
        // Each printed "internal error, please report it" with a stack trace and exit 1.
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "s.ps1");
        File.WriteAllText(script, "New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24\n");
        string[] argv = [.. args.Select(a => a.Replace("CONFIG", Scenario("encap-ipv4", "config.json"), StringComparison.Ordinal).Replace("PCAP", Scenario("encap-ipv4", "in/red1.pcap"), StringComparison.Ordinal).Replace("SCRIPT", script, StringComparison.Ordinal)),
            .. args[0] is "capture" or "trace" or "stats" ? new[] { "--server", "unix:" + Path.Combine(temp.Path, "none.sock") } : []];

        var (code, _, err) = Nvdp(argv);

        string option = args[Array.IndexOf(args, "") - 1];
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain($"the path is empty; give a file or folder").And.Contain(option is "-w" ? "--write" : option).And.Not.Contain("   at "));
    }

    [TestCase("replay", "--config", "CONFIG", "--in", "red1=PCAP", "--out-dir", "FILE", "that is a file; give a folder")]
    [TestCase("demo", "--out-dir", "FILE", "that is a file; give a folder")]
    [TestCase("import-ps", "SCRIPT", "--out", "DIR", "that is a folder; give a file")]
    [TestCase("capture", "--port", "red1", "--count", "1", "-w", "DIR", "that is a folder; give a file")]
    [TestCase("replay", "--config", "CONFIG", "--in", "red1=DIR", "--out-dir", "OUT", "--in red1=DIR: that is a folder; give a capture file")]
    public void A_file_given_for_a_folder_or_a_folder_for_a_file_is_a_usage_error_that_says_so(params string[] args)
    {
        // .NET said "The file ... already exists" for a file as --out-dir, and "Access to the
        // path is denied" for a folder as -o / -w (capture after taking the frames from the
        // daemon); --in PORT=FOLDER said "no such file".
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "s.ps1");
        File.WriteAllText(script, "New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24\n");
        string file = Path.Combine(temp.Path, "a-file");
        File.WriteAllText(file, "kept");
        string dir = Path.Combine(temp.Path, "a-dir");
        Directory.CreateDirectory(dir);
        string Fill(string a) => a.Replace("CONFIG", Scenario("encap-ipv4", "config.json"), StringComparison.Ordinal).Replace("PCAP", Scenario("encap-ipv4", "in/red1.pcap"), StringComparison.Ordinal)
            .Replace("SCRIPT", script, StringComparison.Ordinal).Replace("FILE", file, StringComparison.Ordinal).Replace("DIR", dir, StringComparison.Ordinal).Replace("OUT", Path.Combine(temp.Path, "out"), StringComparison.Ordinal);
        string[] argv = [.. args[..^1].Select(Fill), .. args[0] is "capture" ? new[] { "--server", "unix:" + Path.Combine(temp.Path, "none.sock") } : []];

        var (code, _, err) = Nvdp(argv);

        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(Fill(args[^1])).And.Not.Contain("   at "));
        Assert.That(File.ReadAllText(file), Is.EqualTo("kept"));
        Assert.That(Directory.EnumerateFileSystemEntries(dir), Is.Empty);
    }

    [Test]
    public void Replay_says_which_option_names_a_folder_it_cannot_create()
    {
        // It said only "Could not find file '/proc/nvdp-no'", without naming --out-dir.
        using var temp = new TempDir();
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "red1=" + Scenario("encap-ipv4", "in/red1.pcap"), "--out-dir", "/proc/nvdp-no");
        Assert.That(code, Is.EqualTo(1), err);
        Assert.That(err, Does.StartWith("nvdp: --out-dir /proc/nvdp-no: cannot create the folder: ").And.Not.Contain("   at "));
    }

    [Test]
    public void Import_ps_refuses_to_write_over_the_script_it_reads()
    {
        // The script was replaced by the configuration, exit 0.
        using var temp = new TempDir();
        string script = Path.Combine(temp.Path, "hv.ps1");
        string text = "New-NetVirtualizationProviderAddress -InterfaceIndex 3 -ProviderAddress 192.168.1.10 -PrefixLength 24\n";
        File.WriteAllText(script, text);
        File.CreateSymbolicLink(Path.Combine(temp.Path, "link.json"), script);

        foreach (string output in new[] { script, Path.Combine(temp.Path, ".", "hv.ps1"), Path.Combine(temp.Path, "link.json") })
        {
            var (code, _, err) = Nvdp("import-ps", script, "-o", output);
            Assert.That(code, Is.EqualTo(2), output);
            Assert.That(err, Does.Contain("is the script being imported"), output);
            Assert.That(File.ReadAllText(script), Is.EqualTo(text), output);
        }
    }

    [TestCase("--seconds", "NaN")]
    [TestCase("--seconds", "Infinity")]
    public void Bench_refuses_a_duration_that_is_not_a_number(string option, string value)
    {
        var (code, _, err) = Nvdp("bench", option, value);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--seconds in (0, 600]"));

        (code, _, err) = Nvdp("bench", "--churn", option, value);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--seconds in (0, 600]"));
    }

    [Test]
    public void Bench_churn_refuses_a_rate_that_is_not_a_number()
    {
        var (code, _, err) = Nvdp("bench", "--churn", "--churn-rate", "NaN");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("a finite --churn-rate >= 0"));
    }

    [Test]
    public void Files_past_their_limit_are_refused_before_they_fill_memory()
    {
        // trace --pcap and --token-file read /dev/zero until the CLI ran out of memory (exit 134).
        using var temp = new TempDir();
        string big = Path.Combine(temp.Path, "big.pcap");
        using (var f = File.Create(big))
        {
            f.SetLength(33L * 1024 * 1024);
        }

        string server = "unix:" + Path.Combine(temp.Path, "none.sock");
        var (code, _, err) = Nvdp("trace", "--server", server, "--port", "red1", "--pcap", big);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("is 33 MiB, more than the 32 MiB read at most"));

        (code, _, err) = Nvdp("stats", "--server", server, "--token-file", "/dev/zero");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("reports no size and goes on past 4096 bytes"));

        string config = Path.Combine(temp.Path, "big.json");
        using (var f = File.Create(config))
        {
            f.SetLength(129L * 1024 * 1024);
        }

        (code, _, err) = Nvdp("validate", "--config", config);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("is 129 MiB, more than the 128 MiB read at most"));
    }

    [Test]
    public void Validate_refuses_a_file_that_is_not_utf8_and_says_where()
    {
        // Read as text, 0xFF became U+FFFD and the file was valid: host "h\uFFFD".
        using var temp = new TempDir();
        string path = Path.Combine(temp.Path, "latin1.json");
        File.WriteAllBytes(path, [.. "{\n  \"host\": { \"name\": \"h"u8, 0xFF, .. "\" }\n}\n"u8]);
        var (code, _, err) = Nvdp("validate", "--config", path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Is.EqualTo($"{path}: $: configuration file \"{path}\" is not UTF-8 text: byte 0xFF at line 2, byte 23; save it as UTF-8\n"));
    }

    [Test]
    public void Validate_reads_a_file_with_a_utf8_or_utf16_byte_order_mark()
    {
        using var temp = new TempDir();
        string text = File.ReadAllText(Scenario("encap-ipv4", "config.json"));
        foreach (var (name, encoding) in new (string, System.Text.Encoding)[] { ("utf8", new System.Text.UTF8Encoding(true)), ("utf16", System.Text.Encoding.Unicode) })
        {
            string path = Path.Combine(temp.Path, name + ".json");
            File.WriteAllBytes(path, [.. encoding.Preamble, .. encoding.GetBytes(text)]);
            var (code, output, err) = Nvdp("validate", "--config", path);
            Assert.That(code, Is.Zero, name + ": " + err);
            Assert.That(output, Does.Contain(": valid: "), name);
        }
    }

    [Test]
    public void Replay_into_an_unknown_port_is_a_usage_error()
    {
        using var temp = new TempDir();
        var (code, _, err) = Nvdp("replay", "--config", Scenario("encap-ipv4", "config.json"), "--in", "green9=" + Scenario("encap-ipv4", "in/red1.pcap"), "--out-dir", temp.Path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("green9"));
    }

    [Test]
    public void Bench_json_reports_the_spec_keys_and_allocates_nothing_per_packet()
    {
        // In its own process, as an operator runs it: GC counts are process-wide, and other
        // tests in this process allocate.
        var (exit, output, error) = TestProcess.Run(Path.Combine(AppContext.BaseDirectory, "nvdp"),
            ["bench", "--scenario", "encap", "--records", "100", "--seconds", "0.3", "--format", "json"]);
        Assert.That(exit, Is.Zero, error);
        using var doc = JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.That(r.GetProperty("mpps").GetDouble(), Is.GreaterThan(0));
        Assert.That(r.GetProperty("nsPerPacket").GetDouble(), Is.GreaterThan(0));
        Assert.That(r.GetProperty("allocatedBytesPerPacket").GetDouble(), Is.LessThan(0.01));
        Assert.That(r.GetProperty("gcCollections").GetInt32(), Is.Zero);
    }

    [Test]
    public void Bench_churn_applies_changes_through_the_api_while_forwarding_and_reports_them_in_json()
    {
        // Its own process: the benchmark pins threads and reads process-wide GC figures.
        var (exit, output, error) = TestProcess.Run(Path.Combine(AppContext.BaseDirectory, "nvdp"),
            ["bench", "--churn", "--records", "100", "--seconds", "2", "--churn-batch", "100", "--format", "json"]);
        Assert.That(exit, Is.Zero, error);
        using var doc = JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.That(r.GetProperty("windowPairs").GetInt32(), Is.EqualTo(1));
        Assert.That(r.GetProperty("changes").GetInt64(), Is.GreaterThan(0), "changes were applied in the on window");
        Assert.That(r.GetProperty("refusedRequests").GetInt64(), Is.Zero);
        Assert.That(r.GetProperty("fastVersions").GetInt64(), Is.EqualTo(r.GetProperty("versions").GetInt64()).And.GreaterThan(0), "every version of PA sets takes the fast path");
        Assert.That(r.GetProperty("baselineMpps").GetDouble(), Is.GreaterThan(0));
        Assert.That(r.GetProperty("churnMpps").GetDouble(), Is.GreaterThan(0));
    }

    [Test]
    public void Demo_keeps_tenants_apart_and_writes_pcaps()
    {
        using var temp = new TempDir();
        var (code, output, err) = Nvdp("demo", "--out-dir", temp.Path, "--format", "json");
        Assert.That(code, Is.Zero, err);
        using var doc = JsonDocument.Parse(output);
        var steps = doc.RootElement.GetProperty("steps").EnumerateArray().ToList();
        string Result(int i) => steps[i].GetProperty("result").GetString()!;
        Assert.That(Result(1), Is.EqualTo("delivered to red2 on hv2"));
        Assert.That(Result(4), Is.EqualTo("delivered to blue2 on hv2"));
        Assert.That(steps[1].GetProperty("wire").GetString(), Does.Contain("VSID 5001"));
        Assert.That(steps[4].GetProperty("wire").GetString(), Does.Contain("VSID 6001"));
        Assert.That(Result(11), Is.EqualTo("dropped on hv1: isolation"));
        foreach (var s in steps)
        {
            string from = s.GetProperty("from").GetString()!;
            string other = from.StartsWith("blue", StringComparison.Ordinal) ? "to red" : "to blue";
            Assert.That(s.GetProperty("result").GetString(), Does.Not.Contain(other), $"step {s.GetProperty("number")}: nothing crosses tenants");
        }
        Assert.That(File.Exists(Path.Combine(temp.Path, "wire.pcap")), Is.True);
    }
}
