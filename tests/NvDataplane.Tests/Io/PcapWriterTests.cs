using NvDataplane.Io;
using static NvDataplane.Tests.Io.CaptureBytes;

namespace NvDataplane.Tests.Io;

public class PcapWriterTests
{
    private string _directory = string.Empty;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "nvdp-io-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void Global_header_and_record_match_the_published_layout()
    {
        using var output = new MemoryStream();
        using (var writer = new PcapWriter(output, leaveOpen: true))
        {
            // 1600000000.123456789 s: ts_usec keeps 123456, the nanoseconds below are dropped.
            writer.Write(1_600_000_000_123_456_789L, Hex("AABB"));
        }

        byte[] expected = Hex(
            // magic a1b2c3d4 LE, 2.4, thiszone 0, sigfigs 0, snaplen 262144, linktype 1
            "D4C3B2A1 0200 0400 00000000 00000000 00000400 01000000" +
            // ts_sec 1600000000, ts_usec 123456 = 0x0001E240, incl 2, orig 2, data
            "00105E5F 40E20100 02000000 02000000 AABB");
        Assert.That(output.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void Nanosecond_file_has_the_nanosecond_magic_and_keeps_every_nanosecond()
    {
        using var output = new MemoryStream();
        using (var writer = new PcapWriter(output, leaveOpen: true, nanoseconds: true))
        {
            writer.Write(1_600_000_000_123_456_789L, Hex("AABB"));
        }

        byte[] expected = Hex(
            // magic a1b23c4d LE, 2.4, thiszone 0, sigfigs 0, snaplen 262144, linktype 1
            "4D3CB2A1 0200 0400 00000000 00000000 00000400 01000000" +
            // ts_sec 1600000000, ts_nsec 123456789 = 0x075BCD15, incl 2, orig 2, data
            "00105E5F 15CD5B07 02000000 02000000 AABB");
        Assert.That(output.ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void Same_calls_give_byte_identical_files()
    {
        static byte[] WriteSample()
        {
            using var output = new MemoryStream();
            using (var writer = new PcapWriter(output, leaveOpen: true))
            {
                var random = new Random(7);
                for (int i = 0; i < 500; i++)
                {
                    var frame = new byte[random.Next(0, 2000)];
                    random.NextBytes(frame);
                    writer.Write(1_700_000_000_000_000_000L + (i * 1_234_567L), frame);
                }
            }

            return output.ToArray();
        }

        byte[] first = WriteSample();
        byte[] second = WriteSample();
        Assert.That(second, Is.EqualTo(first));
    }

    [Test]
    public void Records_are_buffered_until_flush_or_dispose()
    {
        using var output = new MemoryStream();
        var writer = new PcapWriter(output, leaveOpen: true);
        writer.Write(0, new byte[100]);
        Assert.That(output.Length, Is.Zero);
        writer.Flush();
        Assert.That(output.Length, Is.EqualTo(24 + 16 + 100));
        writer.Write(0, new byte[10]);
        writer.Dispose();
        Assert.That(output.Length, Is.EqualTo(24 + 16 + 100 + 16 + 10));
        Assert.That(() => writer.Write(0, new byte[1]), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void Refuses_what_pcap_cannot_hold()
    {
        using var writer = new PcapWriter(new MemoryStream());
        Assert.That(() => writer.Write(-1, new byte[1]), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => writer.Write((uint.MaxValue + 1L) * 1_000_000_000L, new byte[1]), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => writer.Write(0, new byte[262_145]), Throws.ArgumentException);
    }

    [Test]
    public async Task Round_trip_through_a_file()
    {
        string path = Path.Combine(_directory, "round.pcap");
        var random = new Random(11);
        int[] sizes = [0, 1, 60, 1514, 9000, 65_535, 70_000, 262_144, 14];
        var written = new List<(long TimestampNs, byte[] Frame)>();
        await using (PcapWriter writer = PcapWriter.Create(path))
        {
            long timestamp = 1_600_000_000_000_000_000L;
            foreach (int size in sizes)
            {
                var frame = new byte[size];
                random.NextBytes(frame);
                timestamp += random.Next(1, 2_000_000_000);
                writer.Write(timestamp, frame);
                written.Add((timestamp, frame));
            }
        }

        var read = new List<CapturedFrame>();
        await using (CaptureReader reader = CaptureReader.Open(path))
        {
            while (await reader.ReadNextAsync() is { } frame)
            {
                read.Add(frame);
            }
        }

        Assert.That(read, Has.Count.EqualTo(written.Count));
        for (int i = 0; i < written.Count; i++)
        {
            Assert.That(read[i].TimestampNs, Is.EqualTo(written[i].TimestampNs / 1_000 * 1_000), $"frame {i}");
            Assert.That(read[i].Data, Is.EqualTo(written[i].Frame), $"frame {i}");
            Assert.That(read[i].OriginalLength, Is.EqualTo(written[i].Frame.Length), $"frame {i}");
            Assert.That(read[i].LinkType, Is.EqualTo((ushort)1), $"frame {i}");
        }
    }
}
