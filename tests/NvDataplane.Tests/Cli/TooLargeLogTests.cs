using NvDataplane.Cli;
using NvDataplane.Policy;
using NvDataplane.Tests.Pipeline;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// <c>nvdp run</c> says, once per port, that frames too large for a buffer were dropped there and
/// what usually sends them (a local kernel's TSO/GSO into an <c>afpacket:</c> port); the
/// rxTooLarge counter keeps counting them.
/// </summary>
public class TooLargeLogTests
{
    private const string ConfigJson = """
        {
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" }
          ]
        }
        """;

    [Test]
    public void A_port_that_dropped_frames_too_large_says_so_once_naming_the_port_the_count_and_the_usual_sender()
    {
        var config = ConfigLoader.Load(ConfigJson).Config!;
        var pnic = new QueuePort("pnic0");
        var red = new QueuePort("red1");
        var text = new StringWriter();
        var log = new EventLog(text, json: false);
        var reported = new bool[2];

        RunCommand.ReportTooLarge(config, [pnic, red], reported, log);
        Assert.That(text.ToString(), Is.Empty, "nothing dropped, nothing said");

        red.ReceiveTruncated = 3;
        RunCommand.ReportTooLarge(config, [pnic, red], reported, log);
        red.ReceiveTruncated = 7;
        RunCommand.ReportTooLarge(config, [pnic, red], reported, log);

        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), "said once, not at every look");
        Assert.That(lines[0], Does.Contain("port_rx_too_large").And.Contain("port red1 (queue:red1)").And.Contain("3 frame(s)")
            .And.Contain("ethtool -K IFNAME tso off gso off").And.Contain("rxTooLarge"));

        pnic.ReceiveTruncated = 1;
        RunCommand.ReportTooLarge(config, [pnic, red], reported, log);
        Assert.That(text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(2), "another port says it for itself");
    }

    [Test]
    public void A_provider_device_whose_mtu_is_below_the_configured_one_is_said_once_per_value()
    {
        var config = ConfigLoader.Load(ConfigJson).Config!;
        var pnic = new QueuePort("pnic0") { DeviceMtu = 1500 };
        var red = new QueuePort("red1") { DeviceMtu = 1000 }; // a vm port: its device's MTU is the VM's business
        var text = new StringWriter();
        var log = new EventLog(text, json: false);
        var reported = new int[2];
        string[] Lines() => text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);

        RunCommand.ReportMtuBelowConfig(config, [pnic, red], reported, log);
        Assert.That(text.ToString(), Is.Empty, "1500 = the configured mtu");

        pnic.DeviceMtu = 1400;
        RunCommand.ReportMtuBelowConfig(config, [pnic, red], reported, log);
        RunCommand.ReportMtuBelowConfig(config, [pnic, red], reported, log);
        Assert.That(Lines(), Has.Length.EqualTo(1), "said once, not at every look");
        Assert.That(Lines()[0], Does.Contain("port_mtu_below_config").And.Contain("port pnic0 (queue:pnic0)").And.Contain("MTU is 1400, below the port's mtu 1500"));

        pnic.DeviceMtu = 1300;
        RunCommand.ReportMtuBelowConfig(config, [pnic, red], reported, log);
        pnic.DeviceMtu = 1500;
        RunCommand.ReportMtuBelowConfig(config, [pnic, red], reported, log);
        pnic.DeviceMtu = 1300;
        RunCommand.ReportMtuBelowConfig(config, [pnic, red], reported, log);
        Assert.That(Lines(), Has.Length.EqualTo(3), "a new value is said again, and so is the same one after it was put right");
    }
}
