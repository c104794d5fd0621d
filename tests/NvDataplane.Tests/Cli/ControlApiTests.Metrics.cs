using System.Diagnostics.Metrics;
using System.Net;
using System.Text.RegularExpressions;
using NvDataplane.Cli.Control;

namespace NvDataplane.Tests.Cli;

/// <summary>/metrics in the Prometheus text format and the NvDataplane meter: one list of figures, two ways out.</summary>
public partial class ControlApiTests
{
    // The text format 0.0.4: comments (HELP, TYPE) and samples "name{label="value",...} number".
    private static readonly Regex Help = new(@"^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]*$");
    private static readonly Regex Type = new(@"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$");
    private static readonly Regex Sample = new(
        @"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\\n]|\\[\\""n])*""(?:,[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\\n]|\\[\\""n])*"")*\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|\+Inf|-Inf)$");

    [Test]
    public void Metrics_are_valid_prometheus_text_with_help_and_type_before_every_family()
    {
        using var host = new ControlApiHost();
        host.SendFromRed("10.1.1.8");
        host.SendFromRed("10.1.1.99");
        var reply = host.Request(HttpMethod.Get, "/metrics");
        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(reply.Response.Content.Headers.ContentType?.ToString(), Does.StartWith("text/plain").And.Contain("version=0.0.4"));
        Assert.That(reply.Body, Does.EndWith("\n"));

        var typed = new Dictionary<string, string>();
        string? described = null;
        foreach (string line in reply.Body.TrimEnd('\n').Split('\n'))
        {
            if (Help.Match(line) is { Success: true } help)
            {
                Assert.That(typed.ContainsKey(help.Groups[1].Value), Is.False, "one HELP per family: " + line);
                described = help.Groups[1].Value;
            }
            else if (Type.Match(line) is { Success: true } type)
            {
                Assert.That(type.Groups[1].Value, Is.EqualTo(described), "TYPE follows its HELP");
                typed[type.Groups[1].Value] = type.Groups[2].Value;
            }
            else
            {
                var sample = Sample.Match(line);
                Assert.That(sample.Success, Is.True, "not a valid exposition line: " + line);
                Assert.That(sample.Groups[1].Value, Is.EqualTo(described), "samples stay under their family: " + line);
            }
        }

        Assert.That(typed.Where(t => t.Value == "counter").Select(t => t.Key), Has.All.EndsWith("_total"));
        Assert.That(typed.Keys, Is.SupersetOf(new[]
        {
            "nvdp_drops_total", "nvdp_port_rx_packets_total", "nvdp_port_tx_packets_total", "nvdp_port_tx_refused_total", "nvdp_port_device_drops_total", "nvdp_port_rx_too_large_total", "nvdp_port_tx_dropped_total",
            "nvdp_forwarded_total", "nvdp_answered_total", "nvdp_policy_version", "nvdp_policy_changes_total", "nvdp_worker_ns_per_packet",
        }));
        Assert.That(reply.Body, Does.Contain("nvdp_drops_total{reason=\"no_lookup_record\"} 1\n"));
        Assert.That(reply.Body, Does.Contain("nvdp_port_rx_packets_total{port=\"red1\"} 2\n"));
        Assert.That(reply.Body, Does.Contain("nvdp_port_tx_packets_total{port=\"pnic0\"} 1\n"));
        Assert.That(reply.Body, Does.Contain("nvdp_vsid_rx_packets_total{vsid=\"5001\"} 2\n"));
        Assert.That(reply.Body, Does.Contain("nvdp_forwarded_total 1\n"));
        Assert.That(reply.Body, Does.Contain("nvdp_policy_version 1\n"));
        Assert.That(reply.Body, Does.Match("nvdp_worker_ns_per_packet\\{worker=\"0\",stage=\"forward\"\\} [0-9.]+"));

        Assert.That(host.Request(HttpMethod.Post, "/v1/lookup-records", Red9).Status, Is.EqualTo(HttpStatusCode.OK));
        string after = host.Request(HttpMethod.Get, "/metrics").Body;
        Assert.That(after, Does.Contain("nvdp_policy_version 2\n").And.Contain("nvdp_policy_changes_total 1\n").And.Contain("nvdp_policy_entries{section=\"lookupRecords\"} 3\n").And.Contain("nvdp_policy_unseen_versions_total 0\n"));
    }

    [Test]
    public void A_meter_listener_sees_every_figure_of_metrics_as_an_instrument_of_the_nvdataplane_meter()
    {
        using var host = new ControlApiHost();
        host.SendFromRed("10.1.1.8");
        var seen = new Dictionary<string, double>();
        var instruments = new HashSet<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Another test's server may have a meter of the same name: listen to ours only, by its instruments' values.
            if (instrument.Meter.Name == DataplaneMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            lock (seen)
            {
                instruments.Add(instrument.Name);
                string key = instrument.Name + string.Concat(tags.ToArray().Select(t => $",{t.Key}={t.Value}"));
                seen[key] = value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();

        // The policy source's instruments measure only where the policy comes from etcd (EtcdPolicySourceTests).
        Assert.That(instruments, Is.SupersetOf(DataplaneMetrics.Families.Select(f => f.Name).Where(n => !n.StartsWith("nvdp.policy_source.", StringComparison.Ordinal))), "one instrument per /metrics family");
        Assert.That(instruments.Where(n => n.StartsWith("nvdp.policy_source.", StringComparison.Ordinal)), Is.Empty, "no policy source here");
        Assert.That(seen.Keys, Does.Contain("nvdp.port.rx_packets,port=red1"));
        Assert.That(seen.Keys, Does.Contain("nvdp.drops,reason=no_lookup_record"));
        Assert.That(seen.Where(s => s.Key == "nvdp.forwarded").Select(s => s.Value), Has.Some.EqualTo(1));
    }
}
