using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using NvDataplane.Io;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// An independent decoder over every pcap nvdp writes in the scenarios: tshark, with IP, TCP and
/// UDP checksum validation on, must report no malformed packet and no bad checksum, and must see
/// on every NVGRE frame the GRE key whose VSID nvdp's policy chose (read from the frame we wrote,
/// compared with tshark's own decode), and must decode every UDP 67 → 68 frame as DHCP with a
/// verified good UDP checksum.
/// </summary>
public class TsharkCheckTests
{
    public static IEnumerable<string> Scenarios => TestPaths.ScenarioNames();

    [TestCaseSource(nameof(Scenarios))]
    public async Task Tshark_decodes_every_output_cleanly(string name)
    {
        Assume.That(File.Exists("/usr/bin/tshark"), "tshark is installed by .ci/setup-deps");
        string dir = Path.Combine(TestPaths.Captures, name);
        using var scenario = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "scenario.json")));
        var run = GoldenScenarioTests.Load(dir, scenario.RootElement);
        var config = run.Config;
        using var temp = new TempDir();
        await ReplayRunner.RunAsync(config, run.Inputs, temp.Path, run.Reloads);
        int dhcpReplies = 0;

        foreach (string pcap in Directory.GetFiles(temp.Path, "*.pcap"))
        {
            var frames = await GoldenScenarioTests.ReadAll(pcap);
            string fields = RunTshark(pcap, "-T", "fields", "-e", "frame.number", "-e", "gre.key", "-e", "_ws.expert.message",
                "-e", "udp.srcport", "-e", "dhcp.option.dhcp", "-e", "udp.checksum.status", "-E", "separator=|");
            var lines = fields.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(frames.Count), $"{name}/{Path.GetFileName(pcap)}: tshark frame count");
            for (int i = 0; i < lines.Length; i++)
            {
                var cols = lines[i].Split('|');
                string expert = cols.Length > 2 ? cols[2] : string.Empty;
                Assert.That(expert, Does.Not.Contain("Malformed").And.Not.Contain("incorrect").And.Not.Contain("Bad checksum").IgnoreCase,
                    $"{name}/{Path.GetFileName(pcap)} frame {i + 1}: {expert}");
                uint? ourKey = GreKey(frames[i].Data);
                if (ourKey is uint key)
                {
                    Assert.That(cols[1], Is.Not.Empty, $"{name} frame {i + 1}: tshark saw no GRE key");
                    Assert.That(Convert.ToUInt32(cols[1].Split(',')[0], 16), Is.EqualTo(key), $"{name} frame {i + 1}: GRE key");
                    Assert.That(key >> 8, Is.AnyOf(config.LookupRecords.Select(r => r.VirtualSubnetId).Distinct().Cast<object>().ToArray()), "VSID from the policy");
                }

                if (cols.Length > 5 && cols[3] == "67")
                {
                    dhcpReplies++;
                    Assert.That(cols[4], Is.AnyOf("2", "5", "6"), $"{name} frame {i + 1}: tshark decodes an OFFER, ACK or NAK");
                    Assert.That(cols[5], Is.EqualTo("1"), $"{name} frame {i + 1}: UDP checksum verified good");
                }
            }
        }

        if (name == "dhcp")
        {
            Assert.That(dhcpReplies, Is.GreaterThan(0), "the DHCP replies were looked at");
        }
    }

    private static uint? GreKey(byte[] f)
    {
        int l3 = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12)) == 0x8100 ? 18 : 14;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(l3 - 2));
        int gre = type == 0x0800 && f[l3 + 9] == 47 ? l3 + ((f[l3] & 0xF) * 4) : type == 0x86DD && f[l3 + 6] == 47 ? l3 + 40 : -1;
        return gre < 0 ? null : BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(gre + 4));
    }

    internal static string RunTshark(string pcap, params string[] args)
    {
        var (exit, output, error) = TestProcess.Run("/usr/bin/tshark",
            new[] { "-n", "-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE" }.Concat(args));
        Assert.That(exit, Is.Zero, error);
        return output;
    }
}
