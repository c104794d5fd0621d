using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// Live migration end to end (docs/FORWARDING.md section 8): three hosts hv1, hv2, hv3, each an
/// `nvdp run` daemon in a namespace of its own, their provider NICs on one bridge. Red-2 (10.1.1.8,
/// hv2) streams UDP at 20,000 packets/s with sequence numbers and a paced TCP transfer to Red-1
/// (10.1.1.7) while Red-1 moves from hv1 to hv3. Red-1's namespace plays the VM: its address sits
/// on a bridge whose port is hv1's TAP; live migration attaches hv3's TAP (there from the start)
/// before the policy moves, and detaches hv1's after it — the VM is reachable through either, so
/// its own switchover loses nothing. The policy moves hv3 first (it takes the VM), then hv1 (its
/// record goes remote: it relays and REDIRECTs), then hv2 last (the sender), so the relay and
/// REDIRECT path carries the stream meanwhile; hv2 trusts REDIRECTs.
/// </summary>
public partial class DaemonEndToEndTests
{
    private const string MigrationRdid = "{11111111-2222-3333-4444-000000000000}";

    /// <summary>One host of the migration test: its namespace, its config (as JSON, rewritten by <see cref="MoveRecord"/>) and its daemon.</summary>
    private sealed record MigrationHost(string Name, string Namespace, string ConfigPath, JsonNode Config, System.Diagnostics.Process Daemon, StringBuilder Log);

    [TestCase(false, TestName = "A VM moving from hv1 to hv3 (policy by file and SIGHUP) under a 20,000 packets/s UDP stream and a TCP transfer loses nothing, and hv1 relays and redirects")]
    [TestCase(true, TestName = "A VM moving from hv1 to hv3 (policy by nvdp lookup set) under a 20,000 packets/s UDP stream and a TCP transfer loses nothing, and hv1 relays and redirects")]
    public void A_vm_moving_from_hv1_to_hv3_under_a_20000_pps_udp_stream_and_a_tcp_transfer_loses_nothing_and_hv1_relays_and_redirects(bool throughApi)
    {
        Assume.That(File.Exists("/usr/bin/python3"), "python3");
        using var temp = new TempDir();
        string red1 = Ns("red1"), red2 = Ns("red2");
        string[] nics = [$"v{_suffix}a", $"v{_suffix}b", $"v{_suffix}c"];
        string[] macs = ["02:00:00:00:01:0a", "02:00:00:00:01:0b", "02:00:00:00:01:0c"];
        string[] pas = ["192.168.1.10", "192.168.1.11", "192.168.1.12"];
        string[] hostNs = [Ns("hv1"), Ns("hv2"), Ns("hv3")];
        ProviderBridge([.. Enumerable.Range(0, 3).Select(i => (hostNs[i], nics[i], macs[i], $"p{i + 1}"))]);
        var vmPorts = new[] { ("red1", "red1t", "00-15-5D-00-00-01"), ("red2", "red2t", "00-15-5D-00-00-02"), ("red1", "red1n", "00-15-5D-00-00-01") };
        var hosts = new MigrationHost[3];
        for (int i = 0; i < 3; i++)
        {
            Must("ip", "-n", hostNs[i], "link", "set", nics[i], "up");
            var config = JsonNode.Parse(MigrationHostConfig($"hv{i + 1}", nics[i], macs[i], pas, i, vmPorts[i]))!;
            string path = Path.Combine(temp.Path, $"hv{i + 1}.json");
            File.WriteAllText(path, config.ToJsonString());
            var log = StartDaemon(hostNs[i], path, null);
            hosts[i] = new MigrationHost($"hv{i + 1}", hostNs[i], path, config, _daemons[^1], log);
        }

        foreach (var h in hosts)
        {
            Assert.That(WaitFor(() => h.Log.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, $"{h.Name} started: {h.Log}");
        }

        var (hv1, hv2, hv3) = (hosts[0], hosts[1], hosts[2]);

        // Red-1: its address on a bridge (MAC 00:15:5d:00:00:01) whose port is hv1's TAP; hv3's TAP waits beside it.
        Must("ip", "-n", red1, "link", "add", "br0", "address", "00:15:5d:00:00:01", "type", "bridge");
        Must("ip", "-n", red1, "addr", "add", "10.1.1.7/24", "dev", "br0");
        foreach (var (host, tap) in new[] { (hv1, "red1t"), (hv3, "red1n") })
        {
            Assert.That(WaitFor(() => Sh("ip", "-n", host.Namespace, "link", "show", tap).Code == 0), Is.True, $"{tap} exists in {host.Name}");
            Must("ip", "-n", host.Namespace, "link", "set", tap, "netns", red1);
            Must("ip", "-n", red1, "link", "set", tap, "up");
        }

        Must("ip", "-n", red1, "link", "set", "red1t", "master", "br0");
        Must("ip", "-n", red1, "link", "set", "br0", "up");
        Vm(hv2.Namespace, "red2t", red2, "00:15:5d:00:00:02", "10.1.1.8");
        Must("ip", "-n", red2, "link", "set", "red2t", "txqueuelen", "20000"); // a second of the stream: the VM's NIC queue rides out a busy host
        Assert.That(Ping(red2, "10.1.1.7"), Is.Zero, "Red-2 → Red-1 on hv1 before the move: " + hv1.Log);

        // The VM's traffic: a receiver that records every sequence number, a paced sender, a paced TCP transfer.
        const int rate = 20_000, seconds = 6, count = rate * seconds;
        var receiver = StartBackground("ip", "netns", "exec", red1, "/usr/bin/python3", "-c", UdpSequenceReceiver, count.ToString(CultureInfo.InvariantCulture));
        var tcpServer = StartBackground("ip", "netns", "exec", red1, "/usr/bin/python3", "-c", TcpSha256Server);
        Assert.That(WaitFor(() => receiver.Log.ToString().Contains("ready", StringComparison.Ordinal) && tcpServer.Log.ToString().Contains("ready", StringComparison.Ordinal)), Is.True,
            "receivers up: " + receiver.Log + tcpServer.Log);
        var sender = StartBackground("ip", "netns", "exec", red2, "/usr/bin/python3", "-c", UdpSequenceSender, count.ToString(CultureInfo.InvariantCulture), rate.ToString(CultureInfo.InvariantCulture));
        var tcpClient = StartBackground("ip", "netns", "exec", red2, "/usr/bin/python3", "-c", PacedTcpSha256Client, (12 * 1024 * 1024).ToString(CultureInfo.InvariantCulture), (4 * 1024 * 1024).ToString(CultureInfo.InvariantCulture));

        // The migration, one second into the stream: the VM is attached on hv3, then the policy
        // moves on hv3, hv1 and hv2 (the sender last), then the VM leaves hv1. The stream lasts
        // six seconds from its first datagram, so that the moves (each a CLI or API call, slow
        // on a loaded machine) happen while it runs.
        Assert.That(WaitFor(() => sender.Log.ToString().Contains("started", StringComparison.Ordinal)), Is.True, "sender started: " + sender.Log);
        var streamStarted = Stopwatch.StartNew();
        Thread.Sleep(1000);
        Must("ip", "-n", red1, "link", "set", "red1n", "master", "br0");
        MoveRecord(hv3, "10.1.1.7", 5001, "192.168.1.12", throughApi);
        Thread.Sleep(400);
        MoveRecord(hv1, "10.1.1.7", 5001, "192.168.1.12", throughApi);
        Thread.Sleep(600);
        MoveRecord(hv2, "10.1.1.7", 5001, "192.168.1.12", throughApi);
        Thread.Sleep(300);
        Must("ip", "-n", red1, "link", "set", "red1t", "nomaster");
        TimeSpan movedAfter = streamStarted.Elapsed;

        Assert.That(sender.Process.WaitForExit(30_000), Is.True, "sender done: " + sender.Log);
        Assert.That(receiver.Process.WaitForExit(30_000), Is.True, "receiver done: " + receiver.Log);
        Assert.That(tcpClient.Process.WaitForExit(30_000), Is.True, "TCP client done: " + tcpClient.Log);
        Assert.That(tcpServer.Process.WaitForExit(30_000), Is.True, "TCP server done: " + tcpServer.Log);
        foreach (var p in new[] { sender, receiver, tcpClient, tcpServer })
        {
            p.Process.WaitForExit(); // drains the redirected output
        }

        // What the kernels dropped where nvdp had no say: Red-2's TAP queue (the VM sends faster
        // than its host reads), the links of the path (TAPs, the hosts' NICs, the provider
        // bridge's ports) and Red-1's UDP socket buffer (the VM reads too slowly).
        long tapDropped = LinkDrops(red2, "red2t"), socketDropped = UdpReceiveBufferErrors(red1);
        long linkDrops = LinkDrops(red1, "red1t") + LinkDrops(red1, "red1n")
            + Enumerable.Range(0, 3).Sum(i => LinkDrops(hostNs[i], nics[i]) + LinkDrops(_providerNetwork!.Name, $"p{i + 1}"));
        foreach (var h in hosts)
        {
            Must("kill", "-TERM", h.Daemon.Id.ToString(CultureInfo.InvariantCulture));
        }

        foreach (var h in hosts)
        {
            Assert.That(h.Daemon.WaitForExit(20_000), Is.True, $"{h.Name} stopped");
            h.Daemon.WaitForExit();
        }

        using var udp = JsonDocument.Parse(receiver.Log.ToString().Trim().Split('\n')[^1]);
        long received = udp.RootElement.GetProperty("received").GetInt64(), missing = udp.RootElement.GetProperty("missing").GetInt64();
        string report = $"UDP: sent {count} ({sender.Log.ToString().Trim()}), received {received}, missing {missing} (first {udp.RootElement.GetProperty("first_missing")}), "
            + $"reordered {udp.RootElement.GetProperty("reordered")}, duplicates {udp.RootElement.GetProperty("duplicates")}; kernels dropped: Red-2 TAP {tapDropped}, Red-1 socket {socketDropped}, "
            + $"other links {linkDrops}; hosts' devices lost {hosts.Sum(DeviceLosses)}; the moves done {movedAfter.TotalSeconds:F1} s into the stream\n"
            + $"hv1: {StoppedLine(hv1)}\nhv2: {StoppedLine(hv2)}\nhv3: {StoppedLine(hv3)}";
        TestContext.Out.WriteLine(report);

        // Gaps attributable to the dataplane. The VM's own switchover is make-before-break (both
        // TAPs on its bridge while the policy moves, hv1's detached only after every host has
        // moved), so it may lose nothing; what remains is capacity, counted where it happens by
        // the kernels: Red-2's TAP queue, the links' drop counters, the hosts' receive rings and
        // transmit queues ("lost" / "refused" in the stopped lines), Red-1's socket buffer. With
        // the CPU to spare all of them stay zero and so do the gaps; on a loaded machine (2 cores,
        // three poll-mode daemons, the VMs and other builds) queues overflow, so the bound is: no
        // gap beyond those counts, and no frame nvdp itself decided to drop on the way (stale
        // policy, no relay, spoofing).
        long deviceLosses = hosts.Sum(DeviceLosses);
        Assert.That(missing - tapDropped - socketDropped - linkDrops - deviceLosses, Is.LessThanOrEqualTo(0), "gaps beyond what the kernels counted: " + report);
        // (hv1 may count no_provider_route: Red-1's own frames — TCP ACKs — that its bridge still
        // sends out of hv1's TAP after hv1's policy moved it; hv1 no longer sends for that CA.)
        foreach (var h in hosts)
        {
            string reasons = "no_local_port|no_lookup_record|pa_mismatch|neighbor_unresolved|tx_full|ttl_expired" + (h == hv1 ? "" : "|no_provider_route");
            Assert.That(Regex.Matches(StoppedLine(h), $"({reasons}) [0-9]+").Select(m => m.Value), Is.Empty, $"{h.Name} dropped none of the stream: " + report);
        }

        Assert.That(received, Is.GreaterThan(count / 4), "the stream ran: " + report);
        Assert.That(tcpServer.Log.ToString().Trim().Split('\n')[^1], Is.EqualTo(tcpClient.Log.ToString().Trim()), "TCP: byte count and SHA-256 equal on both sides");
        Assert.That(tcpClient.Log.ToString(), Does.StartWith((12 * 1024 * 1024).ToString(CultureInfo.InvariantCulture) + " "));

        long relayed = Counter(hv1, "relayed"), redirects = Counter(hv1, "redirects_sent");
        Assert.That(relayed, Is.GreaterThan(0), "hv1 relayed frames for Red-1 to hv3: " + report);
        Assert.That(redirects, Is.GreaterThan(0).And.LessThanOrEqualTo(relayed), "hv1 sent REDIRECTs, at most one per relayed frame: " + report);
        Assert.That(Counter(hv2, "redirects_applied"), Is.GreaterThan(0), "hv2 trusted a REDIRECT from Red-1's old PA: " + report);
        Assert.That(Counter(hv3, "relayed") + Counter(hv2, "relayed"), Is.Zero, "only the old host relays");
    }

    /// <summary>
    /// Moves the lookup record (VSID, CA) to <paramref name="providerAddress"/> on one host: today
    /// by rewriting its config file and SIGHUP, waiting for the daemon to log the new version.
    /// </summary>
    private static void MoveRecord(MigrationHost host, string customerAddress, uint vsid, string providerAddress, bool throughApi)
    {
        if (throughApi)
        {
            // Set-NetVirtualizationLookupRecord, as an operator would type it on each host.
            string nvdp = Path.Combine(AppContext.BaseDirectory, "nvdp");
            Must(nvdp, "lookup", "set", "--customer-address", customerAddress, "--virtual-subnet-id", vsid.ToString(CultureInfo.InvariantCulture),
                "--provider-address", providerAddress, "--server", "unix:" + Path.ChangeExtension(host.ConfigPath, ".sock"));
            return;
        }

        var record = host.Config["lookupRecords"]!.AsArray()
            .Single(r => r!["customerAddress"]!.GetValue<string>() == customerAddress && r["virtualSubnetId"]!.GetValue<uint>() == vsid)!;
        record["providerAddress"] = providerAddress;
        File.WriteAllText(host.ConfigPath, host.Config.ToJsonString());
        int before = Regex.Count(host.Log.ToString(), "\"policy_reloaded\"");
        Must("kill", "-HUP", host.Daemon.Id.ToString(CultureInfo.InvariantCulture));
        Assert.That(WaitFor(() => Regex.Count(host.Log.ToString(), "\"policy_reloaded\"") > before), Is.True, $"{host.Name} reloaded: {host.Log}");
    }

    private static string StoppedLine(MigrationHost host) =>
        host.Log.ToString().Split('\n').LastOrDefault(l => l.Contains("\"stopped\"", StringComparison.Ordinal)) ?? "(no stopped line) " + host.Log;

    /// <summary>A migration counter from the host's stopped line ("migration NAME N"), 0 when it is not shown.</summary>
    private static long Counter(MigrationHost host, string name)
    {
        var m = Regex.Match(StoppedLine(host), $"migration {name} ([0-9]+)");
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>Frames a host's devices lost on the way in (ring full) or would not take on the way out (queue full), from its stopped line.</summary>
    private static long DeviceLosses(MigrationHost host) =>
        Regex.Matches(StoppedLine(host), "(?:lost|refused) ([0-9]+) frames").Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    /// <summary>Frames a link dropped either way (its kernel counters).</summary>
    private static long LinkDrops(string ns, string device)
    {
        using var doc = JsonDocument.Parse(Sh("ip", "-n", ns, "-s", "-j", "link", "show", device).Output);
        var stats = doc.RootElement[0].GetProperty("stats64");
        return stats.GetProperty("tx").GetProperty("dropped").GetInt64() + stats.GetProperty("rx").GetProperty("dropped").GetInt64();
    }

    private static long UdpReceiveBufferErrors(string ns)
    {
        var lines = Sh("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output.Split('\n').Where(l => l.StartsWith("Udp:", StringComparison.Ordinal)).ToList();
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(values[Array.IndexOf(names, "RcvbufErrors")], CultureInfo.InvariantCulture);
    }

    private static string MigrationHostConfig(string name, string nic, string nicMac, string[] pas, int self, (string Port, string Tap, string Mac) vm)
    {
        var config = new
        {
            host = new { name },
            global = new { trustRedirects = true },
            ports = new object[]
            {
                new { name = "pnic0", role = "provider", device = "afpacket:" + nic, macAddress = nicMac, mtu = 1500 },
                new { name = vm.Port, role = "vm", device = "tap:" + vm.Tap, macAddress = vm.Mac, virtualSubnetId = 5001 },
            },
            providerAddresses = new[] { new { address = pas[self], prefixLength = 24, port = "pnic0" } },
            providerNeighbors = Enumerable.Range(0, 3).Where(i => i != self).Select(i => new { address = pas[i], macAddress = $"02-00-00-00-01-0{(char)('A' + i)}" }).ToArray(),
            lookupRecords = new[]
            {
                new { customerAddress = "10.1.1.7", virtualSubnetId = 5001, macAddress = "00-15-5D-00-00-01", providerAddress = pas[0] },
                new { customerAddress = "10.1.1.8", virtualSubnetId = 5001, macAddress = "00-15-5D-00-00-02", providerAddress = pas[1] },
            },
            customerRoutes = new[] { new { routingDomainId = MigrationRdid, virtualSubnetId = 5001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0" } },
        };
        return JsonSerializer.Serialize(config);
    }

    /// <summary>Counts every sequence number of argv[1] datagrams on UDP 9000; stops 0.5 s after the end marker (late relayed frames still count).</summary>
    private const string UdpSequenceReceiver = """
        import json, socket, sys
        n = int(sys.argv[1])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, 33, 32 * 1024 * 1024)  # SO_RCVBUFFORCE (root)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024 * 1024)
        s.bind(('0.0.0.0', 9000))
        s.settimeout(30)
        seen = bytearray(n)
        got = dup = reordered = 0
        last = -1
        print('ready', flush=True)
        try:
            while True:
                seq = int.from_bytes(s.recv(2048)[:8], 'big')
                if seq >= n:
                    s.settimeout(0.5)
                    continue
                if seen[seq]:
                    dup += 1
                    continue
                seen[seq] = 1
                got += 1
                if seq < last:
                    reordered += 1
                last = max(last, seq)
        except socket.timeout:
            pass
        missing = [i for i in range(n) if not seen[i]]
        print(json.dumps({'received': got, 'missing': len(missing), 'first_missing': missing[:10], 'reordered': reordered, 'duplicates': dup}), flush=True)
        """;

    /// <summary>Sends argv[1] datagrams (8-byte sequence number + 56 bytes) to 10.1.1.7:9000 at argv[2] per second ("started" when it begins), then end markers.</summary>
    private const string UdpSequenceSender = """
        import json, socket, sys, time
        n, rate = int(sys.argv[1]), int(sys.argv[2])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(('10.1.1.7', 9000))
        pad = bytes(56)
        retried = i = 0
        t0 = time.perf_counter()
        print('started', flush=True)
        while i < n:
            due = min(n, int((time.perf_counter() - t0) * rate) + 1)
            while i < due:
                try:
                    s.send(i.to_bytes(8, 'big') + pad)
                    i += 1
                except OSError:
                    retried += 1
                    time.sleep(0.0001)
            time.sleep(0.0005)
        elapsed = time.perf_counter() - t0
        for _ in range(5):
            s.send((1 << 62).to_bytes(8, 'big') + pad)
            time.sleep(0.02)
        print(json.dumps({'sent': n, 'seconds': round(elapsed, 3), 'pps': round(n / elapsed), 'retried': retried}), flush=True)
        """;

    private const string TcpSha256Server = """
        import hashlib, socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', 5001))
        s.listen(1)
        print('ready', flush=True)
        c, _ = s.accept()
        h = hashlib.sha256()
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            h.update(d)
            n += len(d)
        print(n, h.hexdigest(), flush=True)
        """;

    /// <summary>argv[1] random bytes to 10.1.1.7:5001 at argv[2] bytes/s, so the transfer spans the migration; prints the count and SHA-256.</summary>
    private const string PacedTcpSha256Client = """
        import hashlib, random, socket, sys, time
        total, rate = int(sys.argv[1]), float(sys.argv[2])
        data = random.Random(7).randbytes(total)
        s = socket.create_connection(('10.1.1.7', 5001), timeout=30)
        t0 = time.perf_counter()
        off = 0
        while off < total:
            due = min(total, int((time.perf_counter() - t0) * rate) + 65536)
            if due > off:
                s.sendall(data[off:due])
                off = due
            else:
                time.sleep(0.005)
        s.close()
        print(total, hashlib.sha256(data).hexdigest(), flush=True)
        """;
}
