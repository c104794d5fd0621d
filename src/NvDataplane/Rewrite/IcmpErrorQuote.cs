using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;

namespace NvDataplane.Rewrite;

/// <summary>
/// ICMP errors about a packet that IP rewrite sent (docs/FORWARDING.md 2.6). A provider router
/// that cannot forward a rewritten packet (fragmentation needed, TTL exceeded) answers its
/// source, a Nat record's PA, and quotes the packet as it saw it: between PAs. The VM behind
/// that PA matches the error against its own socket only when the quote carries its CAs again,
/// so the quote is rewritten back like the packet around it — addresses, the quoted IPv4 header
/// checksum and the quoted transport checksum where the quote holds it (TCP, UDP, UDP-Lite, DCCP, ICMPv6; behind IPv6 extension headers too) — and the ICMP checksum
/// is computed anew over the result.
/// </summary>
public static class IcmpErrorQuote
{
    /// <summary>
    /// True for an unfragmented ICMP error — IPv4 destination unreachable (3), time exceeded (11),
    /// parameter problem (12); ICMPv6 types 1–4 — whose message holds its 8-byte header. Source
    /// quench and redirect are not relayed: one is obsolete (RFC 6633), the other speaks of the
    /// provider network's own routes.
    /// </summary>
    public static bool IsError(ReadOnlySpan<byte> frame, in PacketInfo info)
    {
        if (info.IsFragment || info.L4Length < Icmp.HeaderSize)
        {
            return false;
        }

        byte type = frame[info.L4Offset + Icmp.TypeOffset];
        return info.IpVersion == 4
            ? info.Protocol == IpProtocol.Icmp && type is Icmp.DestinationUnreachable or Icmp.TimeExceeded or 12
            : info.Protocol == IpProtocol.Icmpv6 && type is >= 1 and <= 4;
    }

    /// <summary>
    /// Reads the addresses of the quoted packet of an error (<see cref="IsError"/>): a header of
    /// the error's own IP version, whole (<c>truncated</c> when the quote is shorter, and
    /// <c>malformed_header</c> when it is another version or an IPv4 header length under 20).
    /// </summary>
    public static DropReason TryRead(ReadOnlySpan<byte> frame, in PacketInfo info, out IpAddr source, out IpAddr destination)
    {
        source = destination = default;
        ReadOnlySpan<byte> quote = Quote(frame, in info);
        bool v4 = info.IpVersion == 4;
        if (quote.IsEmpty)
        {
            return DropReason.Truncated;
        }

        if (quote[0] >> 4 != info.IpVersion)
        {
            return DropReason.MalformedHeader;
        }

        if (quote.Length < (v4 ? Ipv4.MinHeaderSize : Ipv6.HeaderSize))
        {
            return DropReason.Truncated;
        }

        if (v4 && Ipv4.HeaderLength(quote) < Ipv4.MinHeaderSize)
        {
            return DropReason.MalformedHeader;
        }

        if (v4 && Ipv4.HeaderLength(quote) > quote.Length)
        {
            return DropReason.Truncated;
        }

        source = v4 ? IpAddr.ReadV4(quote[Ipv4.SourceOffset..]) : IpAddr.ReadV6(quote[Ipv6.SourceOffset..]);
        destination = v4 ? IpAddr.ReadV4(quote[Ipv4.DestinationOffset..]) : IpAddr.ReadV6(quote[Ipv6.DestinationOffset..]);
        return DropReason.None;
    }

    /// <summary>
    /// Rewrites an error whose quote <see cref="TryRead"/> accepted: the error's own addresses
    /// become <paramref name="newSource"/> / <paramref name="newDestination"/> (the IPv4 header
    /// checksum patched), the quoted ones <paramref name="quotedSource"/> /
    /// <paramref name="quotedDestination"/> (the quoted IPv4 header checksum patched, and the
    /// quoted TCP / UDP / UDP-Lite / DCCP / ICMPv6 checksum when the quote reaches it and the quoted packet is
    /// not a later fragment), and the ICMP / ICMPv6 checksum is computed over the new message.
    /// </summary>
    public static void Rewrite(Span<byte> frame, ref PacketInfo info, IpAddr newSource, IpAddr newDestination, IpAddr quotedSource, IpAddr quotedDestination)
    {
        bool v4 = info.IpVersion == 4;
        Span<byte> quote = frame.Slice(info.L4Offset + Icmp.HeaderSize, info.L4Length - Icmp.HeaderSize);
        RewriteQuote(quote, v4, quotedSource, quotedDestination);

        ulong oldSum = Checksum.AddressSum(info.Source) + Checksum.AddressSum(info.Destination);
        ulong newSum = Checksum.AddressSum(newSource) + Checksum.AddressSum(newDestination);
        AddressRewriter.WriteAddresses(frame[info.L3Offset..], v4, newSource, newDestination, oldSum, newSum);
        info.Source = newSource;
        info.Destination = newDestination;
        Span<byte> icmp = frame.Slice(info.L4Offset, info.L4Length);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], 0);
        ulong pseudo = v4 ? 0 : Checksum.PseudoHeaderSum(newSource, newDestination, IpProtocol.Icmpv6, icmp.Length);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp, pseudo));
    }

    private static ReadOnlySpan<byte> Quote(ReadOnlySpan<byte> frame, in PacketInfo info) =>
        frame.Slice(info.L4Offset + Icmp.HeaderSize, info.L4Length - Icmp.HeaderSize);

    /// <summary>
    /// Walks a quoted IPv6 packet's extension headers (as PacketInfo does a packet's, with the
    /// same <see cref="Ipv6"/> rules) to its transport header. False when the transport checksum
    /// must stay as it is: the quote is a later fragment or ends inside the chain. The quote's
    /// checksum is patched as the packet's own rewrite patched it, so the VM gets back the bytes
    /// it sent.
    /// </summary>
    private static bool TryFindTransport(ReadOnlySpan<byte> quote, out int offset, out byte protocol)
    {
        protocol = quote[Ipv6.NextHeaderOffset];
        offset = Ipv6.HeaderSize;
        for (int guard = 0; guard < 16; guard++)
        {
            if (!Ipv6.IsExtensionHeader(protocol))
            {
                return offset <= quote.Length;
            }

            if (quote.Length - offset < 8 || (protocol == Ipv6.Fragment && Ipv6.IsLaterFragment(quote[offset..])))
            {
                return false;
            }

            int length = Ipv6.ExtensionHeaderLength(protocol, quote[offset..]);
            protocol = quote[offset];
            offset += length;
        }

        return false;
    }

    private static void RewriteQuote(Span<byte> quote, bool v4, IpAddr newSource, IpAddr newDestination)
    {
        IpAddr oldSource, oldDestination;
        int headerLength;
        byte protocol;
        bool later;
        if (v4)
        {
            oldSource = IpAddr.ReadV4(quote[Ipv4.SourceOffset..]);
            oldDestination = IpAddr.ReadV4(quote[Ipv4.DestinationOffset..]);
            headerLength = Ipv4.HeaderLength(quote);
            protocol = quote[Ipv4.ProtocolOffset];
            later = (Ipv4.ReadFlagsFragment(quote) & Ipv4.FragmentOffsetMask) != 0;
        }
        else
        {
            oldSource = IpAddr.ReadV6(quote[Ipv6.SourceOffset..]);
            oldDestination = IpAddr.ReadV6(quote[Ipv6.DestinationOffset..]);
            later = !TryFindTransport(quote, out headerLength, out protocol);
        }

        ulong oldSum = Checksum.AddressSum(oldSource) + Checksum.AddressSum(oldDestination);
        ulong newSum = Checksum.AddressSum(newSource) + Checksum.AddressSum(newDestination);
        AddressRewriter.WriteAddresses(quote, v4, newSource, newDestination, oldSum, newSum);
        if (later)
        {
            return;
        }

        Span<byte> l4 = quote[headerLength..];
        bool udp = protocol is IpProtocol.Udp or IpProtocol.UdpLite;
        int at = protocol switch
        {
            IpProtocol.Tcp => Tcp.ChecksumOffset,
            IpProtocol.Udp or IpProtocol.UdpLite or IpProtocol.Dccp => Udp.ChecksumOffset,
            IpProtocol.Icmpv6 when !v4 => Icmp.ChecksumOffset,
            _ => -1,
        };
        if (at < 0 || l4.Length < at + 2)
        {
            return;
        }

        if (udp)
        {
            AddressRewriter.UpdateUdp(l4, oldSum, newSum); // a zero ("no checksum") kept, as the packet's own rewrite kept it
        }
        else
        {
            Checksum.Update(l4[at..], oldSum, newSum);
        }
    }
}
