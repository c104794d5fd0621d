using NvDataplane.Headers;

namespace NvDataplane.Tests.Headers;

public class AddressTests
{
    [TestCase("00-15-5D-00-00-01")]
    [TestCase("00:15:5d:00:00:01")]
    [TestCase("00155D000001")]
    public void MacAddress_accepts_the_three_spellings(string text)
    {
        Assert.That(MacAddress.TryParse(text, out var mac), Is.True);
        Assert.That(mac.ToString(), Is.EqualTo("00-15-5D-00-00-01"));
    }

    [TestCase("00-15-5D-00-00")]
    [TestCase("00:15-5d:00:00:01")]
    [TestCase("zz155D000001")]
    public void MacAddress_rejects_bad_spellings(string text) => Assert.That(MacAddress.TryParse(text, out _), Is.False);

    [Test]
    public void Ipv4_and_ipv6_round_trip_through_wire_bytes()
    {
        var v4 = IpAddr.Parse("10.1.1.7");
        Span<byte> b = stackalloc byte[16];
        v4.Write(b);
        Assert.That(b[..4].ToArray(), Is.EqualTo(new byte[] { 10, 1, 1, 7 }));
        Assert.That(v4.IsV4, Is.True);
        var v6 = IpAddr.Parse("2001:db8::7");
        v6.Write(b);
        Assert.That(IpAddr.ReadV6(b), Is.EqualTo(v6));
        Assert.That(v6.IsV4, Is.False);
        Assert.That(v6.ToString(), Is.EqualTo("2001:db8::7"));
    }

    [TestCase("10.1.1.7", true)]
    [TestCase("0.0.0.0", true)]
    [TestCase("255.255.255.255", true)]
    [TestCase("10.1.1.010", false, TestName = "An IPv4 part with a leading zero (octal to inet_aton) is refused")]
    [TestCase("192.168.001.11", false, TestName = "192.168.001.11 is refused")]
    [TestCase("0x0a.1.1.7", false, TestName = "A hex IPv4 part is refused")]
    [TestCase("10.1.1", false)]
    [TestCase("10.1.1.7.", false)]
    [TestCase("10..1.7", false)]
    [TestCase("1000.1.1.7", false)]
    [TestCase("2001:db8::1", true)]
    public void An_ipv4_address_is_dotted_decimal_only(string text, bool valid) =>
        Assert.That(IpAddr.TryParse(text, out _), Is.EqualTo(valid));

    [TestCase("10.1.1.0/24", "10.1.1.1")]
    [TestCase("10.1.2.77/23", "10.1.2.1")]
    [TestCase("2001:db8:1::/64", "2001:db8:1::1")]
    public void Gateway_address_is_the_lowest_usable_address(string prefix, string gateway)
    {
        Assert.That(IpPrefix.Parse(prefix).TryGetGatewayAddress(out var gw), Is.True);
        Assert.That(gw, Is.EqualTo(IpAddr.Parse(gateway)));
    }

    [Test]
    public void Prefix_contains_only_its_own_family()
    {
        var p = IpPrefix.Parse("0.0.0.0/0");
        Assert.That(p.Contains(IpAddr.Parse("192.0.2.1")), Is.True);
        Assert.That(p.Contains(IpAddr.Parse("::1")), Is.False);
        Assert.That(IpPrefix.Parse("::/0").Contains(IpAddr.Parse("192.0.2.1")), Is.False);
    }
}
