using System.Buffers.Binary;

namespace NvDataplane.Headers;

/// <summary>
/// A BOOTP / DHCPv4 message (RFC 2131 section 2; options RFC 2132), the UDP payload between
/// client port 68 and server port 67.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+---------------+---------------+---------------+
/// |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
/// +---------------+---------------+---------------+---------------+
/// |                            xid (4)                            |
/// +-------------------------------+-------------------------------+
/// |           secs (2)            |           flags (2)           |
/// +-------------------------------+-------------------------------+
/// |                          ciaddr  (4)                          |
/// |                          yiaddr  (4)                          |
/// |                          siaddr  (4)                          |
/// |                          giaddr  (4)                          |
/// |                          chaddr  (16)                         |
/// |                          sname   (64)                         |
/// |                          file    (128)                        |
/// +---------------------------------------------------------------+
/// |        magic cookie 99.130.83.99 (4), then the options        |
/// +---------------------------------------------------------------+
/// </code>
/// Options are code (1), length (1), value; code 0 is a lone pad byte and 255 ends the list.
/// </summary>
public static class Dhcp
{
    public const ushort ServerPort = 67;
    public const ushort ClientPort = 68;

    public const int OpOffset = 0;
    public const int HardwareTypeOffset = 1;
    public const int HardwareLengthOffset = 2;
    public const int HopsOffset = 3;
    public const int TransactionIdOffset = 4;
    public const int SecondsOffset = 8;
    public const int FlagsOffset = 10;
    public const int ClientAddressOffset = 12;
    public const int YourAddressOffset = 16;
    public const int ServerAddressOffset = 20;
    public const int RelayAddressOffset = 24;
    public const int ClientHardwareAddressOffset = 28;
    public const int ServerNameOffset = 44;
    public const int FileOffset = 108;
    public const int MagicCookieOffset = 236;
    public const int OptionsOffset = 240;

    public const int ClientHardwareAddressSize = 16;
    public const int ServerNameSize = 64;
    public const int FileSize = 128;

    /// <summary>The fixed BOOTP part and the magic cookie: the smallest DHCP message.</summary>
    public const int MinSize = OptionsOffset;

    /// <summary>Replies are padded to the 300-byte BOOTP minimum (RFC 1542 section 2.1) for old clients.</summary>
    public const int MinReplySize = 300;

    public const uint MagicCookie = 0x6382_5363;

    public const byte OpRequest = 1;
    public const byte OpReply = 2;
    public const byte HardwareTypeEthernet = 1;

    /// <summary>The BROADCAST bit of <c>flags</c> (RFC 2131 section 2, figure 2).</summary>
    public const ushort FlagBroadcast = 0x8000;

    // Option codes (RFC 2132).
    public const byte OptionPad = 0;
    public const byte OptionSubnetMask = 1;
    public const byte OptionRouter = 3;
    public const byte OptionDnsServers = 6;
    public const byte OptionDomainName = 15;
    public const byte OptionInterfaceMtu = 26;
    public const byte OptionRequestedAddress = 50;
    public const byte OptionLeaseTime = 51;
    public const byte OptionMessageType = 53;
    public const byte OptionServerId = 54;
    public const byte OptionRenewalTime = 58;
    public const byte OptionRebindingTime = 59;
    public const byte OptionEnd = 255;

    // Option 53 values (RFC 2132 section 9.6).
    public const byte Discover = 1;
    public const byte Offer = 2;
    public const byte Request = 3;
    public const byte Decline = 4;
    public const byte Ack = 5;
    public const byte Nak = 6;
    public const byte Release = 7;
    public const byte Inform = 8;

    /// <summary>Lease time 0xFFFFFFFF: infinite (RFC 2132 section 9.2).</summary>
    public const uint InfiniteLease = 0xFFFF_FFFF;
}

/// <summary>What the server needs of a client message, read by <see cref="DhcpRequestReader"/>.</summary>
public readonly struct DhcpRequest
{
    public byte MessageType { get; init; }
    public uint TransactionId { get; init; }
    public ushort Flags { get; init; }

    /// <summary>ciaddr (host order; 0 when unset).</summary>
    public uint ClientAddress { get; init; }

    /// <summary>giaddr (host order; 0 when the message was not relayed).</summary>
    public uint RelayAddress { get; init; }

    /// <summary>chaddr, all 16 bytes as sent (the first 6 are the MAC), kept to be echoed.</summary>
    public ulong HardwareAddressHigh { get; init; }
    public ulong HardwareAddressLow { get; init; }

    /// <summary>Option 50 (host order), when <see cref="HasRequestedAddress"/>.</summary>
    public uint RequestedAddress { get; init; }
    public bool HasRequestedAddress { get; init; }

    /// <summary>Option 54 (host order), when <see cref="HasServerId"/>.</summary>
    public uint ServerId { get; init; }
    public bool HasServerId { get; init; }

    /// <summary>The client's MAC: the first 6 bytes of chaddr.</summary>
    public MacAddress ClientMac => new(HardwareAddressHigh >> 16);
}

/// <summary>
/// Reads a client's BOOTREQUEST: the fixed part, the magic cookie and the option list, every
/// length checked before it is read (never throws, never allocates). Options other than 50, 53
/// and 54 are skipped; overloading sname/file (option 52) is not followed.
/// </summary>
public static class DhcpRequestReader
{
    /// <summary>
    /// False when <paramref name="message"/> is not a DHCP request from an Ethernet client: shorter
    /// than 240 bytes, op not BOOTREQUEST, htype/hlen not Ethernet, no magic cookie, an option
    /// running past the end, option 53, 50 or 54 with a wrong length or given twice, or no option 53.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> message, out DhcpRequest request)
    {
        request = default;
        if (message.Length < Dhcp.MinSize
            || message[Dhcp.OpOffset] != Dhcp.OpRequest
            || message[Dhcp.HardwareTypeOffset] != Dhcp.HardwareTypeEthernet
            || message[Dhcp.HardwareLengthOffset] != 6
            || BinaryPrimitives.ReadUInt32BigEndian(message[Dhcp.MagicCookieOffset..]) != Dhcp.MagicCookie)
        {
            return false;
        }

        byte type = 0;
        uint requested = 0, serverId = 0;
        bool hasRequested = false, hasServerId = false;
        int i = Dhcp.OptionsOffset;
        while (i < message.Length)
        {
            byte code = message[i];
            if (code == Dhcp.OptionPad)
            {
                i++;
                continue;
            }

            if (code == Dhcp.OptionEnd)
            {
                break;
            }

            if (i + 2 > message.Length)
            {
                return false;
            }

            int length = message[i + 1];
            int value = i + 2;
            if (value + length > message.Length)
            {
                return false;
            }

            switch (code)
            {
                case Dhcp.OptionMessageType:
                    if (length != 1 || type != 0 || message[value] == 0)
                    {
                        return false;
                    }

                    type = message[value];
                    break;
                case Dhcp.OptionRequestedAddress:
                    if (length != 4 || hasRequested)
                    {
                        return false;
                    }

                    requested = BinaryPrimitives.ReadUInt32BigEndian(message[value..]);
                    hasRequested = true;
                    break;
                case Dhcp.OptionServerId:
                    if (length != 4 || hasServerId)
                    {
                        return false;
                    }

                    serverId = BinaryPrimitives.ReadUInt32BigEndian(message[value..]);
                    hasServerId = true;
                    break;
            }

            i = value + length;
        }

        if (type == 0)
        {
            return false; // plain BOOTP: no DHCP message type
        }

        ReadOnlySpan<byte> chaddr = message.Slice(Dhcp.ClientHardwareAddressOffset, Dhcp.ClientHardwareAddressSize);
        request = new DhcpRequest
        {
            MessageType = type,
            TransactionId = BinaryPrimitives.ReadUInt32BigEndian(message[Dhcp.TransactionIdOffset..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(message[Dhcp.FlagsOffset..]),
            ClientAddress = BinaryPrimitives.ReadUInt32BigEndian(message[Dhcp.ClientAddressOffset..]),
            RelayAddress = BinaryPrimitives.ReadUInt32BigEndian(message[Dhcp.RelayAddressOffset..]),
            HardwareAddressHigh = BinaryPrimitives.ReadUInt64BigEndian(chaddr),
            HardwareAddressLow = BinaryPrimitives.ReadUInt64BigEndian(chaddr[8..]),
            RequestedAddress = requested,
            HasRequestedAddress = hasRequested,
            ServerId = serverId,
            HasServerId = hasServerId,
        };
        return true;
    }
}
