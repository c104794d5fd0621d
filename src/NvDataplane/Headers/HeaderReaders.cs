using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NvDataplane.Headers;

/// <summary>
/// A read-only view of an IPv4 header (layout: <see cref="Ipv4"/>). Created only over a span
/// that holds the fixed 20 bytes, so every property reads inside it; fields are read in wire
/// order through <see cref="BinaryPrimitives"/> when asked for, never copied.
/// </summary>
public readonly ref struct Ipv4Reader
{
    private readonly ReadOnlySpan<byte> _bytes;

    private Ipv4Reader(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>False when fewer than 20 bytes are there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> bytes, out Ipv4Reader reader)
    {
        reader = new Ipv4Reader(bytes);
        return bytes.Length >= Ipv4.MinHeaderSize;
    }

    /// <summary>The bytes from the header on (header, payload, and whatever follows in the frame).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    public int Version => _bytes[Ipv4.VersionIhlOffset] >> 4;

    /// <summary>IHL × 4.</summary>
    public int HeaderLength => (_bytes[Ipv4.VersionIhlOffset] & 0x0F) * 4;

    public byte Tos => _bytes[Ipv4.TosOffset];

    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Ipv4.TotalLengthOffset..]);

    public ushort FlagsFragment => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Ipv4.FlagsFragmentOffset..]);

    public byte Ttl => _bytes[Ipv4.TtlOffset];

    public byte Protocol => _bytes[Ipv4.ProtocolOffset];

    public IpAddr Source => IpAddr.ReadV4(_bytes[Ipv4.SourceOffset..]);

    public IpAddr Destination => IpAddr.ReadV4(_bytes[Ipv4.DestinationOffset..]);

    /// <summary>True when the header (of <see cref="HeaderLength"/> bytes, which must be present) sums to zero.</summary>
    public bool ChecksumValid =>
        (HeaderLength == Ipv4.MinHeaderSize ? Checksum.ComputeIpv4Header20(_bytes) : Checksum.Compute(_bytes[..HeaderLength])) == 0;
}

/// <summary>A read-only view of the fixed IPv6 header (layout: <see cref="Ipv6"/>), created only over 40 bytes or more.</summary>
public readonly ref struct Ipv6Reader
{
    private readonly ReadOnlySpan<byte> _bytes;

    private Ipv6Reader(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> bytes, out Ipv6Reader reader)
    {
        reader = new Ipv6Reader(bytes);
        return bytes.Length >= Ipv6.HeaderSize;
    }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public int Version => _bytes[0] >> 4;

    public byte TrafficClass => Ipv6.ReadTrafficClass(_bytes);

    public ushort PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Ipv6.PayloadLengthOffset..]);

    public byte NextHeader => _bytes[Ipv6.NextHeaderOffset];

    public byte HopLimit => _bytes[Ipv6.HopLimitOffset];

    public IpAddr Source => IpAddr.ReadV6(_bytes[Ipv6.SourceOffset..]);

    public IpAddr Destination => IpAddr.ReadV6(_bytes[Ipv6.DestinationOffset..]);
}

/// <summary>A read-only view of a GRE header as NVGRE uses it (layout: <see cref="Gre"/>), created only over 4 bytes or more.</summary>
public readonly ref struct GreReader
{
    private readonly ReadOnlySpan<byte> _bytes;

    private GreReader(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> bytes, out GreReader reader)
    {
        reader = new GreReader(bytes);
        return bytes.Length >= Gre.BaseSize;
    }

    public ushort FlagsVersion => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    public ushort Protocol => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Gre.ProtocolOffset..]);

    /// <summary>Whether the 4-byte key is there too (8 bytes in all).</summary>
    public bool HasKeyBytes => _bytes.Length >= Gre.NvgreSize;

    /// <summary>The key (VSID &lt;&lt; 8 | FlowID); read only when <see cref="HasKeyBytes"/>.</summary>
    public uint Key => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Gre.KeyOffset..]);

    public uint Vsid => Key >> 8;

    public byte FlowId => (byte)Key;
}
