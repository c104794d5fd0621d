namespace NvDataplane.Io;

/// <summary>
/// What the pcap and pcapng writers share: records are gathered in a 64 KiB buffer and reach the
/// stream on <see cref="Flush"/>, <see cref="FlushAsync"/> or dispose; a record larger than the
/// buffer goes out straight after what was buffered. Not thread-safe.
/// </summary>
public abstract class CaptureFileWriter : IDisposable, IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _used;
    private bool _disposed;

    protected CaptureFileWriter(Stream stream, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _leaveOpen = leaveOpen;
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
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Flushes, then closes the stream unless it was opened with leaveOpen.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
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

        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (_disposed || !disposing)
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

    /// <summary>Opens <paramref name="path"/> for writing (created or truncated), for the writers' Create methods.</summary>
    protected static FileStream CreateFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
    }

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary><paramref name="size"/> bytes (at most 64 KiB) of the buffer for a header to be written into, in file order.</summary>
    protected Span<byte> Reserve(int size)
    {
        if (_used + size > _buffer.Length)
        {
            FlushBuffer();
        }

        Span<byte> room = _buffer.AsSpan(_used, size);
        _used += size;
        return room;
    }

    /// <summary>Appends <paramref name="bytes"/> (a frame) after what was reserved or appended before.</summary>
    protected void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _buffer.Length - _used)
        {
            FlushBuffer();
            if (bytes.Length > _buffer.Length)
            {
                _stream.Write(bytes);
                return;
            }
        }

        bytes.CopyTo(_buffer.AsSpan(_used));
        _used += bytes.Length;
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
