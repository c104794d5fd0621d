using System.Text.Json;
using NvDataplane.Cli;
using NvDataplane.Policy;
using NvDataplane.Tests.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// <c>nvdp run</c> shows a learned CA as the Dynamic record it is: one <c>record_learned</c>
/// event per new binding, written by the host thread from what the worker queued (the worker
/// never logs), in the text and JSON log formats.
/// </summary>
public class LearnedLogTests
{
    private const string ConfigJson = """
        {
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
            { "name": "l2vm", "role": "vm", "macAddress": "00-15-5D-00-00-20", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "lookupRecords": [
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-20", "providerAddress": "192.168.1.10", "type": "L2Only" },
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ]
        }
        """;

    private static ForwarderHarness LearnTwice()
    {
        var h = new ForwarderHarness(ConfigLoader.Load(ConfigJson).Config!);
        var frame = Concat(Eth("00-15-5D-00-00-01", "00-15-5D-00-00-20", 0x0800), Ipv4Of("10.1.1.50", "10.1.1.7", 17, UdpOf(1, 2, new byte[8])));
        h.Send("l2vm", frame);
        h.Send("l2vm", frame);
        return h;
    }

    [Test]
    public void A_new_binding_is_logged_once_as_a_dynamic_record()
    {
        var h = LearnTwice();
        using var text = new StringWriter();
        RunCommand.ReportLearned(h.Forwarder.Learned, new EventLog(text, json: false));
        RunCommand.ReportLearned(h.Forwarder.Learned, new EventLog(text, json: false));
        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1));
        Assert.That(lines[0], Does.Contain("record_learned: Dynamic record: virtual subnet 5001, customer address 10.1.1.50, MAC 00-15-5D-00-00-20, provider address 192.168.1.10"));
    }

    [Test]
    public void The_json_log_carries_the_record_learned_event()
    {
        var h = LearnTwice();
        using var json = new StringWriter();
        RunCommand.ReportLearned(h.Forwarder.Learned, new EventLog(json, json: true));
        using var doc = JsonDocument.Parse(json.ToString().Trim());
        Assert.That(doc.RootElement.GetProperty("event").GetString(), Is.EqualTo("record_learned"));
        Assert.That(doc.RootElement.GetProperty("level").GetString(), Is.EqualTo("info"));
        Assert.That(doc.RootElement.GetProperty("message").GetString(), Does.Contain("10.1.1.50"));
    }
}
