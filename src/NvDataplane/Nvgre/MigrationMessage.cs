using System.Buffers.Binary;
using NvDataplane.Headers;

namespace NvDataplane.Nvgre;

/// <summary>The two MS-NVGREE extension messages a receiver NVE sends a sender NVE.</summary>
public enum MigrationMessageKind : byte
{
    None,

    /// <summary>"The VM you send to has moved to this PA" (ICMP 5/10, ICMPv6 137/1).</summary>
    Redirect,

    /// <summary>"I have no policy for the VM you send to" (ICMP 3/10, ICMPv6 1/1).</summary>
    Unreachable,
}

/// <summary>
/// The payload frame of an MS-NVGREE REDIRECT or UNREACHABLE ([MS-NVGREE] sections 2.2.x,
/// draft-sridharan-virtualization-nvgre-ext): an inner Ethernet header between the two NVEs, an
/// inner IP header from the receiver NVE's PA to the sender NVE's PA (the family of the two PAs),
/// and an ICMP / ICMPv6 message quoting the offending NVGRE packet as ICMP errors quote a
/// datagram (RFC 792, RFC 4443): from its outer IP header on, so GRE, inner Ethernet and inner IP
/// follow. The whole is NVGRE-encapsulated by the caller (VSID of the flow, FlowID 0).
/// <code>
/// Ethernet  dst = sender NVE MAC, src = receiver NVE MAC, 0x0800 / 0x86DD
/// IPv4      0x45, TOS 0, id 0, flags 0, TTL 128, protocol 1, src = receiver PA, dst = sender PA
///  ICMP     | type 5 | code 10 | checksum |  target PA (REDIRECT) or 0 (UNREACHABLE, type 3 code 10) |
///           | the offending packet: outer IP + GRE + inner frame, the message's IPv4 packet cut at 576 bytes |
/// IPv6      traffic class 0, flow label 0, next header 58, hop limit 255 (REDIRECT) / 128, PAs as above
///  ICMPv6   | type 137 | code 1 | checksum | reserved (4) | target PA (16) | destination CA (16) |
///           | option 4 (Redirected Header): | 4 | length / 8 | 6 zero bytes | the offending packet, zero-padded to 8 |
///  or       | type 1 | code 1 | checksum | unused (4) | the offending packet |  (UNREACHABLE)
///           the IPv6 packet cut at 1280 bytes; an IPv4 destination CA is written as ::ffff:a.b.c.d
/// </code>
/// </summary>
public static class MigrationMessage
{
    /// <summary>The messages' TTL / hop limit: 128, "set to 128 in Windows by default" (MS-NVGREE, HNV-NOTES section 1.3).</summary>
    private const byte DefaultTtl = 128;

    public const byte RedirectType = 5;
    public const byte RedirectCode = 10;
    public const byte UnreachableType = 3;
    public const byte UnreachableCode = 10;
    public const byte V6RedirectType = 137;
    public const byte V6RedirectCode = 1;
    public const byte V6UnreachableType = 1;
    public const byte V6UnreachableCode = 1;

    /// <summary>Largest IPv4 packet of a message (RFC 1812's ICMP error limit).</summary>
    public const int V4Limit = 576;

    /// <summary>Largest IPv6 packet of a message (RFC 4443's ICMPv6 error limit, the IPv6 minimum MTU).</summary>
    public const int V6Limit = 1280;

    /// <summary>ICMPv6 redirect: type, code, checksum, reserved (8) + target (16) + destination (16).</summary>
    public const int V6RedirectHeaderSize = 40;
    public const int V6TargetOffset = 8;
    public const int V6DestinationOffset = 24;

    /// <summary>ICMPv4 redirect: the gateway (here the target PA) right after the checksum.</summary>
    public const int V4TargetOffset = 4;

    /// <summary>RFC 4861 section 4.6.3 option type, and the size of its header (type, length, 6 reserved bytes).</summary>
    public const byte RedirectedHeaderOption = 4;
    public const int OptionHeaderSize = 8;

    /// <summary>
    /// What the inner packet of an NVGRE frame from <paramref name="outerSource"/> to
    /// <paramref name="outerDestination"/> is: a message only when it is ICMP from that same
    /// source PA to that same destination PA (a message is NVE to NVE inside as well), so a
    /// tenant's packet between CAs that happen to equal PAs is taken for one only as rarely as can be.
    /// </summary>
    public static MigrationMessageKind ClassifyInner(ReadOnlySpan<byte> inner, in PacketInfo info, IpAddr outerSource, IpAddr outerDestination) =>
        (info.Protocol == IpProtocol.Icmp || info.Protocol == IpProtocol.Icmpv6) && info.Destination == outerDestination && info.Source == outerSource
            ? Classify(inner, in info)
            : MigrationMessageKind.None;

    /// <summary>What an inner packet of an NVGRE frame addressed to this host's PA is: a REDIRECT, an UNREACHABLE, or neither.</summary>
    public static MigrationMessageKind Classify(ReadOnlySpan<byte> inner, in PacketInfo info)
    {
        if (info.IsFragment || info.L4Length < Icmp.HeaderSize)
        {
            return MigrationMessageKind.None;
        }

        byte type = inner[info.L4Offset + Icmp.TypeOffset];
        byte code = inner[info.L4Offset + Icmp.CodeOffset];
        if (info.IpVersion == 4 && info.Protocol == IpProtocol.Icmp)
        {
            return (type, code) switch
            {
                (RedirectType, RedirectCode) => MigrationMessageKind.Redirect,
                (UnreachableType, UnreachableCode) => MigrationMessageKind.Unreachable,
                _ => MigrationMessageKind.None,
            };
        }

        if (info.IpVersion == 6 && info.Protocol == IpProtocol.Icmpv6)
        {
            return (type, code) switch
            {
                (V6RedirectType, V6RedirectCode) => MigrationMessageKind.Redirect,
                (V6UnreachableType, V6UnreachableCode) => MigrationMessageKind.Unreachable,
                _ => MigrationMessageKind.None,
            };
        }

        return MigrationMessageKind.None;
    }

    /// <summary>
    /// Writes the payload frame of a message at the start of <paramref name="f"/> and returns its
    /// length; 0 when a REDIRECT cannot carry <paramref name="target"/> (another family than the
    /// PAs'). <paramref name="offending"/> is the offending packet from its outer IP header to the
    /// end of its inner frame; <paramref name="maxIpLength"/> bounds the IP packet below the 576 /
    /// 1280 limit when the provider MTU is smaller.
    /// </summary>
    public static int Write(Span<byte> f, MigrationMessageKind kind, MacAddress senderNveMac, MacAddress receiverNveMac,
        IpAddr receiverPa, IpAddr senderPa, IpAddr target, IpAddr destinationCa, ReadOnlySpan<byte> offending, int maxIpLength)
    {
        bool v4 = senderPa.IsV4;
        bool redirect = kind == MigrationMessageKind.Redirect;
        if (redirect && target.IsV4 != v4)
        {
            return 0;
        }

        int ipHeader = v4 ? Ipv4.MinHeaderSize : Ipv6.HeaderSize;
        int icmpHeader = redirect && !v4 ? V6RedirectHeaderSize + OptionHeaderSize : Icmp.HeaderSize;
        int room = Math.Min(v4 ? V4Limit : V6Limit, maxIpLength) - ipHeader - icmpHeader;
        int quote = Math.Max(0, Math.Min(offending.Length, redirect && !v4 ? room & ~7 : room));
        int padded = redirect && !v4 ? (quote + 7) & ~7 : quote;
        int icmpLength = icmpHeader + padded;

        senderNveMac.Write(f);
        receiverNveMac.Write(f[Ethernet.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[Ethernet.TypeOffset..], v4 ? Ethernet.TypeIpv4 : Ethernet.TypeIpv6);
        Span<byte> ip = f[Ethernet.HeaderSize..];
        Span<byte> icmp = ip.Slice(ipHeader, icmpLength);
        ip[..(ipHeader + icmpHeader)].Clear();
        offending[..quote].CopyTo(icmp[icmpHeader..]);
        icmp[(icmpHeader + quote)..].Clear();
        if (v4)
        {
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)(ipHeader + icmpLength));
            ip[Ipv4.TtlOffset] = DefaultTtl;
            ip[Ipv4.ProtocolOffset] = IpProtocol.Icmp;
            receiverPa.Write(ip[Ipv4.SourceOffset..]);
            senderPa.Write(ip[Ipv4.DestinationOffset..]);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.Compute(ip[..ipHeader]));
            icmp[Icmp.TypeOffset] = redirect ? RedirectType : UnreachableType;
            icmp[Icmp.CodeOffset] = redirect ? RedirectCode : UnreachableCode;
            if (redirect)
            {
                target.Write(icmp[V4TargetOffset..]);
            }

            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp));
        }
        else
        {
            ip[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], (ushort)icmpLength);
            ip[Ipv6.NextHeaderOffset] = IpProtocol.Icmpv6;
            ip[Ipv6.HopLimitOffset] = (byte)(redirect ? 255 : DefaultTtl); // RFC 4861 8.1: a redirect's hop limit is 255
            receiverPa.Write(ip[Ipv6.SourceOffset..]);
            senderPa.Write(ip[Ipv6.DestinationOffset..]);
            icmp[Icmp.TypeOffset] = redirect ? V6RedirectType : V6UnreachableType;
            icmp[Icmp.CodeOffset] = redirect ? V6RedirectCode : V6UnreachableCode;
            if (redirect)
            {
                target.Write(icmp[V6TargetOffset..]);
                BinaryPrimitives.WriteUInt64BigEndian(icmp[V6DestinationOffset..], destinationCa.Hi); // IPv4 as ::ffff:a.b.c.d
                BinaryPrimitives.WriteUInt64BigEndian(icmp[(V6DestinationOffset + 8)..], destinationCa.Lo);
                icmp[V6RedirectHeaderSize] = RedirectedHeaderOption;
                icmp[V6RedirectHeaderSize + 1] = (byte)((OptionHeaderSize + padded) / 8);
            }

            ulong pseudo = Checksum.PseudoHeaderSum(receiverPa, senderPa, IpProtocol.Icmpv6, icmpLength);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[Icmp.ChecksumOffset..], Checksum.Compute(icmp, pseudo));
        }

        return Ethernet.HeaderSize + ipHeader + icmpLength;
    }

    /// <summary>
    /// Reads a REDIRECT's target PA and, from the NVGRE packet it quotes, the VSID (GRE key) and the
    /// destination CA (inner IPv4 / IPv6 destination). <paramref name="inner"/> is the message's
    /// payload frame, <paramref name="info"/> its parse. False when any of it is missing or cut.
    /// </summary>
    public static bool TryReadRedirect(ReadOnlySpan<byte> inner, in PacketInfo info, out IpAddr target, out uint vsid, out IpAddr destinationCa)
    {
        target = default;
        vsid = 0;
        destinationCa = default;
        ReadOnlySpan<byte> icmp = inner[info.L4Offset..info.IpFrameEnd];
        ReadOnlySpan<byte> quoted;
        if (info.IpVersion == 4)
        {
            target = IpAddr.ReadV4(icmp[V4TargetOffset..]);
            quoted = icmp[Icmp.HeaderSize..];
        }
        else
        {
            if (icmp.Length < V6RedirectHeaderSize)
            {
                return false;
            }

            target = IpAddr.ReadV6(icmp[V6TargetOffset..]);
            if (!TryFindRedirectedHeader(icmp[V6RedirectHeaderSize..], out quoted))
            {
                return false;
            }
        }

        return TryReadQuoted(quoted, out vsid, out destinationCa);
    }

    /// <summary>The data of the first Redirected Header option (RFC 4861 4.6.3) among <paramref name="options"/>.</summary>
    private static bool TryFindRedirectedHeader(ReadOnlySpan<byte> options, out ReadOnlySpan<byte> data)
    {
        while (options.Length >= OptionHeaderSize && options[1] != 0 && options[1] * 8 <= options.Length)
        {
            int length = options[1] * 8;
            if (options[0] == RedirectedHeaderOption)
            {
                data = options[OptionHeaderSize..length];
                return true;
            }

            options = options[length..];
        }

        data = default;
        return false;
    }

    /// <summary>The VSID and inner destination CA of a quoted NVGRE packet (outer IPv4 or IPv6 header first).</summary>
    private static bool TryReadQuoted(ReadOnlySpan<byte> quoted, out uint vsid, out IpAddr destinationCa)
    {
        vsid = 0;
        destinationCa = default;
        int greOffset;
        if (quoted.Length >= Ipv4.MinHeaderSize && quoted[0] >> 4 == 4 && quoted[Ipv4.ProtocolOffset] == IpProtocol.Gre
            && Ipv4.HeaderLength(quoted) >= Ipv4.MinHeaderSize)
        {
            greOffset = Ipv4.HeaderLength(quoted);
        }
        else if (quoted.Length >= Ipv6.HeaderSize && quoted[0] >> 4 == 6 && quoted[Ipv6.NextHeaderOffset] == IpProtocol.Gre)
        {
            greOffset = Ipv6.HeaderSize;
        }
        else
        {
            return false;
        }

        quoted = quoted[Math.Min(greOffset, quoted.Length)..];
        if (!GreReader.TryCreate(quoted, out var gre) || !gre.HasKeyBytes
            || gre.FlagsVersion != Gre.NvgreFlagsVersion || gre.Protocol != Ethernet.TypeTransparentBridging)
        {
            return false;
        }

        ReadOnlySpan<byte> frame = quoted[Gre.NvgreSize..];
        if (frame.Length < Ethernet.HeaderSize)
        {
            return false;
        }

        ushort type = Ethernet.ReadType(frame);
        ReadOnlySpan<byte> ip = frame[Ethernet.HeaderSize..];
        if (type == Ethernet.TypeIpv4 && ip.Length >= Ipv4.MinHeaderSize)
        {
            destinationCa = IpAddr.ReadV4(ip[Ipv4.DestinationOffset..]);
        }
        else if (type == Ethernet.TypeIpv6 && ip.Length >= Ipv6.HeaderSize)
        {
            destinationCa = IpAddr.ReadV6(ip[Ipv6.DestinationOffset..]);
        }
        else
        {
            return false;
        }

        vsid = gre.Vsid;
        return true;
    }
}
