using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Headers;

namespace NvDataplane.Rewrite;

/// <summary>
/// IP rewrite (TranslationMethodNat): replaces the source and destination addresses in place and
/// patches every checksum that covers them by RFC 1624 incremental update — the IPv4 header
/// checksum, the TCP, UDP, UDP-Lite and DCCP pseudo-header checksums (a zero UDP checksum stays
/// zero: over IPv4 it means "none", over IPv6 only tunnels may send it (RFC 6935), in UDP-Lite it
/// is invalid (RFC 3828 3.1), and no update of it would be right), and the ICMPv6 checksum. Later fragments carry no transport header, except the TCP
/// checksum of an IPv4 packet whose first fragment stopped short of it (RFC 1858's tiny
/// fragments): the fragment that holds it is patched. An IPv6 first fragment always holds the
/// whole TCP header (RFC 7112; the parser refuses one that does not).
/// </summary>
public static class AddressRewriter
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Rewrite(Span<byte> frame, ref PacketInfo info, IpAddr newSource, IpAddr newDestination)
    {
        ulong oldSum = Checksum.AddressSum(info.Source) + Checksum.AddressSum(info.Destination);
        ulong newSum = Checksum.AddressSum(newSource) + Checksum.AddressSum(newDestination);
        WriteAddresses(frame[info.L3Offset..], info.IpVersion == 4, newSource, newDestination, oldSum, newSum);
        info.Source = newSource;
        info.Destination = newDestination;
        if (info.IsLaterFragment)
        {
            if (info.IpVersion == 4 && info.Protocol == IpProtocol.Tcp)
            {
                TcpChecksumInLaterFragment(frame, in info, oldSum, newSum);
            }

            return;
        }

        Span<byte> l4 = frame[info.L4Offset..];
        int l4Length = info.L4Length;
        switch (info.Protocol)
        {
            case IpProtocol.Tcp when l4Length >= Tcp.ChecksumOffset + 2:
                Checksum.Update(l4[Tcp.ChecksumOffset..], oldSum, newSum);
                break;
            case IpProtocol.Udp or IpProtocol.UdpLite when l4Length >= Udp.HeaderSize:
                UpdateUdp(l4, oldSum, newSum);
                break;
            case IpProtocol.Dccp when l4Length >= Udp.ChecksumOffset + 2:
                Checksum.Update(l4[Udp.ChecksumOffset..], oldSum, newSum);
                break;
            case IpProtocol.Icmpv6 when l4Length >= 4:
                Checksum.Update(l4[Icmp.ChecksumOffset..], oldSum, newSum);
                break;
            default:
                break;
        }
    }

    /// <summary>
    /// Writes <paramref name="newSource"/> and <paramref name="newDestination"/> into the IP header
    /// at <paramref name="ip"/>, patching an IPv4 header checksum from the address sums
    /// <paramref name="oldSum"/> to <paramref name="newSum"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void WriteAddresses(Span<byte> ip, bool v4, IpAddr newSource, IpAddr newDestination, ulong oldSum, ulong newSum)
    {
        if (v4)
        {
            newSource.Write(ip[Ipv4.SourceOffset..]);
            newDestination.Write(ip[Ipv4.DestinationOffset..]);
            Checksum.Update(ip[Ipv4.ChecksumOffset..], oldSum, newSum);
        }
        else
        {
            newSource.Write(ip[Ipv6.SourceOffset..]);
            newDestination.Write(ip[Ipv6.DestinationOffset..]);
        }
    }

    /// <summary>
    /// The TCP checksum when it travels in this later IPv4 fragment: fragments start at multiples
    /// of 8 bytes, so a first fragment of 8 or 16 transport bytes leaves bytes 16-17 to the one
    /// starting at 8 or 16.
    /// </summary>
    private static void TcpChecksumInLaterFragment(Span<byte> frame, in PacketInfo info, ulong oldSum, ulong newSum)
    {
        int start = (BinaryPrimitives.ReadUInt16BigEndian(frame[(info.L3Offset + Ipv4.FlagsFragmentOffset)..]) & Ipv4.FragmentOffsetMask) * 8;
        int at = Tcp.ChecksumOffset - start;
        if (at >= 0 && at + 2 <= info.L4Length)
        {
            Checksum.Update(frame[(info.L4Offset + at)..], oldSum, newSum);
        }
    }

    /// <summary>UDP and UDP-Lite: zero kept, a computed zero sent as all ones (RFC 768, RFC 3828 3.1).</summary>
    internal static void UpdateUdp(Span<byte> udp, ulong oldSum, ulong newSum)
    {
        Span<byte> field = udp[Udp.ChecksumOffset..];
        if (BinaryPrimitives.ReadUInt16BigEndian(field) == 0)
        {
            return;
        }

        Checksum.Update(field, oldSum, newSum);
        if (BinaryPrimitives.ReadUInt16BigEndian(field) == 0)
        {
            // RFC 768: a computed zero is sent as all ones.
            BinaryPrimitives.WriteUInt16BigEndian(field, 0xFFFF);
        }
    }

    /// <summary>Decrements the IPv4 TTL / IPv6 hop limit (IPv4 checksum patched incrementally).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecrementTtl(Span<byte> frame, ref PacketInfo info)
    {
        Span<byte> ip = frame[info.L3Offset..];
        if (info.IpVersion == 4)
        {
            ushort oldWord = BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4.TtlOffset..]);
            ip[Ipv4.TtlOffset]--;
            ushort newWord = BinaryPrimitives.ReadUInt16BigEndian(ip[Ipv4.TtlOffset..]);
            Checksum.Update16(ip[Ipv4.ChecksumOffset..], oldWord, newWord);
        }
        else
        {
            ip[Ipv6.HopLimitOffset]--;
        }

        info.Ttl--;
    }
}
