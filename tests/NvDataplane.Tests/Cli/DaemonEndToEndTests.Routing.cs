using System.Text.Json;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// A three-tier tenant routed by the distributed router on two hosts: routing domain Red with web
/// (10.1.1.0/24, VSID 5001), app (10.1.2.0/24, VSID 5002) and db (10.1.3.0/24, VSID 5003); web1
/// and db1 on hv1, app2 on hv2. Every VM's kernel routes through its subnet's gateway address
/// (x.x.x.1), which no VM owns: the daemons answer for it and route.
/// </summary>
public partial class DaemonEndToEndTests
{
    private sealed record ThreeTier(string Web1, string Db1, string App2, System.Text.StringBuilder Log1, System.Text.StringBuilder Log2);

    [Test]
    public void A_three_subnet_tenant_routes_across_subnets_and_hosts_and_traceroute_shows_the_gateway_hop()
    {
        Assume.That(File.Exists("/usr/sbin/traceroute") || File.Exists("/usr/bin/traceroute"), "traceroute is installed by .ci/setup-deps");
        using var temp = new TempDir();
        var t = ThreeTierTenant(temp.Path);

        Assert.That(Ping(t.Web1, "10.1.2.8"), Is.Zero, "web1 → app2: another subnet on another host");
        Assert.That(Ping(t.Web1, "10.1.3.7"), Is.Zero, "web1 → db1: another subnet on the same host");
        Assert.That(Ping(t.App2, "10.1.3.7"), Is.Zero, "app2 → db1");

        // UDP probes with TTL 1, 2, ...: hop 1 is the gateway of web1's subnet (our ICMP time
        // exceeded), hop 2 the destination itself (its port unreachable).
        var (code, trace) = Sh("ip", "netns", "exec", t.Web1, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", "10.1.2.8");
        Assert.That(code, Is.Zero, trace);
        var hops = trace.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length > 1).Select(f => f[1]).ToList();
        Assert.That(hops, Is.EqualTo(new[] { "10.1.1.1", "10.1.2.8" }), trace);

        // TCP across subnets and hosts, through the VMs' own stacks.
        TcpTransfer(t.App2, t.Db1, "10.1.3.7", 5432, 2);
    }

    /// <summary>
    /// <paramref name="megabytes"/> MB of random bytes over TCP from a client VM to a server VM,
    /// through the VMs' own kernels; asserts the byte count and SHA-256 are equal on both sides.
    /// </summary>
    private void TcpTransfer(string clientVm, string serverVm, string address, int port, int megabytes)
    {
        string server = $"import socket,hashlib\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('{address}',{port}));s.listen(1);print('ready',flush=True);c,_=s.accept();h=hashlib.sha256();n=0\nwhile True:\n d=c.recv(65536)\n if not d: break\n h.update(d);n+=len(d)\nprint(n,h.hexdigest())";
        string client = $"import socket,hashlib,random\nr=random.Random(7);data=r.randbytes({megabytes}*1024*1024);s=socket.create_connection(('{address}',{port}),timeout=30);s.sendall(data);s.close();print(len(data),hashlib.sha256(data).hexdigest())";
        var receiver = StartBackground("ip", "netns", "exec", serverVm, "/usr/bin/python3", "-c", server);
        AssertReady(receiver);
        var (code, sent) = Sh("ip", "netns", "exec", clientVm, "/usr/bin/python3", "-c", client);
        Assert.That(code, Is.Zero, "client: " + sent);
        Assert.That(receiver.Process.WaitForExit(60_000), Is.True, "receiver finished");
        receiver.Process.WaitForExit(); // drains the redirected output
        Assert.That(AfterReady(receiver), Is.EqualTo(sent.Trim()), "byte count and SHA-256 equal on both sides");
        Assert.That(sent, Does.StartWith((megabytes * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) + " "));
    }

    private ThreeTier ThreeTierTenant(string dir)
    {
        string hv1 = Ns("hv1"), hv2 = Ns("hv2"), web1 = Ns("web1"), db1 = Ns("db1"), app2 = Ns("app2");
        string v1 = $"v{_suffix}a", v2 = $"v{_suffix}b";
        Must("ip", "link", "add", v1, "netns", hv1, "address", "02:00:00:00:01:0a", "type", "veth", "peer", "name", v2, "netns", hv2, "address", "02:00:00:00:01:0b");
        Must("ip", "-n", hv1, "link", "set", v1, "up");
        Must("ip", "-n", hv2, "link", "set", v2, "up");
        string c1 = Path.Combine(dir, "hv1.json"), c2 = Path.Combine(dir, "hv2.json");
        File.WriteAllText(c1, ThreeTierConfig("hv1", v1, "02-00-00-00-01-0A", "192.168.1.10", "192.168.1.11", "02-00-00-00-01-0B", ("web1", "00-15-5D-00-01-07", 5001), ("db1", "00-15-5D-00-03-07", 5003)));
        File.WriteAllText(c2, ThreeTierConfig("hv2", v2, "02-00-00-00-01-0B", "192.168.1.11", "192.168.1.10", "02-00-00-00-01-0A", ("app2", "00-15-5D-00-02-08", 5002)));
        var log1 = StartDaemon(hv1, c1, null);
        var log2 = StartDaemon(hv2, c2, null);
        Assert.That(WaitFor(() => log1.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, "hv1 started: " + log1);
        Assert.That(WaitFor(() => log2.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, "hv2 started: " + log2);
        Vm(hv1, "web1t", web1, "00:15:5d:00:01:07", "10.1.1.7");
        Vm(hv1, "db1t", db1, "00:15:5d:00:03:07", "10.1.3.7");
        Vm(hv2, "app2t", app2, "00:15:5d:00:02:08", "10.1.2.8");
        Must("ip", "-n", web1, "route", "add", "default", "via", "10.1.1.1");
        Must("ip", "-n", db1, "route", "add", "default", "via", "10.1.3.1");
        Must("ip", "-n", app2, "route", "add", "default", "via", "10.1.2.1");
        return new ThreeTier(web1, db1, app2, log1, log2);
    }

    private static string ThreeTierConfig(string name, string nic, string nicMac, string pa, string otherPa, string otherMac, params (string Port, string Mac, int Vsid)[] vms)
    {
        const string rdid = "{33333333-2222-3333-4444-000000000000}";
        var ports = new List<object> { new { name = "pnic0", role = "provider", device = "afpacket:" + nic, macAddress = nicMac, mtu = 1500 } };
        ports.AddRange(vms.Select(v => (object)new { name = v.Port, role = "vm", device = "tap:" + v.Port + "t", macAddress = v.Mac, virtualSubnetId = v.Vsid }));
        var config = new
        {
            host = new { name },
            ports,
            providerAddresses = new[] { new { address = pa, prefixLength = 24, port = "pnic0" } },
            providerNeighbors = new[] { new { address = otherPa, macAddress = otherMac } },
            lookupRecords = new[]
            {
                new { customerAddress = "10.1.1.7", virtualSubnetId = 5001, macAddress = "00-15-5D-00-01-07", providerAddress = "192.168.1.10" },
                new { customerAddress = "10.1.3.7", virtualSubnetId = 5003, macAddress = "00-15-5D-00-03-07", providerAddress = "192.168.1.10" },
                new { customerAddress = "10.1.2.8", virtualSubnetId = 5002, macAddress = "00-15-5D-00-02-08", providerAddress = "192.168.1.11" },
            },
            customerRoutes = new[]
            {
                new { routingDomainId = rdid, virtualSubnetId = 5001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0" },
                new { routingDomainId = rdid, virtualSubnetId = 5002, destinationPrefix = "10.1.2.0/24", nextHop = "0.0.0.0" },
                new { routingDomainId = rdid, virtualSubnetId = 5003, destinationPrefix = "10.1.3.0/24", nextHop = "0.0.0.0" },
            },
        };
        return JsonSerializer.Serialize(config);
    }
}
