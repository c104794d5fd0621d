using System.Diagnostics;
using System.Text;
using System.Text.Json;
using NvDataplane.Cli;
using NvDataplane.Policy;
using NvDataplane.Tests.Io;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// The verbs that talk to a running daemon (lookup, route, pa, provider-route, stats) against a
/// real <c>nvdp run</c> with TAP ports in a network namespace of the test's own, its control API
/// on a socket in a temporary folder: text and <c>--format json</c> output, and the exit codes
/// (0 done, 1 daemon unreachable, 2 refused). Needs root; everything is removed in TearDown.
/// </summary>
[NonParallelizable]
public class ControlCliTests
{
    private NetworkNamespace? _namespace;
    private TempDir? _dir;
    private Process? _daemon;
    private StringBuilder _log = new();
    private string _socket = "";

    private static string NvdpPath => Path.Combine(AppContext.BaseDirectory, "nvdp");

    [SetUp]
    public void StartDaemon()
    {
        _namespace = NetworkNamespace.Create();
        _dir = new TempDir();
        _socket = Path.Combine(_dir.Path, "nvdp.sock");
        _daemon = Daemon("--control", "unix:" + _socket);
    }

    [TearDown]
    public void StopDaemon()
    {
        TestProcess.Kill(_daemon);
        _daemon?.Dispose();
        _namespace?.Dispose();
        _dir?.Dispose();
        _daemon = null;
        _namespace = null;
        _dir = null;
    }

    private Process Daemon(params string[] control)
    {
        string suffix = _namespace!.Name[^6..];
        string config = Path.Combine(_dir!.Path, "hv1.json");
        File.WriteAllText(config, ControlApiHost.Config
            .Replace("\"role\": \"provider\",", $"\"role\": \"provider\", \"device\": \"tap:cp{suffix}\",", StringComparison.Ordinal)
            .Replace("\"role\": \"vm\",", $"\"role\": \"vm\", \"device\": \"tap:cr{suffix}\",", StringComparison.Ordinal));
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "netns", "exec", _namespace.Name, NvdpPath, "run", "--config", config }.Concat(control))
        {
            start.ArgumentList.Add(a);
        }

        _log = new StringBuilder();
        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, e) =>
        {
            lock (_log)
            {
                _log.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (!Log.Contains("started:", StringComparison.Ordinal) && !process.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(50);
        }

        Assert.That(Log, Does.Contain("started:"), "the daemon started: " + Log);
        return process;
    }

    private string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    private (int Code, string Out, string Err) Nvdp(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run([.. args, "--server", "unix:" + _socket], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void Lookup_verbs_add_list_set_and_remove_records_on_the_running_daemon()
    {
        var add = Nvdp("lookup", "add", "--customer-address", "10.1.1.9", "--virtual-subnet-id", "5001", "--mac-address", "00:15:5d:00:00:09", "--provider-address", "192.168.1.12", "--vm-name", "Red-9");
        Assert.That(add, Is.EqualTo((0, "policy version 2: 1 lookup record added\n", "")));

        var list = Nvdp("lookup", "list", "--virtual-subnet-id", "5001");
        Assert.That(list.Code, Is.Zero, list.Err);
        Assert.That(list.Out, Does.Contain("customerAddress").And.Contain("Red-9").And.Contain("00:15:5d:00:00:09"));
        Assert.That(list.Out, Does.Contain("3 lookup records (policy version 2)"));

        var set = Nvdp("lookup", "set", "--customer-address", "10.1.1.9", "--virtual-subnet-id", "5001", "--provider-address", "192.168.1.11", "--format", "json");
        Assert.That(set.Code, Is.Zero, set.Err);
        using (var applied = JsonDocument.Parse(set.Out))
        {
            Assert.That(applied.RootElement.GetProperty("version").GetInt64(), Is.EqualTo(3));
        }

        var json = Nvdp("lookup", "list", "--customer-address", "10.1.1.9", "--format", "json");
        using (var listed = JsonDocument.Parse(json.Out))
        {
            var record = listed.RootElement.GetProperty("lookupRecords").EnumerateArray().Single();
            Assert.That(record.GetProperty("providerAddress").GetString(), Is.EqualTo("192.168.1.11"));
            Assert.That(record.GetProperty("vmName").GetString(), Is.EqualTo("Red-9"));
        }

        Assert.That(Nvdp("lookup", "remove", "--vm-name", "Red-9").Out, Is.EqualTo("policy version 4: 1 lookup record removed\n"));
        Assert.That(Nvdp("lookup", "list", "--format", "json").Out, Does.Not.Contain("10.1.1.9"));
        Assert.That(Log.Split('\n').Count(l => l.Contains("control", StringComparison.Ordinal)), Is.EqualTo(1), "one line for the server, none per request: " + Log);
    }

    [Test]
    public void A_refused_change_prints_each_problem_on_its_own_line_and_exits_2()
    {
        var (code, output, err) = Nvdp("lookup", "add", "--customer-address", "10.1.1.9", "--virtual-subnet-id", "42", "--mac-address", "nope", "--provider-address", "192.168.1.12");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(output, Is.Empty);
        Assert.That(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            "$.lookupRecords[2].virtualSubnetId: 42 is reserved; use 4096..16777214",
            "$.lookupRecords[2].macAddress: \"nope\" is not a MAC address; use a MAC address such as 00-15-5D-00-00-01, 00:15:5d:00:00:01 or 00155D000001",
        }));

        Assert.That(Nvdp("lookup", "remove", "--customer-address", "10.9.9.9").Code, Is.EqualTo(2), "nothing matched");
        Assert.That(Nvdp("lookup", "remove").Code, Is.EqualTo(2), "remove needs a filter");
        Assert.That(Nvdp("lookup", "set", "--customer-address", "10.1.1.8", "--virtual-subnet-id", "5001").Code, Is.EqualTo(2), "set needs a field to set");
        Assert.That(Nvdp("lookup", "add", "--customer-address", "10.1.1.9").Code, Is.EqualTo(2), "add needs what HNV requires");
        Assert.That(Nvdp("lookup", "list", "--virtual-subnet-id", "x").Code, Is.EqualTo(2), "numbers are numbers");
    }

    [Test]
    public void Route_pa_and_provider_route_verbs_round_trip()
    {
        const string rdid = "{11111111-2222-3333-4444-000000000000}";
        Assert.That(Nvdp("route", "add", "--routing-domain-id", rdid, "--virtual-subnet-id", "5001", "--destination-prefix", "0.0.0.0/0", "--next-hop", "10.1.1.8").Code, Is.Zero);
        Assert.That(Nvdp("route", "set", "--routing-domain-id", rdid, "--virtual-subnet-id", "5001", "--destination-prefix", "0.0.0.0/0", "--metric", "7").Code, Is.Zero);
        using (var routes = JsonDocument.Parse(Nvdp("route", "list", "--destination-prefix", "0.0.0.0/0", "--format", "json").Out))
        {
            Assert.That(routes.RootElement.GetProperty("customerRoutes").EnumerateArray().Single().GetProperty("metric").GetInt32(), Is.EqualTo(7));
        }

        Assert.That(Nvdp("route", "remove", "--destination-prefix", "0.0.0.0/0").Code, Is.Zero);

        Assert.That(Nvdp("pa", "add", "--provider-address", "192.168.1.20", "--prefix-length", "24", "--port", "pnic0").Code, Is.Zero);
        Assert.That(Nvdp("pa", "set", "--provider-address", "192.168.1.20", "--vlan-id", "9").Code, Is.Zero);
        var pas = Nvdp("pa", "list");
        Assert.That(pas.Out, Does.Contain("192.168.1.20").And.Contain("2 provider addresses"));
        Assert.That(Nvdp("pa", "add", "--provider-address", "192.168.1.21", "--prefix-length", "24", "--port", "nope").Code, Is.EqualTo(2), "a port that is not a provider port");
        Assert.That(Nvdp("pa", "remove", "--provider-address", "192.168.1.20").Code, Is.Zero);

        Assert.That(Nvdp("provider-route", "add", "--destination-prefix", "0.0.0.0/0", "--next-hop", "192.168.1.1", "--metric", "5").Out, Is.EqualTo("policy version 8: 1 provider route added\n"));
        Assert.That(Nvdp("provider-route", "list").Out, Does.Contain("192.168.1.1"));
        Assert.That(Nvdp("provider-route", "remove", "--next-hop", "192.168.1.1").Code, Is.Zero);
    }

    [Test]
    public void Config_show_prints_the_running_policy_as_a_file_that_validates()
    {
        Assert.That(Nvdp("lookup", "add", "--customer-address", "10.1.1.9", "--virtual-subnet-id", "5001", "--mac-address", "00-15-5D-00-00-09", "--provider-address", "192.168.1.12").Code, Is.Zero);
        var shown = Nvdp("config", "show");
        Assert.That(shown.Code, Is.Zero, shown.Err);
        var loaded = ConfigLoader.Load(shown.Out);
        Assert.That(loaded.Problems, Is.Empty, shown.Out);
        Assert.That(loaded.Config!.LookupRecords.Select(r => r.CustomerAddress.ToString()), Does.Contain("10.1.1.9"), "the change made since start");
    }

    [Test]
    public void Stats_show_the_tables_the_json_and_clear()
    {
        var text = Nvdp("stats");
        Assert.That(text.Code, Is.Zero, text.Err);
        Assert.That(text.Out, Does.Contain("host hv1").And.Contain("policy version 1").And.Contain("pnic0").And.Contain("red1").And.Contain("ns/pkt forward").And.Contain("batch fill"));
        Assert.That(text.Out, Does.Not.Contain("policy source"), "the policy comes from the file");
        var json = Nvdp("stats", "--format", "json");
        using (var stats = JsonDocument.Parse(json.Out))
        {
            Assert.That(stats.RootElement.TryGetProperty("policySource", out _), Is.False);
            Assert.That(stats.RootElement.GetProperty("ports").GetArrayLength(), Is.EqualTo(2));
            Assert.That(stats.RootElement.GetProperty("workers").GetArrayLength(), Is.EqualTo(1));
            Assert.That(stats.RootElement.GetProperty("virtualSubnets")[0].GetProperty("virtualSubnetId").GetInt32(), Is.EqualTo(5001));
        }

        var cleared = Nvdp("stats", "--clear");
        Assert.That(cleared.Code, Is.Zero);
        Assert.That(cleared.Out, Does.StartWith("statistics cleared; counting from "));
    }

    [Test]
    public void Without_a_daemon_a_verb_says_so_in_one_line_and_exits_1()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["lookup", "list", "--server", "unix:" + Path.Combine(_dir!.Path, "none.sock")], stdout, stderr);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
        Assert.That(stderr.ToString(), Does.StartWith("nvdp: cannot reach the daemon at unix:").And.Contain("no such socket"));
        Assert.That(Program.Run(["stats", "--server", "ftp://x"], stdout, stderr), Is.EqualTo(2), "a --server that is no address");
    }

    [Test]
    public void On_tcp_the_daemon_wants_its_token_and_the_cli_sends_it_from_a_file()
    {
        _daemon!.Kill(entireProcessTree: true);
        _daemon.WaitForExit(10_000);
        string token = Path.Combine(_dir!.Path, "token");
        File.WriteAllText(token, "0123456789abcdef\n");
        _namespace!.Ip("link", "set", "lo", "up");
        _daemon = Daemon("--control", "tcp:127.0.0.1:19901", "--token-file", token);
        Assert.That(Log, Does.Contain("control API on tcp:127.0.0.1:19901, bearer token required"));

        // The daemon's loopback is in its namespace: the CLI runs there too.
        var without = _namespace!.Exec(NvdpPath, "stats", "--server", "http://127.0.0.1:19901");
        Assert.That(without.Exit, Is.EqualTo(2), without.Error);
        Assert.That(without.Error, Does.Contain("401").And.Contain("needs a bearer token"));
        var with = _namespace.Exec(NvdpPath, "lookup", "list", "--server", "http://127.0.0.1:19901", "--token-file", token, "--format", "json");
        Assert.That(with.Exit, Is.Zero, with.Error);
        Assert.That(with.Output, Does.Contain("\"lookupRecords\""));
    }

    [TestCase("tcp:0.0.0.0:9900", "is not a loopback address")]
    [TestCase("udp:1", "--control \"udp:1\" is not a listener")]
    public void Run_refuses_a_control_listener_it_must_not_use_and_exits_2(string listen, string message)
    {
        var stderr = new StringWriter();
        int code = Program.Run(["run", "--config", Path.Combine(_dir!.Path, "hv1.json"), "--control", listen], TextWriter.Null, stderr);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr.ToString(), Does.Contain("config_invalid").And.Contain(message));
    }
}
