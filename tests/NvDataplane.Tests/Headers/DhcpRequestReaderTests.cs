using NvDataplane.Headers;

namespace NvDataplane.Tests.Headers;

/// <summary>The BOOTP/DHCP layout of RFC 2131 figure 1 and the client-message reader over hand-written hex.</summary>
public class DhcpRequestReaderTests
{
    /// <summary>
    /// A DHCPREQUEST as a client in SELECTING state sends it, written out from RFC 2131 figure 1:
    /// xid 0x3903F326, flags 0x8000, chaddr 00:15:5d:00:00:01, options 53 = 3, 61, 50 = 10.1.1.7,
    /// 54 = 10.1.1.1, 55, end, pad.
    /// </summary>
    private static readonly byte[] Selecting = Convert.FromHexString(string.Concat(
        "01010600", "3903F326", "0000", "8000",
        "00000000", "00000000", "00000000", "00000000",
        "00155D000001" + new string('0', 20),
        new string('0', 128), new string('0', 256),
        "63825363",
        "350103", "3D070100155D000001", "32040A010107", "36040A010101", "370401031A06", "FF", "000000"));

    [Test]
    public void Offsets_follow_rfc_2131_figure_1()
    {
        Assert.That(Dhcp.ClientHardwareAddressOffset + Dhcp.ClientHardwareAddressSize, Is.EqualTo(Dhcp.ServerNameOffset));
        Assert.That(Dhcp.ServerNameOffset + Dhcp.ServerNameSize, Is.EqualTo(Dhcp.FileOffset));
        Assert.That(Dhcp.FileOffset + Dhcp.FileSize, Is.EqualTo(Dhcp.MagicCookieOffset));
        Assert.That(Dhcp.MagicCookieOffset + 4, Is.EqualTo(Dhcp.OptionsOffset));
        Assert.That(Dhcp.MinSize, Is.EqualTo(240));
        Assert.That(Selecting, Has.Length.EqualTo(240 + 3 + 9 + 6 + 6 + 6 + 1 + 3));
    }

    [Test]
    public void Reads_every_field_the_server_needs()
    {
        Assert.That(DhcpRequestReader.TryRead(Selecting, out var r), Is.True);
        Assert.That(r.MessageType, Is.EqualTo(Dhcp.Request));
        Assert.That(r.TransactionId, Is.EqualTo(0x3903F326u));
        Assert.That(r.Flags, Is.EqualTo(Dhcp.FlagBroadcast));
        Assert.That((r.ClientAddress, r.RelayAddress), Is.EqualTo((0u, 0u)));
        Assert.That(r.ClientMac, Is.EqualTo(MacAddress.Parse("00-15-5D-00-00-01")));
        Assert.That((r.HardwareAddressHigh, r.HardwareAddressLow), Is.EqualTo((0x0015_5D00_0001_0000UL, 0UL)));
        Assert.That((r.HasRequestedAddress, r.RequestedAddress), Is.EqualTo((true, 0x0A01_0107u)));
        Assert.That((r.HasServerId, r.ServerId), Is.EqualTo((true, 0x0A01_0101u)));
    }

    [Test]
    public void Every_cut_of_the_message_is_refused_or_read_without_throwing()
    {
        for (int n = 0; n <= Selecting.Length; n++)
        {
            bool ok = DhcpRequestReader.TryRead(Selecting.AsSpan(0, n), out var r);
            // Read when the cut falls between two options after option 53 (243, 252, 258, 264) or
            // from the end option on; refused inside the fixed part or inside an option.
            Assert.That(ok, Is.EqualTo(n is 243 or 252 or 258 or 264 or >= 270), $"{n} bytes");
            if (ok)
            {
                Assert.That(r.MessageType, Is.EqualTo(Dhcp.Request));
            }
        }
    }

    [TestCase(0, (byte)2, TestName = "Bootreply_is_refused")]
    [TestCase(1, (byte)6, TestName = "Hardware_type_other_than_ethernet_is_refused")]
    [TestCase(2, (byte)16, TestName = "Hardware_length_other_than_6_is_refused")]
    [TestCase(239, (byte)0x64, TestName = "Wrong_magic_cookie_is_refused")]
    [TestCase(242, (byte)0, TestName = "Message_type_zero_is_refused")]
    [TestCase(241, (byte)2, TestName = "Message_type_of_length_2_is_refused")]
    [TestCase(253, (byte)3, TestName = "Requested_address_of_length_3_is_refused")]
    [TestCase(258, (byte)53, TestName = "Second_message_type_is_refused")]
    public void Malformed_requests_are_refused(int offset, byte value)
    {
        var m = (byte[])Selecting.Clone();
        m[offset] = value;
        Assert.That(DhcpRequestReader.TryRead(m, out _), Is.False);
    }

    [Test]
    public void Options_after_end_are_not_read()
    {
        var m = (byte[])Selecting.Clone();
        m[240] = 0xFF; // end before option 53
        Assert.That(DhcpRequestReader.TryRead(m, out _), Is.False, "no message type before the end");
    }
}
