using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

public class PacketPortsTests
{
    [Test]
    public void A_pcap_device_that_does_not_exist_is_named_in_the_error()
    {
        Assume.That(Environment.UserName, Is.EqualTo("root"), "libpcap needs CAP_NET_RAW to tell a missing device from a forbidden one");
        var e = Assert.Throws<IOException>(() => PacketPorts.Open("pcap:nope0"));
        Assert.That(e!.Message, Does.StartWith("pcap:nope0: ").And.Contain("nope0"));
    }

    [TestCase("eth0")]
    [TestCase("vhost:eth0")]
    [TestCase("")]
    public void Other_device_text_names_the_forms_that_are_valid(string device)
    {
        var e = Assert.Throws<ArgumentException>(() => PacketPorts.Open(device));
        Assert.That(e!.Message, Does.Contain("afpacket:IFNAME, tap:NAME, pcap:NAME"));
    }
}
