using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Headers;

namespace NvDataplane.Rewrite;

/// <summary>
/// IP rewrite (TranslationMethodNat): replaces the source and destination addresses in place and
/// patches every checksum that covers them by RFC 1624 incremental update — the IPv4 header
/// checksum, the TCP and UDP pseudo-header checksums (a zero UDP checksum over IPv4 stays zero:
/// it means "none"), and the ICMPv6 checksum. Later fragments carry no transport header.
/// </summary>
public static class AddressRewriter
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Rewrite(Span<byte> frame, ref PacketInfo info, IpAddr newSource, IpAddr newDestination)
    {
        ulong oldSum = Checksum.AddressSum(info.Source) + Checksum.AddressSum(info.Destination);
        ulong newSum = Checksum.AddressSum(newSource) + Checksum.AddressSum(newDestination);
        Span<byte> ip = frame[info.L3Offset..];
        if (info.IpVersion == 4)
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

        info.Source = newSource;
        info.Destination = newDestination;
        if (info.IsLaterFragment)
        {
            return;
        }

        Span<byte> l4 = frame[info.L4Offset..];
        int l4Length = info.L4Length;
        switch (info.Protocol)
        {
            case IpProtocol.Tcp when l4Length >= Tcp.MinHeaderSize:
                Checksum.Update(l4[Tcp.ChecksumOffset..], oldSum, newSum);
                break;
            case IpProtocol.Udp when l4Length >= Udp.HeaderSize:
                UpdateUdp(l4, oldSum, newSum, info.IpVersion == 4);
                break;
            case IpProtocol.Icmpv6 when l4Length >= 4:
                Checksum.Update(l4[Icmp.ChecksumOffset..], oldSum, newSum);
                break;
            default:
                break;
        }
    }

    private static void UpdateUdp(Span<byte> udp, ulong oldSum, ulong newSum, bool v4)
    {
        Span<byte> field = udp[Udp.ChecksumOffset..];
        if (v4 && BinaryPrimitives.ReadUInt16BigEndian(field) == 0)
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
