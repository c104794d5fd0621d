using System.Buffers.Binary;
using System.Diagnostics;
using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

/// <summary>
/// A capture several times larger than the memory bound is written and read back; memory is
/// sampled along the way. This asserts a memory bound, never a duration.
/// </summary>
public class CaptureStreamingTests
{
    private const long FileSize = 200L * 1024 * 1024;
    private const int FrameSize = 1514;
    private const long MaxGrowth = 64L * 1024 * 1024;
    private const int SampleEvery = 8192;

    private string _path = string.Empty;

    [SetUp]
    public void ChoosePath() => _path = Path.Combine(Path.GetTempPath(), "nvdp-io-stream-" + Guid.NewGuid().ToString("N") + ".pcap");

    [TearDown]
    public void DeleteFile() => File.Delete(_path);

    [Test]
    public async Task A_200_MB_capture_is_written_and_read_in_bounded_memory()
    {
        int count = (int)(FileSize / (16 + FrameSize));
        const long start = 1_700_000_000_000_000_000L;
        var frame = new byte[FrameSize];
        var memory = new MemorySampler();

        await using (PcapWriter writer = PcapWriter.Create(_path))
        {
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(frame, i);
                frame[^1] = (byte)i;
                writer.Write(start + (i * 1_000L), frame);
                if (i % SampleEvery == 0)
                {
                    memory.Sample();
                }
            }
        }

        Assert.That(new FileInfo(_path).Length, Is.GreaterThan(3 * MaxGrowth), "the file must dwarf the memory bound");
        TestContext.Out.WriteLine($"writing: {memory}");
        memory.AssertGrowthBelow(MaxGrowth);

        memory = new MemorySampler();
        int read = 0;
        await using (CaptureReader reader = CaptureReader.Open(_path))
        {
            while (await reader.ReadNextAsync() is { } captured)
            {
                if (captured.Data.Length != FrameSize
                    || BinaryPrimitives.ReadInt32BigEndian(captured.Data) != read
                    || captured.Data[^1] != (byte)read
                    || captured.TimestampNs != start + (read * 1_000L))
                {
                    Assert.Fail($"frame {read} came back different");
                }

                read++;
                if (read % SampleEvery == 0)
                {
                    memory.Sample();
                }
            }
        }

        TestContext.Out.WriteLine($"reading: {memory}");
        Assert.That(read, Is.EqualTo(count));
        memory.AssertGrowthBelow(MaxGrowth);
    }

    /// <summary>Managed heap (after a full collection) and working set, relative to when it was made.</summary>
    private sealed class MemorySampler
    {
        private readonly long _heapBaseline;
        private readonly long _workingSetBaseline;
        private long _heapPeak;
        private long _workingSetPeak;

        public MemorySampler()
        {
            _heapBaseline = GC.GetTotalMemory(forceFullCollection: true);
            _workingSetBaseline = WorkingSet();
            _heapPeak = _heapBaseline;
            _workingSetPeak = _workingSetBaseline;
        }

        public void Sample()
        {
            _heapPeak = Math.Max(_heapPeak, GC.GetTotalMemory(forceFullCollection: true));
            _workingSetPeak = Math.Max(_workingSetPeak, WorkingSet());
        }

        public void AssertGrowthBelow(long bytes)
        {
            Assert.That(_heapPeak - _heapBaseline, Is.LessThan(bytes), "managed heap growth");
            Assert.That(_workingSetPeak - _workingSetBaseline, Is.LessThan(bytes), "working set growth");
        }

        public override string ToString() =>
            $"heap growth {(_heapPeak - _heapBaseline) / 1024} KiB, working set growth {(_workingSetPeak - _workingSetBaseline) / 1024} KiB";

        private static long WorkingSet()
        {
            using var process = Process.GetCurrentProcess();
            return process.WorkingSet64;
        }
    }
}
