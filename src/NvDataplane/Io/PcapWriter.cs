using System.Buffers.Binary;

namespace NvDataplane.Io;

/// <summary>
/// Writes a classic pcap file: little-endian, microsecond timestamps, version 2.4, snaplen 262144,
/// Ethernet link type (see <see cref="PcapLayout"/>). Records are buffered and reach the stream on
/// <see cref="Flush"/> or dispose. The same calls always give byte-identical output.
/// Not thread-safe.
/// </summary>
public sealed class PcapWriter : IDisposable, IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _used;
    private bool _disposed;

    /// <summary>Writes the global header (into the buffer) and gets ready for records.</summary>
    public PcapWriter(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _leaveOpen = leaveOpen;
        Span<byte> header = _buffer.AsSpan(0, PcapLayout.GlobalHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.MagicOffset..], PcapLayout.MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(header[PcapLayout.VersionMajorOffset..], PcapLayout.VersionMajor);
        BinaryPrimitives.WriteUInt16LittleEndian(header[PcapLayout.VersionMinorOffset..], PcapLayout.VersionMinor);
        BinaryPrimitives.WriteInt32LittleEndian(header[PcapLayout.ThisZoneOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.SigFigsOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.SnapLenOffset..], PcapLayout.MaxFrameSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.LinkTypeOffset..], PcapLayout.LinkTypeEthernet);
        _used = PcapLayout.GlobalHeaderSize;
    }

    /// <summary>Creates (or truncates) the file at <paramref name="path"/>.</summary>
    public static PcapWriter Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        try
        {
            return new PcapWriter(stream, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends one record. The timestamp is kept to the microsecond (truncated);
    /// it must lie between the epoch and 2106 (the 32-bit seconds field).
    /// </summary>
    public void Write(long timestampNs, ReadOnlySpan<byte> frame)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(timestampNs);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(timestampNs / 1_000_000_000L, uint.MaxValue, nameof(timestampNs));
        if (frame.Length > PcapLayout.MaxFrameSize)
        {
            throw new ArgumentException($"frame of {frame.Length} bytes exceeds the snaplen of {PcapLayout.MaxFrameSize}", nameof(frame));
        }

        if (_used + PcapLayout.RecordHeaderSize + frame.Length > _buffer.Length)
        {
            FlushBuffer();
        }

        Span<byte> header = _buffer.AsSpan(_used, PcapLayout.RecordHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.TsSecOffset..], (uint)(timestampNs / 1_000_000_000L));
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.TsFracOffset..], (uint)(timestampNs / 1_000L % 1_000_000L));
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.InclLenOffset..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PcapLayout.OrigLenOffset..], (uint)frame.Length);
        _used += PcapLayout.RecordHeaderSize;

        if (frame.Length > _buffer.Length - _used)
        {
            // Larger than the buffer: the header goes out first, then the frame straight from the caller.
            FlushBuffer();
            _stream.Write(frame);
            return;
        }

        frame.CopyTo(_buffer.AsSpan(_used));
        _used += frame.Length;
    }

    /// <summary>Writes every buffered record to the stream and flushes it.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushBuffer();
        _stream.Flush();
    }

    /// <summary>Writes every buffered record to the stream and flushes it.</summary>
    public async ValueTask FlushAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_used > 0)
        {
            await _stream.WriteAsync(_buffer.AsMemory(0, _used), ct).ConfigureAwait(false);
            _used = 0;
        }

        await _stream.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Flushes, then closes the stream unless it was opened with leaveOpen.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            Flush();
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                _stream.Dispose();
            }
        }
    }

    /// <summary>Flushes, then closes the stream unless it was opened with leaveOpen.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private void FlushBuffer()
    {
        if (_used > 0)
        {
            _stream.Write(_buffer, 0, _used);
            _used = 0;
        }
    }
}
