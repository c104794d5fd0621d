using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace NvDataplane.Io;

/// <summary>
/// Streams frames out of a classic pcap (both byte orders, µs and ns) or pcapng file, holding at
/// most one record or block in memory, so a capture larger than memory is read in bounded memory.
/// A corrupt or truncated file throws <see cref="CaptureFormatException"/> naming the byte offset
/// of the bad record; a file that ends exactly at a record boundary ends cleanly.
/// Not thread-safe: one reader, one consumer.
/// </summary>
public sealed class CaptureReader : IAsyncDisposable
{
    private const int DefaultBufferSize = 64 * 1024;

    private static readonly ulong[] PowersOfTen =
    [
        1UL, 10UL, 100UL, 1_000UL, 10_000UL, 100_000UL, 1_000_000UL, 10_000_000UL, 100_000_000UL,
        1_000_000_000UL, 10_000_000_000UL, 100_000_000_000UL, 1_000_000_000_000UL, 10_000_000_000_000UL,
        100_000_000_000_000UL, 1_000_000_000_000_000UL, 10_000_000_000_000_000UL, 100_000_000_000_000_000UL,
        1_000_000_000_000_000_000UL, 10_000_000_000_000_000_000UL,
    ];

    private readonly PipeReader _reader;
    private readonly List<InterfaceInfo> _interfaces = [];

    // File offset of the first byte not yet consumed: where the next record or block starts.
    private long _offset;
    private Format _format;
    private ExceptionDispatchInfo? _failure;
    private bool _ended;
    private bool _disposed;

    // Byte order of the pcap file, or of the current pcapng section.
    private bool _bigEndian;

    // Classic pcap global header.
    private bool _nanoseconds;
    private uint _snapLen;
    private ushort _linkType;

    // A pcapng block of a type we do not read, being skipped without holding it in memory.
    private bool _skipping;
    private long _skipRemaining;
    private long _skipBlockOffset;
    private uint _skipBlockLength;

    /// <summary>Reads a capture from <paramref name="stream"/>; <paramref name="displayName"/> names it in errors.</summary>
    public CaptureReader(Stream stream, string displayName, bool leaveOpen = false)
        : this(stream, displayName, leaveOpen, DefaultBufferSize)
    {
    }

    /// <summary>Test seam: a small <paramref name="bufferSize"/> forces records to span buffer segments.</summary>
    internal CaptureReader(Stream stream, string displayName, bool leaveOpen, int bufferSize)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(displayName);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 16);
        Name = displayName;
        _reader = PipeReader.Create(
            stream,
            new StreamPipeReaderOptions(bufferSize: bufferSize, minimumReadSize: Math.Min(1024, bufferSize / 2), leaveOpen: leaveOpen));
    }

    private enum Format
    {
        Unknown,
        Pcap,
        PcapNg,
    }

    private enum Step
    {
        /// <summary>The record is not all in the buffer yet.</summary>
        NeedMore,

        /// <summary>Something was consumed (a header, a skipped block) but no frame came out.</summary>
        Continue,

        /// <summary>A frame came out.</summary>
        Frame,

        /// <summary>The file ended at a record boundary.</summary>
        End,
    }

    /// <summary>The file path or display name used in error messages.</summary>
    public string Name { get; }

    /// <summary>
    /// True once the file has said its timestamps are finer than a microsecond: the nanosecond
    /// pcap magic, or a pcapng interface whose if_tsresol is finer than 10^-6 s (2^-20 s and finer).
    /// </summary>
    public bool SubMicrosecond { get; private set; }

    /// <summary>Opens the capture file at <paramref name="path"/> for sequential reading.</summary>
    public static CaptureReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan | FileOptions.Asynchronous);
        try
        {
            return new CaptureReader(stream, path, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Returns the next frame in file order, or null at a clean end of file.
    /// Throws <see cref="CaptureFormatException"/> (again on every later call) if the file is corrupt or truncated.
    /// </summary>
    public async ValueTask<CapturedFrame?> ReadNextAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _failure?.Throw();
        if (_ended)
        {
            return null;
        }

        while (true)
        {
            ReadResult result = await _reader.ReadAsync(ct).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            Step step;
            CapturedFrame? frame;
            long consumed;
            try
            {
                step = Parse(buffer, result.IsCompleted, out frame, out consumed);
            }
            catch (CaptureFormatException ex)
            {
                _reader.AdvanceTo(buffer.Start, buffer.End);
                _failure = ExceptionDispatchInfo.Capture(ex);
                throw;
            }

            if (step == Step.NeedMore)
            {
                // Nothing consumed, everything looked at: the next read waits for more bytes.
                _reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            _reader.AdvanceTo(buffer.GetPosition(consumed));
            _offset += consumed;
            if (step == Step.Frame)
            {
                return frame;
            }

            if (step == Step.End)
            {
                _ended = true;
                return null;
            }
        }
    }

    /// <summary>Every remaining frame, in file order.</summary>
    public async IAsyncEnumerable<CapturedFrame> ReadAllAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        while (await ReadNextAsync(ct).ConfigureAwait(false) is { } frame)
        {
            yield return frame;
        }
    }

    /// <summary>Releases the buffers and closes the stream (unless it was opened with leaveOpen).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _reader.CompleteAsync().ConfigureAwait(false);
    }

    private Step Parse(ReadOnlySequence<byte> buffer, bool completed, out CapturedFrame? frame, out long consumed)
    {
        frame = null;
        consumed = 0;
        return _format switch
        {
            Format.Unknown => ParseFileHeader(buffer, completed, out consumed),
            Format.Pcap => ParsePcapRecord(buffer, completed, out frame, out consumed),
            _ when _skipping => SkipBlock(buffer, completed, out consumed),
            _ => ParsePcapNgBlock(buffer, completed, out frame, out consumed),
        };
    }

    // ---- Classic pcap (see PcapLayout) -------------------------------------------------------

    private Step ParseFileHeader(ReadOnlySequence<byte> buffer, bool completed, out long consumed)
    {
        consumed = 0;
        if (buffer.Length < sizeof(uint))
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            throw Corrupt(0, buffer.Length == 0 ? "empty file, no capture file header" : $"truncated file header ({buffer.Length} of 4 magic bytes)");
        }

        Span<byte> header = stackalloc byte[PcapLayout.GlobalHeaderSize];
        buffer.Slice(0, sizeof(uint)).CopyTo(header);
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        switch (magic)
        {
            case PcapNgLayout.SectionHeaderType:
                // The Section Header Block is read as the first pcapng block.
                _format = Format.PcapNg;
                return Step.Continue;
            case PcapLayout.MagicMicroseconds:
                (_bigEndian, _nanoseconds) = (true, false);
                break;
            case PcapLayout.MagicNanoseconds:
                (_bigEndian, _nanoseconds) = (true, true);
                break;
            case 0xD4C3_B2A1: // MagicMicroseconds written little-endian
                (_bigEndian, _nanoseconds) = (false, false);
                break;
            case 0x4D3C_B2A1: // MagicNanoseconds written little-endian
                (_bigEndian, _nanoseconds) = (false, true);
                break;
            default:
                throw Corrupt(0, $"unknown magic 0x{magic:x8} (neither pcap nor pcapng)");
        }

        if (buffer.Length < PcapLayout.GlobalHeaderSize)
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            throw Corrupt(0, $"truncated file header ({buffer.Length} of {PcapLayout.GlobalHeaderSize} bytes)");
        }

        buffer.Slice(0, PcapLayout.GlobalHeaderSize).CopyTo(header);
        ushort major = ReadUInt16(header[PcapLayout.VersionMajorOffset..]);
        ushort minor = ReadUInt16(header[PcapLayout.VersionMinorOffset..]);
        if (major != PcapLayout.VersionMajor)
        {
            throw Corrupt(0, $"unsupported pcap version {major}.{minor}");
        }

        _snapLen = ReadUInt32(header[PcapLayout.SnapLenOffset..]);
        SubMicrosecond = _nanoseconds;

        // The upper bits of the link type field carry FCS information; the link type is the low 16.
        _linkType = (ushort)ReadUInt32(header[PcapLayout.LinkTypeOffset..]);
        _format = Format.Pcap;
        consumed = PcapLayout.GlobalHeaderSize;
        return Step.Continue;
    }

    private Step ParsePcapRecord(ReadOnlySequence<byte> buffer, bool completed, out CapturedFrame? frame, out long consumed)
    {
        frame = null;
        consumed = 0;
        long available = buffer.Length;
        if (available < PcapLayout.RecordHeaderSize)
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            if (available == 0)
            {
                return Step.End;
            }

            throw Corrupt(_offset, $"truncated record header ({available} of {PcapLayout.RecordHeaderSize} bytes)");
        }

        Span<byte> header = stackalloc byte[PcapLayout.RecordHeaderSize];
        buffer.Slice(0, PcapLayout.RecordHeaderSize).CopyTo(header);
        uint inclLen = ReadUInt32(header[PcapLayout.InclLenOffset..]);
        uint origLen = ReadUInt32(header[PcapLayout.OrigLenOffset..]);
        if (inclLen > PcapLayout.MaxFrameSize)
        {
            throw Corrupt(_offset, $"record length {inclLen} exceeds the 256 KiB limit");
        }

        if (_snapLen != 0 && inclLen > _snapLen)
        {
            throw Corrupt(_offset, $"record length {inclLen} exceeds snaplen {_snapLen}");
        }

        if (origLen > int.MaxValue)
        {
            throw Corrupt(_offset, $"original length {origLen} is not plausible");
        }

        long needed = PcapLayout.RecordHeaderSize + (long)inclLen;
        if (available < needed)
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            throw Corrupt(_offset, $"truncated record data ({available - PcapLayout.RecordHeaderSize} of {inclLen} bytes)");
        }

        long seconds = ReadUInt32(header[PcapLayout.TsSecOffset..]);
        long fraction = ReadUInt32(header[PcapLayout.TsFracOffset..]);
        if (fraction >= (_nanoseconds ? 1_000_000_000L : 1_000_000L))
        {
            // Not a fraction of a second: taken as one, it would move the frame by seconds.
            throw Corrupt(_offset, _nanoseconds ? $"ts_nsec {fraction} is not below 1000000000" : $"ts_usec {fraction} is not below 1000000");
        }

        long timestampNs = (seconds * 1_000_000_000L) + (_nanoseconds ? fraction : fraction * 1_000L);
        var data = new byte[inclLen];
        buffer.Slice(PcapLayout.RecordHeaderSize, inclLen).CopyTo(data);
        frame = new CapturedFrame(timestampNs, data, (int)origLen, _linkType) { ByteOffset = _offset };
        consumed = needed;
        return Step.Frame;
    }

    // ---- pcapng (see PcapNgLayout) -------------------------------------------------------------

    private Step ParsePcapNgBlock(ReadOnlySequence<byte> buffer, bool completed, out CapturedFrame? frame, out long consumed)
    {
        frame = null;
        consumed = 0;
        long available = buffer.Length;
        if (available < PcapNgLayout.BlockHeaderSize)
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            if (available == 0)
            {
                return Step.End;
            }

            throw Corrupt(_offset, $"truncated block header ({available} of {PcapNgLayout.BlockHeaderSize} bytes)");
        }

        Span<byte> header = stackalloc byte[PcapNgLayout.EpbDataOffset];
        buffer.Slice(0, PcapNgLayout.BlockHeaderSize).CopyTo(header);
        if (BinaryPrimitives.ReadUInt32BigEndian(header) == PcapNgLayout.SectionHeaderType)
        {
            // A new section: its byte-order magic sets the byte order of everything up to the next one.
            if (available < PcapNgLayout.ShbMajorOffset)
            {
                if (!completed)
                {
                    return Step.NeedMore;
                }

                throw Corrupt(_offset, $"truncated section header block ({available} of {PcapNgLayout.ShbMinSize} bytes)");
            }

            buffer.Slice(0, PcapNgLayout.ShbMajorOffset).CopyTo(header);
            uint byteOrderMagic = BinaryPrimitives.ReadUInt32BigEndian(header[PcapNgLayout.ShbByteOrderMagicOffset..]);
            _bigEndian = byteOrderMagic switch
            {
                PcapNgLayout.ByteOrderMagic => true,
                0x4D3C_2B1A => false, // ByteOrderMagic written little-endian
                _ => throw Corrupt(_offset, $"bad byte-order magic 0x{byteOrderMagic:x8} in section header block"),
            };
        }

        uint type = ReadUInt32(header[PcapNgLayout.BlockTypeOffset..]);
        uint totalLength = ReadUInt32(header[PcapNgLayout.BlockTotalLengthOffset..]);
        if (totalLength < PcapNgLayout.MinBlockSize || totalLength % 4 != 0)
        {
            throw Corrupt(_offset, $"block total length {totalLength} is invalid (must be a multiple of 4 and at least {PcapNgLayout.MinBlockSize})");
        }

        int minSize = type switch
        {
            PcapNgLayout.SectionHeaderType => PcapNgLayout.ShbMinSize,
            PcapNgLayout.InterfaceDescriptionType => PcapNgLayout.IdbMinSize,
            PcapNgLayout.EnhancedPacketType => PcapNgLayout.EpbMinSize,
            PcapNgLayout.SimplePacketType => PcapNgLayout.SpbMinSize,
            _ => 0,
        };
        if (minSize == 0)
        {
            // A block type we do not read: step over it without holding it in memory.
            _skipping = true;
            _skipBlockOffset = _offset;
            _skipBlockLength = totalLength;
            _skipRemaining = totalLength - PcapNgLayout.BlockTrailerSize;
            return Step.Continue;
        }

        string name = BlockName(type);
        if (totalLength < minSize)
        {
            throw Corrupt(_offset, $"{name} total length {totalLength} is below the minimum of {minSize}");
        }

        if (totalLength > PcapNgLayout.MaxParsedBlockSize)
        {
            throw Corrupt(_offset, $"{name} total length {totalLength} exceeds the {PcapNgLayout.MaxParsedBlockSize / 1024} KiB limit");
        }

        if (available < totalLength)
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            throw Corrupt(_offset, $"truncated {name} ({available} of {totalLength} bytes)");
        }

        ReadOnlySequence<byte> block = buffer.Slice(0, totalLength);
        CheckTrailer(block.Slice(totalLength - PcapNgLayout.BlockTrailerSize), totalLength, _offset);
        consumed = totalLength;
        switch (type)
        {
            case PcapNgLayout.SectionHeaderType:
                ReadSectionHeader(block);
                return Step.Continue;
            case PcapNgLayout.InterfaceDescriptionType:
                ReadInterfaceDescription(block);
                return Step.Continue;
            case PcapNgLayout.EnhancedPacketType:
                frame = ReadEnhancedPacket(block, totalLength);
                return Step.Frame;
            default:
                frame = ReadSimplePacket(block, totalLength);
                return Step.Frame;
        }
    }

    private Step SkipBlock(ReadOnlySequence<byte> buffer, bool completed, out long consumed)
    {
        consumed = 0;
        if (_skipRemaining > 0)
        {
            if (buffer.Length == 0)
            {
                if (!completed)
                {
                    return Step.NeedMore;
                }

                throw Corrupt(_skipBlockOffset, $"truncated block ({_skipBlockLength - PcapNgLayout.BlockTrailerSize - _skipRemaining} of {_skipBlockLength} bytes)");
            }

            consumed = Math.Min(buffer.Length, _skipRemaining);
            _skipRemaining -= consumed;
            return Step.Continue;
        }

        if (buffer.Length < PcapNgLayout.BlockTrailerSize)
        {
            if (!completed)
            {
                return Step.NeedMore;
            }

            throw Corrupt(_skipBlockOffset, $"truncated block ({_skipBlockLength - PcapNgLayout.BlockTrailerSize + buffer.Length} of {_skipBlockLength} bytes)");
        }

        CheckTrailer(buffer.Slice(0, PcapNgLayout.BlockTrailerSize), _skipBlockLength, _skipBlockOffset);
        _skipping = false;
        consumed = PcapNgLayout.BlockTrailerSize;
        return Step.Continue;
    }

    private void CheckTrailer(ReadOnlySequence<byte> trailerBytes, uint totalLength, long blockOffset)
    {
        Span<byte> trailer = stackalloc byte[PcapNgLayout.BlockTrailerSize];
        trailerBytes.CopyTo(trailer);
        uint trailerLength = ReadUInt32(trailer);
        if (trailerLength != totalLength)
        {
            throw Corrupt(blockOffset, $"block total length mismatch: header says {totalLength}, trailer says {trailerLength}");
        }
    }

    private void ReadSectionHeader(ReadOnlySequence<byte> block)
    {
        Span<byte> header = stackalloc byte[PcapNgLayout.ShbSectionLengthOffset];
        block.Slice(0, PcapNgLayout.ShbSectionLengthOffset).CopyTo(header);
        ushort major = ReadUInt16(header[PcapNgLayout.ShbMajorOffset..]);
        ushort minor = ReadUInt16(header[PcapNgLayout.ShbMinorOffset..]);
        if (major != PcapNgLayout.SupportedMajorVersion)
        {
            throw Corrupt(_offset, $"unsupported pcapng version {major}.{minor}");
        }

        // Interface ids are numbered per section.
        _interfaces.Clear();
    }

    private void ReadInterfaceDescription(ReadOnlySequence<byte> block)
    {
        ReadOnlySpan<byte> span = block.IsSingleSegment ? block.FirstSpan : block.ToArray();
        ushort linkType = ReadUInt16(span[PcapNgLayout.IdbLinkTypeOffset..]);
        uint snapLen = ReadUInt32(span[PcapNgLayout.IdbSnapLenOffset..]);
        bool powerOfTwo = false;
        int exponent = 6; // if_tsresol absent: microseconds
        long offsetSeconds = 0;
        int position = PcapNgLayout.IdbOptionsOffset;
        int end = span.Length - PcapNgLayout.BlockTrailerSize;
        while (end - position >= PcapNgLayout.OptionHeaderSize)
        {
            ushort code = ReadUInt16(span[position..]);
            ushort length = ReadUInt16(span[(position + 2)..]);
            if (code == PcapNgLayout.OptEndOfOptions)
            {
                break;
            }

            int valueOffset = position + PcapNgLayout.OptionHeaderSize;
            long next = valueOffset + PcapNgLayout.Pad4(length);
            if (next > end)
            {
                throw Corrupt(_offset, $"interface description block option {code} length {length} overruns the block");
            }

            ReadOnlySpan<byte> value = span.Slice(valueOffset, length);
            if (code == PcapNgLayout.OptIfTsResol)
            {
                if (length != 1)
                {
                    throw Corrupt(_offset, $"if_tsresol option length {length}, expected 1");
                }

                powerOfTwo = (value[0] & 0x80) != 0;
                exponent = value[0] & 0x7F;
                if (!powerOfTwo && exponent >= PowersOfTen.Length)
                {
                    throw Corrupt(_offset, $"if_tsresol 10^-{exponent} is not supported (at most 10^-{PowersOfTen.Length - 1})");
                }
            }
            else if (code == PcapNgLayout.OptIfTsOffset)
            {
                if (length != sizeof(long))
                {
                    throw Corrupt(_offset, $"if_tsoffset option length {length}, expected 8");
                }

                offsetSeconds = _bigEndian ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value);
            }

            position = (int)next;
        }

        if (_interfaces.Count >= PcapNgLayout.MaxInterfacesPerSection)
        {
            throw Corrupt(_offset, $"more than {PcapNgLayout.MaxInterfacesPerSection} interfaces in one section");
        }

        _interfaces.Add(new InterfaceInfo(linkType, snapLen, powerOfTwo, exponent, offsetSeconds));
        SubMicrosecond |= powerOfTwo ? exponent >= 20 : exponent > 6;
    }

    private CapturedFrame ReadEnhancedPacket(ReadOnlySequence<byte> block, uint totalLength)
    {
        Span<byte> header = stackalloc byte[PcapNgLayout.EpbDataOffset];
        block.Slice(0, PcapNgLayout.EpbDataOffset).CopyTo(header);
        uint interfaceId = ReadUInt32(header[PcapNgLayout.EpbInterfaceIdOffset..]);
        if (interfaceId >= _interfaces.Count)
        {
            throw Corrupt(_offset, $"EPB references interface {interfaceId} but only {_interfaces.Count} defined");
        }

        uint capturedLength = ReadUInt32(header[PcapNgLayout.EpbCapturedLengthOffset..]);
        uint originalLength = ReadUInt32(header[PcapNgLayout.EpbOriginalLengthOffset..]);
        if (capturedLength > PcapLayout.MaxFrameSize)
        {
            throw Corrupt(_offset, $"EPB captured length {capturedLength} exceeds the 256 KiB limit");
        }

        if (PcapNgLayout.EpbMinSize + PcapNgLayout.Pad4(capturedLength) > totalLength)
        {
            throw Corrupt(_offset, $"EPB captured length {capturedLength} does not fit in a block of total length {totalLength}");
        }

        if (originalLength > int.MaxValue)
        {
            throw Corrupt(_offset, $"EPB original length {originalLength} is not plausible");
        }

        InterfaceInfo itf = _interfaces[(int)interfaceId];
        ulong ticks = ((ulong)ReadUInt32(header[PcapNgLayout.EpbTimestampHighOffset..]) << 32) | ReadUInt32(header[PcapNgLayout.EpbTimestampLowOffset..]);
        var data = new byte[capturedLength];
        block.Slice(PcapNgLayout.EpbDataOffset, capturedLength).CopyTo(data);
        return new CapturedFrame(ToNanoseconds(ticks, itf, interfaceId), data, (int)originalLength, itf.LinkType) { ByteOffset = _offset, InterfaceId = (int)interfaceId };
    }

    private CapturedFrame ReadSimplePacket(ReadOnlySequence<byte> block, uint totalLength)
    {
        if (_interfaces.Count == 0)
        {
            throw Corrupt(_offset, "SPB but no interface defined");
        }

        InterfaceInfo itf = _interfaces[0];
        Span<byte> header = stackalloc byte[PcapNgLayout.SpbDataOffset];
        block.Slice(0, PcapNgLayout.SpbDataOffset).CopyTo(header);
        uint originalLength = ReadUInt32(header[PcapNgLayout.SpbOriginalLengthOffset..]);
        if (originalLength > int.MaxValue)
        {
            throw Corrupt(_offset, $"SPB original length {originalLength} is not plausible");
        }

        // The captured part is the original length cut at the interface's snaplen (0 = no limit).
        uint capturedLength = itf.SnapLen != 0 ? Math.Min(originalLength, itf.SnapLen) : originalLength;
        if (capturedLength > PcapLayout.MaxFrameSize)
        {
            throw Corrupt(_offset, $"SPB packet length {capturedLength} exceeds the 256 KiB limit");
        }

        if (PcapNgLayout.SpbMinSize + PcapNgLayout.Pad4(capturedLength) > totalLength)
        {
            throw Corrupt(_offset, $"SPB packet length {capturedLength} does not fit in a block of total length {totalLength}");
        }

        var data = new byte[capturedLength];
        block.Slice(PcapNgLayout.SpbDataOffset, capturedLength).CopyTo(data);
        return new CapturedFrame(0, data, (int)originalLength, itf.LinkType) { ByteOffset = _offset, InterfaceId = 0 };
    }

    /// <summary>
    /// The EPB's time in nanoseconds since 1970, refused (as corrupt) outside what a long of them
    /// holds, 1970 to 2262: a negative if_tsoffset or a huge tick count would otherwise reach the
    /// writers as a time they cannot store.
    /// </summary>
    private long ToNanoseconds(ulong ticks, InterfaceInfo itf, uint interfaceId)
    {
        UInt128 nanoseconds;
        if (itf.PowerOfTwo)
        {
            nanoseconds = ((UInt128)ticks * 1_000_000_000UL) >> itf.Exponent;
        }
        else if (itf.Exponent <= 9)
        {
            nanoseconds = (UInt128)ticks * PowersOfTen[9 - itf.Exponent];
        }
        else
        {
            nanoseconds = ticks / PowersOfTen[itf.Exponent - 9];
        }

        Int128 total = (Int128)nanoseconds + ((Int128)itf.OffsetSeconds * 1_000_000_000);
        if (total > long.MaxValue || total < 0)
        {
            string unit = itf.PowerOfTwo ? $"2^-{itf.Exponent}" : $"10^-{itf.Exponent}";
            throw Corrupt(_offset, $"timestamp outside 1970..2262 ({ticks} ticks of {unit} s on interface {interfaceId}, if_tsoffset {itf.OffsetSeconds} s)");
        }

        return (long)total;
    }

    private static string BlockName(uint type) => type switch
    {
        PcapNgLayout.SectionHeaderType => "section header block",
        PcapNgLayout.InterfaceDescriptionType => "interface description block",
        PcapNgLayout.EnhancedPacketType => "EPB",
        _ => "SPB",
    };

    private ushort ReadUInt16(ReadOnlySpan<byte> source) =>
        _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(source) : BinaryPrimitives.ReadUInt16LittleEndian(source);

    private uint ReadUInt32(ReadOnlySpan<byte> source) =>
        _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(source) : BinaryPrimitives.ReadUInt32LittleEndian(source);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private CaptureFormatException Corrupt(long byteOffset, string problem) => new(Name, byteOffset, problem);

    /// <summary>What an Interface Description Block says about the frames captured on it.</summary>
    private readonly record struct InterfaceInfo(ushort LinkType, uint SnapLen, bool PowerOfTwo, int Exponent, long OffsetSeconds);
}
