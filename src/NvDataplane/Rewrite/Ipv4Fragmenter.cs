using System.Buffers.Binary;
using NvDataplane.Headers;

namespace NvDataplane.Rewrite;

/// <summary>
/// Splits an IPv4 packet (RFC 791 section 3.2) so each piece fits <c>maxIpLength</c>: payload
/// per fragment is a multiple of 8, MF set on all but the last (and on the last when the original
/// had it), offsets relative to the original; options are copied into later fragments only when
/// their copy bit is set.
/// </summary>
public static class Ipv4Fragmenter
{
    /// <summary>Payload bytes each fragment carries (the last may carry fewer).</summary>
    public static int PayloadPerFragment(int maxIpLength, int headerLength) => ((maxIpLength - headerLength) / 8) * 8;

    /// <summary>
    /// How many fragments <see cref="WriteFragment"/> makes of the IPv4 packet <paramref name="ip"/>
    /// (header + payload): the first carries every option, later ones only those with the copy
    /// bit, so they may carry more payload. 0 when not even 8 bytes of payload fit.
    /// </summary>
    public static int Count(ReadOnlySpan<byte> ip, int maxIpLength)
    {
        int ihl = Ipv4.HeaderLength(ip);
        int payload = Ipv4.ReadTotalLength(ip) - ihl;
        int firstChunk = PayloadPerFragment(maxIpLength, ihl);
        if (firstChunk <= 0)
        {
            return 0;
        }

        if (payload <= firstChunk)
        {
            return 1;
        }

        Span<byte> laterHeader = stackalloc byte[60];
        int laterChunk = PayloadPerFragment(maxIpLength, CopiedOptionsHeader(ip[..ihl], laterHeader));
        return 1 + ((payload - firstChunk + laterChunk - 1) / laterChunk);
    }

    /// <summary>
    /// Writes fragment <paramref name="index"/> of the IPv4 packet <paramref name="ip"/> (header +
    /// payload) into <paramref name="destination"/> and returns its length, or 0 when there is no
    /// such fragment.
    /// </summary>
    public static int WriteFragment(ReadOnlySpan<byte> ip, int maxIpLength, int index, Span<byte> destination)
    {
        int ihl = Ipv4.HeaderLength(ip);
        int total = Ipv4.ReadTotalLength(ip);
        int payload = total - ihl;
        int firstChunk = PayloadPerFragment(maxIpLength, ihl);
        if (firstChunk <= 0)
        {
            return 0;
        }

        Span<byte> laterHeader = stackalloc byte[60];
        int laterIhl = CopiedOptionsHeader(ip[..ihl], laterHeader);
        int laterChunk = PayloadPerFragment(maxIpLength, laterIhl);
        int start = index == 0 ? 0 : firstChunk + ((index - 1) * laterChunk);
        if (start >= payload)
        {
            return 0;
        }

        int headerLength = index == 0 ? ihl : laterIhl;
        int chunk = Math.Min(index == 0 ? firstChunk : laterChunk, payload - start);
        bool last = start + chunk >= payload;
        if (index == 0)
        {
            ip[..ihl].CopyTo(destination);
        }
        else
        {
            laterHeader[..laterIhl].CopyTo(destination);
        }

        ip.Slice(ihl + start, chunk).CopyTo(destination[headerLength..]);
        ushort ff = Ipv4.ReadFlagsFragment(ip);
        int originalOffset = (ff & Ipv4.FragmentOffsetMask) * 8;
        bool originalMf = (ff & Ipv4.FlagMoreFragments) != 0;
        ushort flags = (ushort)((ff & Ipv4.FlagDontFragment) | (!last || originalMf ? Ipv4.FlagMoreFragments : 0));
        ushort newFf = (ushort)(flags | ((originalOffset + start) / 8));
        destination[0] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4.TotalLengthOffset..], (ushort)(headerLength + chunk));
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4.FlagsFragmentOffset..], newFf);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4.ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv4.ChecksumOffset..], Checksum.Compute(destination[..headerLength]));
        return headerLength + chunk;
    }

    /// <summary>The header later fragments carry: the fixed part plus options whose copy bit is set, padded to 4 bytes.</summary>
    private static int CopiedOptionsHeader(ReadOnlySpan<byte> header, Span<byte> destination)
    {
        header[..Ipv4.MinHeaderSize].CopyTo(destination);
        int w = Ipv4.MinHeaderSize;
        int i = Ipv4.MinHeaderSize;
        while (i < header.Length)
        {
            byte type = header[i];
            if (type == 0)
            {
                break; // end of option list
            }

            if (type == 1)
            {
                i++; // no-operation
                continue;
            }

            if (i + 1 >= header.Length)
            {
                break;
            }

            int len = header[i + 1];
            if (len < 2 || i + len > header.Length)
            {
                break;
            }

            if ((type & 0x80) != 0)
            {
                header.Slice(i, len).CopyTo(destination[w..]);
                w += len;
            }

            i += len;
        }

        while ((w & 3) != 0)
        {
            destination[w++] = 0;
        }

        return w;
    }
}
