using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

/// <summary>Helpers shared by the capture tests: hex literals, a stream that trickles, read-all.</summary>
internal static class CaptureBytes
{
    /// <summary>Bytes from a hex literal; spaces and newlines are ignored so fields can be laid out.</summary>
    public static byte[] Hex(string hex) =>
        Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal).Replace("\r", string.Empty, StringComparison.Ordinal));

    /// <summary>
    /// Reads every frame. With <paramref name="trickle"/> the stream hands out at most 3 bytes per read
    /// and the pipe holds 16-byte segments, so every header and record spans segments and reads.
    /// </summary>
    public static async Task<List<CapturedFrame>> ReadAllAsync(byte[] file, bool trickle = false, string name = "test.pcap")
    {
        Stream stream = trickle ? new TrickleStream(file) : new MemoryStream(file);
        await using var reader = new CaptureReader(stream, name, leaveOpen: false, bufferSize: trickle ? 16 : 64 * 1024);
        var frames = new List<CapturedFrame>();
        await foreach (CapturedFrame frame in reader.ReadAllAsync())
        {
            frames.Add(frame);
        }

        return frames;
    }

    /// <summary>Reads until the reader throws, and returns what it threw.</summary>
    public static CaptureFormatException ReadExpectingError(byte[] file, bool trickle = false, string name = "bad.pcap") =>
        Assert.ThrowsAsync<CaptureFormatException>(async () => await ReadAllAsync(file, trickle, name))!;

    /// <summary>A read-only stream that returns at most 3 bytes per read.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data, writable: false)
    {
        private const int MaxRead = 3;

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, MaxRead));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, MaxRead)]);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, MaxRead)], cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, MaxRead), cancellationToken);
    }
}
