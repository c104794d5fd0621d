using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>
/// The DHCP server of a vm port (docs/FORWARDING.md section 5): a client message to the server is
/// answered from the policy in its own buffer (OFFER, ACK or NAK, from the gateway address and
/// MAC, UDP 67 → 68) or dropped under one reason. Nothing is remembered between messages: the
/// one address a port can have is its record's CA.
/// </summary>
public static class DhcpResponder
{
    private const uint Broadcast = 0xFFFF_FFFF;

    /// <summary>An unfragmented IPv4 UDP datagram 68 → 67 to the limited broadcast or a gateway address of the VSID.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsToServer(in PacketInfo info, VsidInfo vsid) =>
        info.DestinationPort == Dhcp.ServerPort
        && info.SourcePort == Dhcp.ClientPort
        && info.Protocol == IpProtocol.Udp
        && info.IpVersion == 4
        && !info.IsFragment
        && IsServerAddress(info.Destination, vsid);

    private static bool IsServerAddress(IpAddr destination, VsidInfo vsid) =>
        destination.V4 == Broadcast || vsid.IsGatewayAddress(destination);

    /// <summary>
    /// Answers the client message in <paramref name="buffer"/> (its IPv4 header parsed into
    /// <paramref name="info"/>, 14-byte Ethernet header) by rewriting the buffer into the reply;
    /// returns <see cref="DropReason.None"/> when it did, else why not (the buffer is then unchanged).
    /// </summary>
    public static DropReason Respond(PacketBuffer buffer, in PacketInfo info, MacAddress portMac, int port, DhcpBindings bindings, MacAddress gatewayMac)
    {
        ReadOnlySpan<byte> frame = buffer.Frame;
        int udpLength = BinaryPrimitives.ReadUInt16BigEndian(frame[(info.L4Offset + Udp.LengthOffset)..]);
        if (udpLength < Udp.HeaderSize || udpLength > info.L4Length
            || !DhcpRequestReader.TryRead(frame.Slice(info.L4Offset + Udp.HeaderSize, udpLength - Udp.HeaderSize), out var request))
        {
            return DropReason.DhcpMalformed;
        }

        if (request.ClientMac != portMac)
        {
            return DropReason.SpoofedSource;
        }

        if (request.RelayAddress != 0)
        {
            return DropReason.DhcpMalformed; // a vm port is its own link: no relay stands between
        }

        switch (request.MessageType)
        {
            case Dhcp.Discover or Dhcp.Request or Dhcp.Inform:
                break;
            case Dhcp.Release:
                return DropReason.DhcpRelease;
            case Dhcp.Decline:
                return DropReason.DhcpDecline;
            default:
                return DropReason.DhcpMalformed; // a server's message type, or none defined
        }

        var binding = bindings.Find(port, out DropReason missing);
        if (binding is null)
        {
            return missing;
        }

        uint ca = binding.ClientAddress.V4;
        uint server = binding.ServerAddress.V4;
        byte type;
        uint yourAddress = ca;
        uint clientAddress = 0;
        byte[] options = binding.LeaseOptions;
        switch (request.MessageType)
        {
            case Dhcp.Discover:
                type = Dhcp.Offer;
                break;
            case Dhcp.Request:
                uint wanted = request.HasRequestedAddress ? request.RequestedAddress : request.ClientAddress;
                bool granted = wanted == ca && (!request.HasServerId || request.ServerId == server);
                type = granted ? Dhcp.Ack : Dhcp.Nak;
                yourAddress = granted ? ca : 0;
                clientAddress = granted ? request.ClientAddress : 0;
                break;
            default: // Inform: the parameters for an address the client already has, which must be its own
                if (request.ClientAddress != ca)
                {
                    return DropReason.SpoofedSource;
                }

                type = Dhcp.Ack;
                yourAddress = 0;
                clientAddress = ca;
                options = binding.InformOptions;
                break;
        }

        WriteReply(buffer, in request, type, clientAddress, yourAddress, server, type == Dhcp.Nak ? null : options, gatewayMac);
        return DropReason.None;
    }

    /// <summary>
    /// Writes the reply over the request: Ethernet, IPv4 (no options), UDP 67 → 68 and the BOOTP
    /// message, addressed by RFC 2131 section 4.1 (giaddr is 0): NAK broadcast; to ciaddr when set;
    /// broadcast when the client set the BROADCAST flag; else to yiaddr at chaddr.
    /// </summary>
    private static void WriteReply(PacketBuffer buffer, in DhcpRequest request, byte type, uint clientAddress, uint yourAddress, uint server, byte[]? options, MacAddress gatewayMac)
    {
        bool broadcast = type == Dhcp.Nak || (request.ClientAddress == 0 && (request.Flags & Dhcp.FlagBroadcast) != 0);
        uint destination = broadcast ? Broadcast : request.ClientAddress != 0 ? request.ClientAddress : yourAddress;
        int optionsLength = 3 + (options?.Length ?? 6) + 1; // 53, the block (a NAK: 54 alone), 255
        int messageLength = Math.Max(Dhcp.MinReplySize, Dhcp.OptionsOffset + optionsLength);
        int udpLength = Udp.HeaderSize + messageLength;
        int ipLength = Ipv4.MinHeaderSize + udpLength;

        Span<byte> f = buffer.Data.AsSpan(buffer.Offset, Ethernet.HeaderSize + ipLength);
        f.Clear();
        (broadcast ? MacAddress.Broadcast : request.ClientMac).Write(f);
        gatewayMac.Write(f[Ethernet.SourceOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(f[Ethernet.TypeOffset..], Ethernet.TypeIpv4);

        Span<byte> ip = f[Ethernet.HeaderSize..];
        ip[Ipv4.VersionIhlOffset] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)ipLength);
        ip[Ipv4.TtlOffset] = 64;
        ip[Ipv4.ProtocolOffset] = IpProtocol.Udp;
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4.SourceOffset..], server);
        BinaryPrimitives.WriteUInt32BigEndian(ip[Ipv4.DestinationOffset..], destination);
        BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], Checksum.ComputeIpv4Header20(ip));

        Span<byte> udp = ip.Slice(Ipv4.MinHeaderSize, udpLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp, Dhcp.ServerPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], Dhcp.ClientPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[Udp.LengthOffset..], (ushort)udpLength);

        Span<byte> m = udp[Udp.HeaderSize..];
        m[Dhcp.OpOffset] = Dhcp.OpReply;
        m[Dhcp.HardwareTypeOffset] = Dhcp.HardwareTypeEthernet;
        m[Dhcp.HardwareLengthOffset] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(m[Dhcp.TransactionIdOffset..], request.TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(m[Dhcp.FlagsOffset..], request.Flags);
        BinaryPrimitives.WriteUInt32BigEndian(m[Dhcp.ClientAddressOffset..], clientAddress);
        BinaryPrimitives.WriteUInt32BigEndian(m[Dhcp.YourAddressOffset..], yourAddress);
        BinaryPrimitives.WriteUInt64BigEndian(m[Dhcp.ClientHardwareAddressOffset..], request.HardwareAddressHigh);
        BinaryPrimitives.WriteUInt64BigEndian(m[(Dhcp.ClientHardwareAddressOffset + 8)..], request.HardwareAddressLow);
        BinaryPrimitives.WriteUInt32BigEndian(m[Dhcp.MagicCookieOffset..], Dhcp.MagicCookie);
        Span<byte> o = m[Dhcp.OptionsOffset..];
        o[0] = Dhcp.OptionMessageType;
        o[1] = 1;
        o[2] = type;
        int at = 3;
        if (options is not null)
        {
            options.CopyTo(o[at..]);
            at += options.Length;
        }
        else
        {
            // A NAK carries the server id and nothing else (RFC 2131 table 3).
            o[at] = Dhcp.OptionServerId;
            o[at + 1] = 4;
            BinaryPrimitives.WriteUInt32BigEndian(o[(at + 2)..], server);
            at += 6;
        }

        o[at] = Dhcp.OptionEnd; // the rest, up to 300 bytes, stays zero (pad)

        ulong pseudo = Checksum.PseudoHeaderSum(IpAddr.FromV4(server), IpAddr.FromV4(destination), IpProtocol.Udp, udpLength);
        ushort sum = Checksum.Compute(udp, pseudo);
        BinaryPrimitives.WriteUInt16BigEndian(udp[Udp.ChecksumOffset..], sum == 0 ? (ushort)0xFFFF : sum);
        buffer.Length = f.Length;
    }
}
