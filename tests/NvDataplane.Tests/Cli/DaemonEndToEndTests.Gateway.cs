using System.Text.Json;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// The dataplane as the NVGRE gateway: hv1 runs Red's web1 (10.1.1.7, VSID 5001) and Blue's blue1
/// (also 10.1.1.7, another routing domain); hv2 is Red's gateway host, with an external port (AF_PACKET
/// on a veth) into an "onprem" namespace 172.16.0.0/24 whose host 172.16.0.10 serves HTTP. Red's
/// default route names the gateway CA 10.1.99.2 (VSID 5099), whose record and GatewayWildcard record
/// carry the external port's MAC and hv2's PA; hv1 needs nothing else. The same over IPv6: web1 is
/// also fd00:1:1::7, the external port 2001:db8:16::1/64, the server 2001:db8:16::10, and Red's
/// ::/0 route names the gateway CA fd00:1:99::2 (a :: GatewayWildcard record beside the 0.0.0.0 one).
/// </summary>
public partial class DaemonEndToEndTests
{
    private const string ExternalMac = "02-00-00-00-EE-01";

    [Test]
    public void A_vm_fetches_a_file_over_http_from_an_onprem_server_through_the_gateway_host_over_ipv4_and_ipv6_and_blue_cannot_reach_it()
    {
        using var temp = new TempDir();
        string hv1 = Ns("hv1"), hv2 = Ns("hv2"), web1 = Ns("web1"), blue1 = Ns("blue1"), onprem = Ns("onprem");
        string v1 = $"v{_suffix}a", v2 = $"v{_suffix}b", ext = $"x{_suffix}e";
        Must("ip", "link", "add", v1, "netns", hv1, "address", "02:00:00:00:01:0a", "type", "veth", "peer", "name", v2, "netns", hv2, "address", "02:00:00:00:01:0b");
        Must("ip", "-n", hv1, "link", "set", v1, "up");
        Must("ip", "-n", hv2, "link", "set", v2, "up");
        Must("ip", "link", "add", ext, "netns", hv2, "address", ExternalMac.Replace('-', ':'), "type", "veth", "peer", "name", "eth0", "netns", onprem, "address", "02:00:00:00:aa:10");
        Must("ip", "-n", hv2, "link", "set", ext, "up");
        Must("ip", "-n", onprem, "addr", "add", "172.16.0.10/24", "dev", "eth0");
        Must("ip", "-n", onprem, "addr", "add", "2001:db8:16::10/64", "dev", "eth0", "nodad");
        Must("ip", "-n", onprem, "link", "set", "eth0", "up");

        // What a real NIC puts on the wire has its TCP checksum filled in and is MTU-sized; a veth
        // hands AF_PACKET the server's segments with the checksum left to "hardware" (and, with
        // TSO, unsegmented). `ethtool -K eth0 tx off` (no ethtool here: its ioctl, which also
        // turns TSO off) makes the on-premises host behave like one behind a real NIC.
        const string txOff = "import socket,fcntl,struct,array\nv=array.array('I',[0x17,0])\nfcntl.ioctl(socket.socket(),0x8946,struct.pack('16sP',b'eth0',v.buffer_info()[0])+bytes(16))";
        Must("ip", "netns", "exec", onprem, "/usr/bin/python3", "-c", txOff);
        Must("ip", "-n", onprem, "route", "add", "10.1.0.0/16", "via", "172.16.0.1");
        Must("ip", "-n", onprem, "-6", "route", "add", "fd00:1::/32", "via", "2001:db8:16::1");

        string c1 = Path.Combine(temp.Path, "hv1.json"), c2 = Path.Combine(temp.Path, "hv2.json");
        File.WriteAllText(c1, GatewayTenantConfig("hv1", v1, "02-00-00-00-01-0A", "192.168.1.10", "192.168.1.11", "02-00-00-00-01-0B", external: null));
        File.WriteAllText(c2, GatewayTenantConfig("hv2", v2, "02-00-00-00-01-0B", "192.168.1.11", "192.168.1.10", "02-00-00-00-01-0A", external: ext));
        var log1 = StartDaemon(hv1, c1, null);
        var log2 = StartDaemon(hv2, c2, null);
        Assert.That(WaitFor(() => log1.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, "hv1 started: " + log1);
        Assert.That(WaitFor(() => log2.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, "hv2 started: " + log2);
        Vm(hv1, "web1t", web1, "00:15:5d:00:01:07", "10.1.1.7");
        Vm(hv1, "blue1t", blue1, "00:15:5d:00:02:07", "10.1.1.7");
        Must("ip", "-n", web1, "route", "add", "default", "via", "10.1.1.1");
        Must("ip", "-n", web1, "addr", "add", "fd00:1:1::7/64", "dev", "web1t", "nodad");
        Must("ip", "-n", web1, "-6", "route", "add", "default", "via", "fd00:1:1::1");
        Must("ip", "-n", blue1, "route", "add", "default", "via", "10.1.1.1");

        // A file of 3 MB of random bytes, served by python's http.server in the on-premises network.
        string site = Path.Combine(temp.Path, "site");
        Directory.CreateDirectory(site);
        var content = new byte[3 * 1024 * 1024];
        new Random(11).NextBytes(content);
        File.WriteAllBytes(Path.Combine(site, "payload.bin"), content);
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        StartBackground("ip", "netns", "exec", onprem, "/usr/bin/python3", "-m", "http.server", "8080", "--bind", "::", "--directory", site);
        Assert.That(WaitFor(() => Sh("ip", "netns", "exec", onprem, "/usr/bin/python3", "-c", "import socket;socket.create_connection(('172.16.0.10',8080),timeout=1).close()").Code == 0), Is.True, "the HTTP server listens");

        Assert.That(Ping(web1, "172.16.0.10"), Is.Zero, "web1 → 172.16.0.10 through hv2's external port\n" + log2);
        Assert.That(Ping(web1, "172.16.0.1"), Is.Zero, "the external port's own address answers from inside the tenant");

        Assert.That(Ping(web1, "2001:db8:16::10"), Is.Zero, "web1 → 2001:db8:16::10 over IPv6, next hop found by neighbor discovery\n" + log2);
        Assert.That(Ping(web1, "2001:db8:16::1"), Is.Zero, "the external port's IPv6 address answers from inside the tenant");

        foreach (string host in new[] { "172.16.0.10", "[2001:db8:16::10]" })
        {
            string fetch = $"import urllib.request,hashlib\nd=urllib.request.urlopen('http://{host}:8080/payload.bin',timeout=30).read()\nprint(len(d),hashlib.sha256(d).hexdigest())";
            var (code, fetched) = Sh("ip", "netns", "exec", web1, "/usr/bin/python3", "-c", fetch);
            Assert.That(code, Is.Zero, $"fetch from {host}: " + fetched);
            Assert.That(fetched.Trim(), Is.EqualTo($"{content.Length} {expected}"), $"the content from {host} arrived intact");
        }

        // Blue has the same CA but its own routing domain, with no way out.
        Assert.That(Ping(blue1, "172.16.0.10", count: 2), Is.Not.Zero, "Blue cannot reach the on-premises network");
        var (blueCode, blueOut) = Sh("ip", "netns", "exec", blue1, "/usr/bin/python3", "-c", "import urllib.request;urllib.request.urlopen('http://172.16.0.10:8080/payload.bin',timeout=3)");
        Assert.That(blueCode, Is.Not.Zero, "Blue's HTTP request goes nowhere: " + blueOut);
    }

    private static string GatewayTenantConfig(string name, string nic, string nicMac, string pa, string otherPa, string otherMac, string? external)
    {
        const string red = "{44444444-2222-3333-4444-000000000000}", blue = "{55555555-2222-3333-4444-000000000000}";
        var ports = new List<object> { new { name = "pnic0", role = "provider", device = "afpacket:" + nic, macAddress = nicMac, mtu = 1500 } };
        if (external is null)
        {
            ports.Add(new { name = "web1", role = "vm", device = "tap:web1t", macAddress = "00-15-5D-00-01-07", virtualSubnetId = 5001 });
            ports.Add(new { name = "blue1", role = "vm", device = "tap:blue1t", macAddress = "00-15-5D-00-02-07", virtualSubnetId = 6001 });
        }
        else
        {
            ports.Add(new { name = "ext0", role = "external", device = "afpacket:" + external, macAddress = ExternalMac, mtu = 1500, virtualSubnetId = 5099, address = "172.16.0.1", prefixLength = 24, address6 = "2001:db8:16::1", prefixLength6 = 64 });
        }

        var config = new
        {
            host = new { name },
            ports,
            providerAddresses = new[] { new { address = pa, prefixLength = 24, port = "pnic0" } },
            providerNeighbors = new[] { new { address = otherPa, macAddress = otherMac } },
            lookupRecords = new[]
            {
                new { customerAddress = "10.1.1.7", virtualSubnetId = 5001, macAddress = "00-15-5D-00-01-07", providerAddress = "192.168.1.10", type = "Static" },
                new { customerAddress = "10.1.1.7", virtualSubnetId = 6001, macAddress = "00-15-5D-00-02-07", providerAddress = "192.168.1.10", type = "Static" },
                new { customerAddress = "10.1.99.2", virtualSubnetId = 5099, macAddress = ExternalMac, providerAddress = "192.168.1.11", type = "Static" },
                new { customerAddress = "0.0.0.0", virtualSubnetId = 5099, macAddress = ExternalMac, providerAddress = "192.168.1.11", type = "GatewayWildcard" },
                new { customerAddress = "fd00:1:1::7", virtualSubnetId = 5001, macAddress = "00-15-5D-00-01-07", providerAddress = "192.168.1.10", type = "Static" },
                new { customerAddress = "fd00:1:99::2", virtualSubnetId = 5099, macAddress = ExternalMac, providerAddress = "192.168.1.11", type = "Static" },
                new { customerAddress = "::", virtualSubnetId = 5099, macAddress = ExternalMac, providerAddress = "192.168.1.11", type = "GatewayWildcard" },
            },
            customerRoutes = new[]
            {
                new { routingDomainId = red, virtualSubnetId = 5001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0" },
                new { routingDomainId = red, virtualSubnetId = 5099, destinationPrefix = "10.1.99.0/24", nextHop = "0.0.0.0" },
                new { routingDomainId = red, virtualSubnetId = 5099, destinationPrefix = "0.0.0.0/0", nextHop = "10.1.99.2" },
                new { routingDomainId = blue, virtualSubnetId = 6001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0" },
                new { routingDomainId = red, virtualSubnetId = 5001, destinationPrefix = "fd00:1:1::/64", nextHop = "::" },
                new { routingDomainId = red, virtualSubnetId = 5099, destinationPrefix = "fd00:1:99::/64", nextHop = "::" },
                new { routingDomainId = red, virtualSubnetId = 5099, destinationPrefix = "::/0", nextHop = "fd00:1:99::2" },
            },
        };
        return JsonSerializer.Serialize(config);
    }
}
