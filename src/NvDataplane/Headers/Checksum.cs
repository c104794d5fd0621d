using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NvDataplane.Headers;

/// <summary>
/// The Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn. 3:
/// HC' = ~(~HC + ~m + m')). Sums are kept as unfolded 64-bit accumulators until folded.
/// </summary>
public static class Checksum
{
    /// <summary>One's-complement sum of <paramref name="data"/> (big-endian 16-bit words) added to <paramref name="initial"/>.</summary>
    public static ulong Sum(ReadOnlySpan<byte> data, ulong initial = 0)
    {
        ulong sum = initial;
        // Sum 32-bit big-endian words into 64 bits: carries fold out later, so no branch per word.
        while (data.Length >= 8)
        {
            ulong v = MemoryMarshal.Read<ulong>(data);
            if (BitConverter.IsLittleEndian)
            {
                v = BinaryPrimitives.ReverseEndianness(v);
            }

            sum += (v >> 32) + (v & 0xFFFF_FFFF);
            data = data[8..];
        }

        if (data.Length >= 4)
        {
            sum += BinaryPrimitives.ReadUInt32BigEndian(data);
            data = data[4..];
        }

        if (data.Length >= 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data);
            data = data[2..];
        }

        if (data.Length == 1)
        {
            sum += (ulong)data[0] << 8;
        }

        return sum;
    }

    /// <summary>The checksum of an option-less 20-byte IPv4 header: five word pairs, no loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ComputeIpv4Header20(ReadOnlySpan<byte> header)
    {
        ulong sum = (ulong)BinaryPrimitives.ReadUInt32BigEndian(header)
            + BinaryPrimitives.ReadUInt32BigEndian(header[4..])
            + BinaryPrimitives.ReadUInt32BigEndian(header[8..])
            + BinaryPrimitives.ReadUInt32BigEndian(header[12..])
            + BinaryPrimitives.ReadUInt32BigEndian(header.Slice(16, 4));
        return (ushort)~Fold(sum);
    }

    /// <summary>Folds a sum to 16 bits (not complemented).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    /// <summary>The checksum field value for <paramref name="data"/>: ~fold(sum). Over data that holds a valid checksum it is 0.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data, ulong initial = 0) => (ushort)~Fold(Sum(data, initial));

    /// <summary>Sum of the IPv4/IPv6 pseudo-header (addresses, protocol, upper-layer length).</summary>
    public static ulong PseudoHeaderSum(IpAddr source, IpAddr destination, byte protocol, int length)
    {
        ulong sum = (ulong)protocol + (uint)length;
        if (source.IsV4)
        {
            return sum + (source.V4 >> 16) + (source.V4 & 0xFFFF) + (destination.V4 >> 16) + (destination.V4 & 0xFFFF);
        }

        return sum + AddressSum(source) + AddressSum(destination);
    }

    /// <summary>One's-complement sum of an address's 16-bit words (2 for IPv4, 8 for IPv6).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddressSum(IpAddr a) =>
        a.IsV4 ? (a.V4 >> 16) + (a.V4 & 0xFFFF)
        : (a.Hi >> 32) + (a.Hi & 0xFFFF_FFFF) + (a.Lo >> 32) + (a.Lo & 0xFFFF_FFFF);

    /// <summary>
    /// RFC 1624 update of the checksum stored at <paramref name="field"/> when words summing to
    /// <paramref name="oldSum"/> are replaced by words summing to <paramref name="newSum"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Update(Span<byte> field, ulong oldSum, ulong newSum)
    {
        ushort hc = BinaryPrimitives.ReadUInt16BigEndian(field);
        // ~HC + ~m + m'  with ~m over the folded old sum.
        ulong s = (ushort)~hc + (ulong)(ushort)~Fold(oldSum) + newSum;
        BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)~Fold(s));
    }

    /// <summary>RFC 1624 update for one 16-bit word changing from <paramref name="oldWord"/> to <paramref name="newWord"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Update16(Span<byte> field, ushort oldWord, ushort newWord) => Update(field, oldWord, newWord);
}
