using System.Globalization;
using System.Text;
using System.Text.Json;
using NvDataplane.Policy.Sources;
using NvDataplane.Tests.Io;
using NvDataplane.Tests.Policy.Sources;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// Three hosts whose lookup records and customer routes come from one etcd. The daemons run in
/// the root namespace, where etcd listens on 127.0.0.1; their TAPs are moved out of it as soon as
/// they exist: the provider TAPs into a provider network namespace, bridged, and each VM TAP into
/// its VM's namespace. Red-1 (10.1.1.7) is on hv1, Red-2 (10.1.1.8) starts on hv2 and moves to
/// hv3: one etcd write of its record, and every host converges; the time from the write to each
/// daemon's log line for that revision is printed.
/// </summary>
public partial class DaemonEndToEndTests
{
    private const string EtcdPrefix = "/nvdp/dc1";
    private TestEtcd? _etcd;

    [TearDown]
    public void StopEtcd()
    {
        _etcd?.Dispose();
        _etcd = null;
    }

    [Test]
    public void A_migration_is_one_etcd_write_and_every_host_converges()
    {
        using var temp = new TempDir();
        _etcd = TestEtcd.Start();
        using var etcd = _etcd.Client();
        string red8Key = EtcdKeyLayout.LookupRecordKey(EtcdPrefix, 5001, "10.1.1.8");
        etcd.PutAsync(EtcdKeyLayout.LookupRecordKey(EtcdPrefix, 5001, "10.1.1.7"), EtcdRecord("10.1.1.7", "00-15-5D-00-00-01", "192.168.1.10")).GetAwaiter().GetResult();
        etcd.PutAsync(red8Key, EtcdRecord("10.1.1.8", "00-15-5D-00-00-02", "192.168.1.11")).GetAwaiter().GetResult();
        long loaded = etcd.PutAsync(EtcdKeyLayout.CustomerRouteKey(EtcdPrefix, "red-onlink"), JsonSerializer.Serialize(new
        {
            routingDomainId = "{11111111-2222-3333-4444-000000000000}", virtualSubnetId = 5001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0",
        })).GetAwaiter().GetResult();

        // hv1 holds Red-1; hv2 and hv3 each have a port for Red-2 (its MAC), where it runs before and after the move.
        var hosts = new[] { ("hv1", "192.168.1.10", "02-00-00-00-01-0A", "00-15-5D-00-00-01"), ("hv2", "192.168.1.11", "02-00-00-00-01-0B", "00-15-5D-00-00-02"), ("hv3", "192.168.1.12", "02-00-00-00-01-0C", "00-15-5D-00-00-02") };
        var network = NetworkNamespace.Create();
        _providerNetwork = network;
        network.Ip("link", "add", "br0", "type", "bridge");
        network.Ip("link", "set", "br0", "up");
        var logs = new List<StringBuilder>();
        var vms = new List<string>();
        for (int i = 0; i < hosts.Length; i++)
        {
            var (name, pa, nicMac, vmMac) = hosts[i];
            string providerTap = $"nvp{_suffix}{i + 1}", vmTap = $"nvv{_suffix}{i + 1}";
            var neighbors = hosts.Where(h => h.Item1 != name).Select(h => new { address = h.Item2, macAddress = h.Item3 });
            string config = Path.Combine(temp.Path, name + ".json");
            File.WriteAllText(config, JsonSerializer.Serialize(new
            {
                host = new { name },
                ports = new object[]
                {
                    new { name = "pnic0", role = "provider", device = "tap:" + providerTap, macAddress = nicMac },
                    new { name = "red", role = "vm", device = "tap:" + vmTap, macAddress = vmMac, virtualSubnetId = 5001 },
                },
                providerAddresses = new[] { new { address = pa, prefixLength = 24, port = "pnic0" } },
                providerNeighbors = neighbors,
                lookupRecords = Array.Empty<object>(), // etcd's
                policySource = _etcd.Url(EtcdPrefix),
                control = new { listen = "unix:" + Path.Combine(temp.Path, name + ".sock") },
            }));
            var log = StartBackground(Path.Combine(AppContext.BaseDirectory, "nvdp"), "run", "--config", config, "--log-format", "json").Log;
            logs.Add(log);
            Assert.That(WaitFor(() => Logged(log, "\"started\"")), Is.True, $"{name} started: {log}");
            Assert.That(WaitFor(() => AppliedAt(log) >= loaded), Is.True, $"{name} loaded etcd's policy: {log}");

            // Out of the root namespace at once: the provider TAP onto the bridge, the VM TAP into its VM.
            Must("ip", "link", "set", providerTap, "netns", network.Name);
            network.Ip("link", "set", providerTap, "master", "br0");
            network.Ip("link", "set", providerTap, "up");
            string vm = Ns("vm" + (i + 1));
            vms.Add(vm);
            Must("ip", "link", "set", vmTap, "netns", vm);
            Must("ip", "-n", vm, "link", "set", vmTap, "address", vmMac.Replace('-', ':'));
            Must("ip", "-n", vm, "addr", "add", (i == 0 ? "10.1.1.7" : "10.1.1.8") + "/24", "dev", vmTap);
            if (i != 2)
            {
                Must("ip", "-n", vm, "link", "set", vmTap, "up"); // Red-2 is not on hv3 yet
            }
        }

        Assert.That(Ping(vms[0], "10.1.1.8"), Is.Zero, "Red-1 on hv1 → Red-2 on hv2");
        string hv1Metrics = Metrics(Path.Combine(temp.Path, "hv1.sock"));
        Assert.That(hv1Metrics, Does.Contain("nvdp_policy_source_connected 1\n").And.Contain("nvdp_policy_source_reads_total 1\n"), "hv1's /metrics has its etcd source");
        Assert.That(MetricValue(hv1Metrics, "nvdp_policy_source_applied_revision"), Is.GreaterThanOrEqualTo(loaded));
        var (statsCode, statsText) = Stats(Path.Combine(temp.Path, "hv1.sock"));
        Assert.That(statsCode, Is.Zero, statsText);
        Assert.That(statsText, Does.Contain("policy source etcd: connected, revision ").And.Contain("0 keys rejected now"), "nvdp stats shows the source");

        // The move: Red-2 stops on hv2 and starts on hv3, and its record is written once.
        Must("ip", "-n", vms[1], "link", "set", $"nvv{_suffix}2", "down");
        Must("ip", "-n", vms[2], "link", "set", $"nvv{_suffix}3", "up");
        var convergence = new List<double[]>();
        var acks = new List<double>();
        var (moved, ack, times) = Migrate(etcd, red8Key, "192.168.1.12", logs);
        convergence.Add(times);
        acks.Add(ack);
        Assert.That(Ping(vms[0], "10.1.1.8"), Is.Zero, "Red-1 → Red-2, now on hv3");
        Assert.That(Ping(vms[2], "10.1.1.7"), Is.Zero, "Red-2 on hv3 → Red-1 (hv1 takes NVGRE from hv3's PA for it)");
        foreach (var log in logs)
        {
            Assert.That(log.ToString(), Does.Contain($"revision {moved}: policy version"), "one write, one update on every host");
        }

        // More moves back and forth, for the figure; it ends on hv3 again.
        for (int round = 0; round < 10; round++)
        {
            var m = Migrate(etcd, red8Key, round % 2 == 0 ? "192.168.1.11" : "192.168.1.12", logs);
            convergence.Add(m.Times);
            acks.Add(m.Ack);
        }

        var all = convergence.SelectMany(t => t).Order().ToList();
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"etcd write → applied on hv1/hv2/hv3: first move {times[0]:0}/{times[1]:0}/{times[2]:0} ms; {convergence.Count} moves × 3 hosts: min {all[0]:0} ms, median {all[all.Count / 2]:0} ms, max {all[^1]:0} ms (slowest host per move: median {convergence.Select(t => t.Max()).Order().ElementAt(convergence.Count / 2):0} ms; etcd acknowledged the put after median {acks.Order().ElementAt(acks.Count / 2):0} ms)"));
        Assert.That(Ping(vms[0], "10.1.1.8"), Is.Zero, "Red-1 → Red-2 on hv3 after the round trips");

        // etcd gone: every host logs it once and forwards on; SIGTERM still exits promptly and cleanly.
        _etcd.Kill();
        foreach (var log in logs)
        {
            Assert.That(WaitFor(() => Logged(log, "\"policy_source_unreachable\"")), Is.True, "unreachable logged: " + log);
        }

        Assert.That(Ping(vms[0], "10.1.1.8"), Is.Zero, "forwarding goes on with the last policy while etcd is down");
        hv1Metrics = Metrics(Path.Combine(temp.Path, "hv1.sock"));
        Assert.That(hv1Metrics, Does.Contain("nvdp_policy_source_connected 0\n"), "hv1's /metrics says etcd is lost");
        Assert.That(MetricValue(hv1Metrics, "nvdp_policy_source_unreachable_total"), Is.GreaterThanOrEqualTo(1));
        Assert.That(Stats(Path.Combine(temp.Path, "hv1.sock")).Text, Does.Contain("policy source etcd: UNREACHABLE"), "nvdp stats says etcd is lost");
        foreach (var d in _daemons)
        {
            Must("kill", "-TERM", d.Id.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var d in _daemons)
        {
            Assert.That(d.WaitForExit(20_000), Is.True, "exited after SIGTERM with etcd down");
            d.WaitForExit();
            Assert.That(d.ExitCode, Is.Zero);
        }

        Assert.That(logs.All(l => Count(l, "\"policy_source_unreachable\"") == 1), Is.True, "unreachable logged once per host");
    }

    /// <summary>One put of the record with <paramref name="pa"/>; waits for every host to apply it; the milliseconds from the write to etcd's answer and to each host's log line.</summary>
    private static (long Revision, double Ack, double[] Times) Migrate(EtcdClient etcd, string key, string pa, List<StringBuilder> logs)
    {
        var before = DateTimeOffset.UtcNow;
        long revision = etcd.PutAsync(key, EtcdRecord("10.1.1.8", "00-15-5D-00-00-02", pa)).GetAwaiter().GetResult();
        double ack = (DateTimeOffset.UtcNow - before).TotalMilliseconds;
        var times = new double[logs.Count];
        for (int i = 0; i < logs.Count; i++)
        {
            var log = logs[i];
            Assert.That(WaitFor(() => AppliedAt(log) >= revision), Is.True, $"host {i + 1} applied revision {revision}: {log}");
            times[i] = (AppliedTime(log, revision) - before).TotalMilliseconds;
        }

        return (revision, ack, times);
    }

    private static string EtcdRecord(string ca, string mac, string pa) =>
        JsonSerializer.Serialize(new { customerAddress = ca, virtualSubnetId = 5001, macAddress = mac, providerAddress = pa });

    /// <summary>The policy_source_loaded / policy_source_update lines of a daemon's JSON log: (time, etcd revision).</summary>
    private static List<(DateTimeOffset Time, long Revision)> Applied(StringBuilder log)
    {
        string text;
        lock (log)
        {
            text = log.ToString();
        }

        var applied = new List<(DateTimeOffset, long)>();
        foreach (var line in text.Split('\n').Where(l => l.Contains("\"policy_source_update\"", StringComparison.Ordinal) || l.Contains("\"policy_source_loaded\"", StringComparison.Ordinal)))
        {
            using var json = JsonDocument.Parse(line);
            string message = json.RootElement.GetProperty("message").GetString()!;
            long revision = long.Parse(message.Split(' ')[1].TrimEnd(':'), CultureInfo.InvariantCulture);
            applied.Add((DateTimeOffset.Parse(json.RootElement.GetProperty("ts").GetString()!, CultureInfo.InvariantCulture), revision));
        }

        return applied;
    }

    /// <summary>A daemon's /metrics through its control socket.</summary>
    private static string Metrics(string socket)
    {
        var (client, error) = NvDataplane.Cli.Control.ControlClient.Create("unix:" + socket, null);
        Assert.That(client, Is.Not.Null, error);
        using (client)
        {
            var reply = client!.Send(HttpMethod.Get, "/metrics", null, out string? unreachable);
            Assert.That(reply?.Status, Is.EqualTo(200), unreachable);
            return reply!.Value.Body;
        }
    }

    /// <summary><c>nvdp stats</c> against a daemon's control socket: the exit code and what it printed.</summary>
    private static (int Code, string Text) Stats(string socket)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = NvDataplane.Cli.Program.Run(["stats", "--server", "unix:" + socket], stdout, stderr);
        return (code, stdout.ToString() + stderr.ToString());
    }

    /// <summary>The value of an unlabelled sample in Prometheus text.</summary>
    private static long MetricValue(string metrics, string name)
    {
        string line = metrics.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return long.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }

    private static long AppliedAt(StringBuilder log) => Applied(log).Select(a => a.Revision).DefaultIfEmpty(0).Max();

    private static DateTimeOffset AppliedTime(StringBuilder log, long revision) => Applied(log).First(a => a.Revision >= revision).Time;

    private static bool Logged(StringBuilder log, string text)
    {
        lock (log)
        {
            return log.ToString().Contains(text, StringComparison.Ordinal);
        }
    }

    private static int Count(StringBuilder log, string text)
    {
        lock (log)
        {
            return log.ToString().Split(text).Length - 1;
        }
    }
}
