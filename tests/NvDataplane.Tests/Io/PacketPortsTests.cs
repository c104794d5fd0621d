using NvDataplane.Io;

namespace NvDataplane.Tests.Io;

public class PacketPortsTests
{
    [Test]
    public void Pcap_devices_are_not_implemented_yet()
    {
        var e = Assert.Throws<NotSupportedException>(() => PacketPorts.Open("pcap:eth0"));
        Assert.That(e!.Message, Is.EqualTo("pcap: ports are not implemented yet"));
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
