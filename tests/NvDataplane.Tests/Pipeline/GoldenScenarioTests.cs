using System.Buffers.Binary;
using System.Text.Json;
using NvDataplane.Io;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Replays every scenario in captures/ through the real pipeline and compares what each port
/// emits, byte for byte, with the outputs the independent scapy script wrote (FlowID byte and
/// outer IPv6 flow label masked), and the summary with the scenario's expected counts.
/// </summary>
public class GoldenScenarioTests
{
    public static IEnumerable<string> Scenarios => TestPaths.ScenarioNames();

    [TestCaseSource(nameof(Scenarios))]
    public async Task Replay_matches_the_scapy_oracle(string name)
    {
        string dir = Path.Combine(TestPaths.Captures, name);
        using var scenario = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "scenario.json")));
        var run = Load(dir, scenario.RootElement);
        using var temp = new TempDir();

        var summary = await ReplayRunner.RunAsync(run.Config, run.Inputs, temp.Path, run.Reloads);

        var expected = scenario.RootElement.GetProperty("expected");
        foreach (var port in expected.GetProperty("ports").EnumerateObject())
        {
            Assert.That(summary.Ports[port.Name].Rx, Is.EqualTo(port.Value.GetProperty("rx").GetInt64()), $"{port.Name} rx");
            Assert.That(summary.Ports[port.Name].Tx, Is.EqualTo(port.Value.GetProperty("tx").GetInt64()), $"{port.Name} tx");
        }

        var expectedDrops = expected.GetProperty("drops").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        Assert.That(summary.Drops, Is.EquivalentTo(expectedDrops), "drops by reason");

        // Hits per ACL rule, every rule of the config in file order (no "acls": the config has none).
        var expectedAcls = expected.TryGetProperty("acls", out var acls) ? acls.EnumerateObject().Select(p => (p.Name, p.Value.GetInt64())).ToList() : [];
        Assert.That(summary.Acls.Select(a => (a.Key, a.Value)), Is.EqualTo(expectedAcls), "hits per ACL rule");

        // The Dynamic records learned from L2Only VMs (FORWARDING section 7); no "learned": none.
        var expectedLearned = expected.TryGetProperty("learned", out var learned)
            ? learned.EnumerateArray().Select(l => $"{l.GetProperty("virtualSubnetId").GetUInt32()} {l.GetProperty("customerAddress").GetString()} {l.GetProperty("macAddress").GetString()} {l.GetProperty("providerAddress").GetString()} {l.GetProperty("type").GetString()}").ToList()
            : [];
        Assert.That(summary.Learned.Select(l => $"{l.Vsid} {l.CustomerAddress} {l.MacAddress} {l.ProviderAddress} Dynamic"), Is.EqualTo(expectedLearned), "learned bindings");

        // Live migration counters (FORWARDING section 8), every one by name; no "migration": all zero.
        var expectedMigration = expected.TryGetProperty("migration", out var migration)
            ? migration.EnumerateObject().Select(p => (p.Name, p.Value.GetInt64())).ToList()
            : summary.Migration.Select(m => (m.Key, 0L)).ToList();
        Assert.That(summary.Migration.Select(m => (m.Key, m.Value)), Is.EqualTo(expectedMigration), "migration counters");

        string expectedDir = Path.Combine(dir, "expected");
        var expectedFiles = Directory.Exists(expectedDir) ? Directory.GetFiles(expectedDir, "*.pcap").Select(Path.GetFileName).Order().ToList() : [];
        var actualFiles = Directory.GetFiles(temp.Path, "*.pcap").Select(Path.GetFileName).Order().ToList();
        Assert.That(actualFiles, Is.EqualTo(expectedFiles), "ports that emitted frames");
        foreach (var file in expectedFiles)
        {
            var want = await ReadAll(Path.Combine(expectedDir, file!));
            var got = await ReadAll(Path.Combine(temp.Path, file!));
            Assert.That(got, Has.Count.EqualTo(want.Count), $"{file}: frame count");
            for (int i = 0; i < want.Count; i++)
            {
                Assert.That(got[i].TimestampNs / 1000, Is.EqualTo(want[i].TimestampNs / 1000), $"{file} frame {i}: timestamp");
                Assert.That(Hex(Masked(got[i].Data)), Is.EqualTo(Hex(Masked(want[i].Data))), $"{file} frame {i}: bytes");
            }
        }
    }

    internal sealed record ScenarioRun(HostConfig Config, List<ReplayInput> Inputs, List<ReplayReload> Reloads);

    /// <summary>A scenario's config, its inputs in replay order and its policy reloads (<c>"reloads"</c>: at which time which file replaces the policy).</summary>
    internal static ScenarioRun Load(string dir, JsonElement scenario)
    {
        static HostConfig Valid(string path)
        {
            var load = ConfigLoader.LoadFile(path);
            Assert.That(load.Problems, Is.Empty, $"{path} must be valid");
            return load.Config!;
        }

        var inputs = scenario.GetProperty("inputs").EnumerateArray()
            .Select(i => new ReplayInput(i.GetProperty("port").GetString()!, Path.Combine(dir, i.GetProperty("file").GetString()!)))
            .ToList();
        var reloads = scenario.TryGetProperty("reloads", out var r)
            ? r.EnumerateArray().Select(x => new ReplayReload(x.GetProperty("atNs").GetInt64(), Valid(Path.Combine(dir, x.GetProperty("config").GetString()!)), x.GetProperty("config").GetString()!)).ToList()
            : [];
        return new ScenarioRun(Valid(Path.Combine(dir, "config.json")), inputs, reloads);
    }

    internal static async Task<List<CapturedFrame>> ReadAll(string path)
    {
        var frames = new List<CapturedFrame>();
        await using var reader = CaptureReader.Open(path);
        while (await reader.ReadNextAsync() is { } f)
        {
            frames.Add(f);
        }

        return frames;
    }

    private static string Hex(byte[] b) => Convert.ToHexString(b);

    /// <summary>Zeroes the NVGRE FlowID byte and the outer IPv6 flow label, which the oracle leaves 0.</summary>
    internal static byte[] Masked(byte[] frame)
    {
        var f = (byte[])frame.Clone();
        int l3 = 14;
        if (f.Length < 14)
        {
            return f;
        }

        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
        if (type == 0x8100 && f.Length >= 18)
        {
            type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(16));
            l3 = 18;
        }

        int gre = -1;
        if (type == 0x0800 && f.Length >= l3 + 20 && f[l3 + 9] == 47)
        {
            gre = l3 + ((f[l3] & 0x0F) * 4);
        }
        else if (type == 0x86DD && f.Length >= l3 + 40 && f[l3 + 6] == 47)
        {
            f[l3 + 1] &= 0xF0;
            f[l3 + 2] = 0;
            f[l3 + 3] = 0;
            gre = l3 + 40;
        }

        if (gre >= 0 && f.Length >= gre + 8 && BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(gre + 2)) == 0x6558)
        {
            f[gre + 7] = 0;
        }

        return f;
    }
}
