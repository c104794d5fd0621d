using NvDataplane.Headers;

namespace NvDataplane.Tests.Headers;

/// <summary>The ref struct header views: refused over too few bytes, fields read from the RFC layouts.</summary>
public class HeaderReaderTests
{
    // RFC 1071-era textbook header: 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7
    private static readonly byte[] Ipv4Header = Convert.FromHexString("450000730000400040 11B861C0A80001C0A800C7".Replace(" ", "", StringComparison.Ordinal));

    [Test]
    public void Ipv4Reader_reads_every_field()
    {
        Assert.That(Ipv4Reader.TryCreate(Ipv4Header, out var ip), Is.True);
        Assert.That(ip.Version, Is.EqualTo(4));
        Assert.That(ip.HeaderLength, Is.EqualTo(20));
        Assert.That(ip.TotalLength, Is.EqualTo(0x73));
        Assert.That(ip.FlagsFragment, Is.EqualTo(0x4000));
        Assert.That(ip.Ttl, Is.EqualTo(64));
        Assert.That(ip.Protocol, Is.EqualTo(17));
        Assert.That(ip.Source, Is.EqualTo(IpAddr.Parse("192.168.0.1")));
        Assert.That(ip.Destination, Is.EqualTo(IpAddr.Parse("192.168.0.199")));
        Assert.That(ip.ChecksumValid, Is.True);
    }

    [Test]
    public void Ipv4Reader_sees_a_corrupted_checksum()
    {
        var bad = (byte[])Ipv4Header.Clone();
        bad[11] ^= 1;
        Assert.That(Ipv4Reader.TryCreate(bad, out var ip), Is.True);
        Assert.That(ip.ChecksumValid, Is.False);
    }

    [Test]
    public void Readers_refuse_short_spans()
    {
        Assert.That(Ipv4Reader.TryCreate(Ipv4Header.AsSpan(0, 19), out _), Is.False);
        Assert.That(Ipv6Reader.TryCreate(new byte[39], out _), Is.False);
        Assert.That(GreReader.TryCreate(new byte[3], out _), Is.False);
    }

    [Test]
    public void GreReader_splits_the_key_into_vsid_and_flow_id()
    {
        byte[] gre = Convert.FromHexString("20006558" + "0013892A");
        Assert.That(GreReader.TryCreate(gre, out var g), Is.True);
        Assert.That(g.FlagsVersion, Is.EqualTo(0x2000));
        Assert.That(g.Protocol, Is.EqualTo(0x6558));
        Assert.That(g.HasKeyBytes, Is.True);
        Assert.That(g.Vsid, Is.EqualTo(5001u));
        Assert.That(g.FlowId, Is.EqualTo(0x2A));
        Assert.That(GreReader.TryCreate(gre.AsSpan(0, 6), out var cut), Is.True);
        Assert.That(cut.HasKeyBytes, Is.False);
    }

    [Test]
    public void Ipv6Reader_reads_the_fixed_header()
    {
        byte[] h = Convert.FromHexString("6B812345000811" + "40" + "20010DB8000000000000000000000001" + "20010DB8000000000000000000000002");
        Assert.That(Ipv6Reader.TryCreate(h, out var ip), Is.True);
        Assert.That(ip.Version, Is.EqualTo(6));
        Assert.That(ip.TrafficClass, Is.EqualTo(0xB8));
        Assert.That(ip.PayloadLength, Is.EqualTo(8));
        Assert.That(ip.NextHeader, Is.EqualTo(17));
        Assert.That(ip.HopLimit, Is.EqualTo(64));
        Assert.That(ip.Source, Is.EqualTo(IpAddr.Parse("2001:db8::1")));
        Assert.That(ip.Destination, Is.EqualTo(IpAddr.Parse("2001:db8::2")));
    }
}
