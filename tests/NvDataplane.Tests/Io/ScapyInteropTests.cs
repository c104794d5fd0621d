using System.Diagnostics;
using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

/// <summary>
/// Captures written by another tool (scapy, from Debian's python3-scapy) must read back with the
/// bytes and timestamps scapy says it wrote. Ignored where python3-scapy is not installed.
/// </summary>
public class ScapyInteropTests
{
    private const string Python = "/usr/bin/python3";

    // Writes scapy.pcap (wrpcap) and, where this scapy has it, scapy.pcapng (PcapNgWriter) into argv[1],
    // and prints each frame's bytes as scapy builds them. Times are exact in binary floating point.
    private const string Script = """
        import os, sys
        from scapy.all import Ether, IP, UDP, Raw, wrpcap
        out = sys.argv[1]
        p1 = Ether(dst="00:15:5d:00:00:01", src="00:15:5d:00:00:02") / IP(src="10.1.1.7", dst="10.1.1.8") / UDP(sport=1234, dport=5678) / Raw(b"hello")
        p1.time = 1600000000.5
        p2 = Ether(dst="00:15:5d:00:00:02", src="00:15:5d:00:00:01") / IP(src="10.1.1.8", dst="10.1.1.7") / UDP(sport=5678, dport=1234) / Raw(b"world!!")
        p2.time = 1600000001.25
        wrpcap(os.path.join(out, "scapy.pcap"), [p1, p2])
        print("frame " + bytes(p1).hex())
        print("frame " + bytes(p2).hex())
        try:
            from scapy.utils import PcapNgWriter
        except ImportError:
            print("pcapng no")
        else:
            w = PcapNgWriter(os.path.join(out, "scapy.pcapng"))
            w.write(p1)
            w.write(p2)
            w.close()
            print("pcapng yes")
        """;

    private static readonly long[] ExpectedTimestampsNs = [1_600_000_000_500_000_000L, 1_600_000_001_250_000_000L];

    private string _directory = string.Empty;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "nvdp-io-scapy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public async Task Pcap_and_pcapng_written_by_scapy_read_back()
    {
        if (!File.Exists(Python) || (await RunPythonAsync("-c", "import scapy")).ExitCode != 0)
        {
            Assert.Ignore("python3-scapy is not installed (apt-get install python3-scapy)");
        }

        (int exitCode, string output, string errors) = await RunPythonAsync("-c", Script, _directory);
        Assert.That(exitCode, Is.Zero, errors);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        byte[][] expectedFrames = [.. lines.Where(l => l.StartsWith("frame ", StringComparison.Ordinal)).Select(l => Convert.FromHexString(l["frame ".Length..]))];
        Assert.That(expectedFrames, Has.Length.EqualTo(2));

        await AssertFramesAsync(Path.Combine(_directory, "scapy.pcap"), expectedFrames);

        if (!lines.Contains("pcapng yes"))
        {
            Assert.Ignore("this scapy has no PcapNgWriter; the pcap part passed");
        }

        await AssertFramesAsync(Path.Combine(_directory, "scapy.pcapng"), expectedFrames);
    }

    private static async Task AssertFramesAsync(string path, byte[][] expectedFrames)
    {
        var frames = new List<CapturedFrame>();
        await using (CaptureReader reader = CaptureReader.Open(path))
        {
            while (await reader.ReadNextAsync() is { } frame)
            {
                frames.Add(frame);
            }
        }

        Assert.That(frames, Has.Count.EqualTo(expectedFrames.Length), path);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.That(frames[i].Data, Is.EqualTo(expectedFrames[i]), $"{path} frame {i}");
            Assert.That(frames[i].OriginalLength, Is.EqualTo(expectedFrames[i].Length), $"{path} frame {i}");
            Assert.That(frames[i].TimestampNs, Is.EqualTo(ExpectedTimestampsNs[i]), $"{path} frame {i}");
            Assert.That(frames[i].LinkType, Is.EqualTo((ushort)1), $"{path} frame {i}");
        }
    }

    private static Task<(int ExitCode, string Output, string Errors)> RunPythonAsync(params string[] arguments) =>
        Task.FromResult(TestProcess.Run(Python, arguments, TimeSpan.FromMinutes(5)));
}
