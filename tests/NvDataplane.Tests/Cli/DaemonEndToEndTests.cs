using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Tests.Io;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// Two hosts, each an `nvdp run` daemon in a network namespace of its own, joined by a veth pair
/// (the provider network, AF_PACKET ports; for PAs on a VLAN, a bridge in a namespace of its
/// own); four VMs, each a namespace whose only interface is
/// the TAP its host's daemon serves. Red and Blue use the same CAs (10.1.1.7 on hv1, 10.1.1.8 on
/// hv2). The kernels' own ping proves Red→Red and Blue→Blue across hosts, and that Blue cannot
/// reach a CA only Red has. Needs root; every namespace is the test's own and is deleted after.
/// </summary>
[NonParallelizable]
public partial class DaemonEndToEndTests
{
    private readonly List<string> _namespaces = [];
    private readonly List<Process> _daemons = [];
    private NetworkNamespace? _providerNetwork;
    private string _suffix = "";

    [SetUp]
    public void RequireRootAndTools()
    {
        Assume.That(Environment.UserName, Is.EqualTo("root"), "needs root for network namespaces");
        Assume.That(File.Exists("/usr/bin/ping") || File.Exists("/bin/ping"), "ping (iputils-ping) is installed by .ci/setup-deps");
        Assume.That(File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip") || File.Exists("/bin/ip"), "iproute2");
        _suffix = Guid.NewGuid().ToString("N")[..6];
    }

    [TearDown]
    public void CleanUp()
    {
        foreach (var d in _daemons)
        {
            try
            {
                if (!d.HasExited)
                {
                    d.Kill(entireProcessTree: true);
                    d.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            d.Dispose();
        }

        foreach (var ns in _namespaces)
        {
            Sh("ip", "netns", "del", ns);
        }

        _providerNetwork?.Dispose();

        // NUnit reuses the fixture instance for every test: start each one empty.
        _daemons.Clear();
        _namespaces.Clear();
        _providerNetwork = null;
    }

    [Test]
    public void Tenants_with_the_same_addresses_reach_their_own_vms_across_hosts_and_never_each_other()
    {
        using var temp = new TempDir();

        // hv1 reports readiness through NOTIFY_SOCKET, as systemd's Type=notify would see it.
        string notifyPath = Path.Combine(temp.Path, "notify.sock");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(notifyPath));
        var t = TwoHosts(temp.Path, notifyPath);
        notify.ReceiveTimeout = 20_000;
        var buffer = new byte[64];
        int got = notify.Receive(buffer);
        Assert.That(Encoding.ASCII.GetString(buffer, 0, got), Is.EqualTo("READY=1"), "sd_notify READY=1 once every port is open");

        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1 → Red-2 across hosts");
        Assert.That(Ping(t.Blue1, "10.1.1.8"), Is.Zero, "Blue-1 → Blue-2 across hosts (same addresses as Red)");
        Assert.That(Ping(t.Red2, "10.1.1.7"), Is.Zero, "Red-2 → Red-1");
        Assert.That(Ping(t.Blue1, "10.1.1.9", count: 2), Is.Not.Zero, "Blue cannot reach 10.1.1.9, which only Red has");

        // SIGHUP with a broken file keeps the running policy; Red still reaches Red.
        File.WriteAllText(t.Hv1Config, "{ \"ports\": 7 }");
        Must("kill", "-HUP", _daemons[0].Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(WaitFor(() => t.Log1.ToString().Contains("\"reload_rejected\"", StringComparison.Ordinal)), Is.True, "bad reload rejected: " + t.Log1);
        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "forwarding goes on with the old policy");

        // Clean stop: SIGTERM, exit code 0, the final counters logged.
        foreach (var d in _daemons)
        {
            Must("kill", "-TERM", d.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        foreach (var d in _daemons)
        {
            Assert.That(d.WaitForExit(20_000), Is.True, "daemon exited after SIGTERM");
            d.WaitForExit(); // drains the redirected output
            Assert.That(d.ExitCode, Is.Zero, "clean exit");
        }

        Assert.That(t.Log1.ToString(), Does.Contain("\"stopped\""));
    }

    [Test]
    public void A_20_MB_tcp_transfer_arrives_intact_and_the_provider_wire_carries_only_the_tenants_vsid()
    {
        Assume.That(File.Exists("/usr/bin/tshark"), "tshark is installed by .ci/setup-deps");
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null);
        string pcap = Path.Combine(temp.Path, "provider.pcap");
        var capture = StartBackground("ip", "netns", "exec", t.Hv1, "tshark", "-i", t.Nic1, "-B", "64", "-w", pcap, "-f", "ip proto 47");
        Assert.That(WaitFor(() => capture.Log.ToString().Contains("Capturing on", StringComparison.Ordinal)), Is.True, "tshark started: " + capture.Log);

        // The VMs' kernels do the TCP; a 1500-byte VM MTU over a 1500-byte provider MTU also
        // exercises path-MTU discovery through the dataplane's ICMP "fragmentation needed".
        TcpTransfer(t.Red1, t.Red2, "10.1.1.8", 5001, 20);

        Assert.That(Ping(t.Blue1, "10.1.1.8"), Is.Zero, "Blue traffic on the same wire");
        Must("kill", "-INT", capture.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(capture.Process.WaitForExit(20_000), Is.True);
        var (tcode, keys) = Sh("tshark", "-n", "-r", pcap, "-T", "fields", "-e", "gre.key", "-e", "ip.dst");
        Assert.That(tcode, Is.Zero, keys);
        var vsids = keys.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith("0x", StringComparison.Ordinal)) // tshark's own notices come on stderr, merged here
            .Select(l => Convert.ToUInt32(l.Split('\t')[0].Split(',')[0], 16) >> 8)
            .GroupBy(v => v).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(vsids.Keys, Is.EquivalentTo(new uint[] { 5001, 6001 }), "only the two tenants' VSIDs on the wire");
        Assert.That(vsids[5001], Is.GreaterThan(500), "the TCP transfer (~14,400 data segments; a loaded machine makes tshark miss some) went over NVGRE with Red's VSID");
    }

    [Test]
    public void The_same_tenants_work_with_afpacket_vm_ports_on_veth_pairs_and_provider_next_hops_found_by_arp()
    {
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, vethVms: true, arp: true);
        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1 → Red-2 over afpacket VM ports, next hops resolved by ARP");
        Assert.That(Ping(t.Blue2, "10.1.1.7"), Is.Zero, "Blue-2 → Blue-1");
        Assert.That(Ping(t.Blue1, "10.1.1.9", count: 2), Is.Not.Zero, "Blue still cannot reach Red's 10.1.1.9");

        // The VMs' kernels keep TCP segmentation offload on, as a veth starts: what they hand the
        // afpacket: port is up to 64 KiB unsegmented, and the port cuts it as a NIC would.
        var (_, features) = Sh("ip", "netns", "exec", t.Red1, "/usr/bin/python3", "-c",
            "import socket,fcntl,struct,array\nv=array.array('I',[0x1e,0])\nfcntl.ioctl(socket.socket(),0x8946,struct.pack('16sP',b'eth0',v.buffer_info()[0])+bytes(16))\nprint(v[1])");
        Assert.That(features.Trim(), Is.EqualTo("1"), "TSO is on in Red-1 (ETHTOOL_GTSO)");
        TcpTransfer(t.Red1, t.Red2, "10.1.1.8", 5003, 5);
        TcpTransfer(t.Blue2, t.Blue1, "10.1.1.7", 5004, 5);
    }

    [Test]
    public void With_provider_addresses_on_vlan_100_tenants_cross_a_provider_bridge_and_every_frame_the_daemons_send_carries_vid_100()
    {
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, arp: true, vlanId: 100);

        // The test reads what each host puts on the wire at its bridge port. NVGRE and ARP
        // requests are tagged from the PA's vlanId; an ARP reply keeps the tag of the request the
        // daemon received, so a tag lost on receive would show up here as an untagged reply.
        var network = _providerNetwork!;
        var (fromHv1, fromHv2) = network.Run(() => (new AfPacketPort("p1"), new AfPacketPort("p2")));
        try
        {
            Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1 → Red-2, next hop found by ARP on VLAN 100");
            Assert.That(Ping(t.Blue2, "10.1.1.7"), Is.Zero, "Blue-2 → Blue-1");

            var wire1 = network.Run(() => DaemonFrames(fromHv1));
            var wire2 = network.Run(() => DaemonFrames(fromHv2));
            foreach (var (host, wire) in new[] { ("hv1", wire1), ("hv2", wire2) })
            {
                Assert.That(wire.Where(f => f.Kind == "nvgre").Select(f => f.Vsid).Distinct(), Is.EquivalentTo(new uint[] { 5001, 6001 }), $"{host} sent NVGRE for both tenants");
                Assert.That(wire.Where(f => f.Kind == "arp"), Is.Not.Empty, $"{host} asked for or answered the other PA with ARP");
                Assert.That(wire.Where(f => f.Vid != 100), Is.Empty, $"every IPv4 and ARP frame {host} sent is tagged with VID 100");
            }
        }
        finally
        {
            fromHv1.Dispose();
            fromHv2.Dispose();
        }
    }

    [Test]
    public void With_nat_records_red_is_ip_rewritten_on_the_wire_with_valid_checksums_and_blue_stays_nvgre()
    {
        Assume.That(File.Exists("/usr/bin/tshark"), "tshark is installed by .ci/setup-deps");
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, natRed: true);
        string pcap = Path.Combine(temp.Path, "provider.pcap");
        var capture = StartBackground("ip", "netns", "exec", t.Hv1, "tshark", "-i", t.Nic1, "-w", pcap, "-f", "ip");
        Assert.That(WaitFor(() => capture.Log.ToString().Contains("Capturing on", StringComparison.Ordinal)), Is.True, "tshark started: " + capture.Log);

        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red over IP rewrite");
        const string server = "import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('10.1.1.8',5002));s.listen(1);print('ready',flush=True);c,_=s.accept();n=0\nwhile True:\n d=c.recv(65536)\n if not d: break\n n+=len(d)\nprint(n)";
        const string client = "import socket\ns=socket.create_connection(('10.1.1.8',5002),timeout=20);s.sendall(bytes(range(256))*400);s.close()";
        var receiver = StartBackground("ip", "netns", "exec", t.Red2, "/usr/bin/python3", "-c", server);
        AssertReady(receiver);
        Assert.That(Sh("ip", "netns", "exec", t.Red1, "/usr/bin/python3", "-c", client).Code, Is.Zero, "TCP over IP rewrite");
        Assert.That(receiver.Process.WaitForExit(30_000), Is.True);
        receiver.Process.WaitForExit();
        Assert.That(AfterReady(receiver), Is.EqualTo("102400"));
        Assert.That(Ping(t.Blue1, "10.1.1.8"), Is.Zero, "Blue over NVGRE beside it");

        Must("kill", "-INT", capture.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(capture.Process.WaitForExit(20_000), Is.True);
        var (code, fields) = Sh("tshark", "-n", "-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-Y", "ip.src == 192.168.1.20 || ip.dst == 192.168.1.20", "-T", "fields", "-e", "ip.proto", "-e", "_ws.expert.message");
        Assert.That(code, Is.Zero, fields);
        var rows = fields.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => char.IsDigit(l[0])).ToList();
        Assert.That(rows.Count(r => r.StartsWith("6\t", StringComparison.Ordinal) || r == "6"), Is.GreaterThan(10), "rewritten TCP between the NAT PAs: " + fields);
        Assert.That(rows.Count(r => r.StartsWith("1\t", StringComparison.Ordinal) || r == "1"), Is.GreaterThan(0), "rewritten ICMP between the NAT PAs");
        Assert.That(rows, Has.None.Contains("Bad checksum").And.None.Contains("incorrect"), "IP and TCP checksums valid after the rewrite");
        Assert.That(rows, Has.None.Matches<string>(r => r.StartsWith("47", StringComparison.Ordinal)), "Red's PAs carry no GRE");
    }

    [Test]
    public void A_provider_routers_fragmentation_needed_teaches_the_nat_vms_kernel_the_path_mtu()
    {
        Assume.That(Sh("/usr/bin/python3", "-c", "import scapy").Code, Is.Zero, "python3-scapy is installed by .ci/setup-deps");
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, natRed: true);

        // A connected UDP socket with path-MTU discovery on, in Red-1 and in Blue-1 (same CA and
        // port): each prints its path MTU once it leaves 1500, or after its time is up.
        static string Socket(int seconds) => "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            + "s.setsockopt(socket.IPPROTO_IP,10,2)\ns.bind(('10.1.1.7',40000));s.connect(('10.1.1.8',9))\nprint('ready',flush=True)\n"
            + $"end=time.time()+{seconds}\nm=s.getsockopt(socket.IPPROTO_IP,14)\n"
            + "while m==1500 and time.time()<end:\n time.sleep(0.05);m=s.getsockopt(socket.IPPROTO_IP,14)\nprint(m)";
        var red = StartBackground("ip", "netns", "exec", t.Red1, "/usr/bin/python3", "-c", Socket(15));
        var blue = StartBackground("ip", "netns", "exec", t.Blue1, "/usr/bin/python3", "-c", Socket(6));
        AssertReady(red, blue);

        // A router on the provider network could not forward Red-1's datagram as rewritten
        // (192.168.1.20 -> 192.168.1.21) and quotes its first 28 bytes, as routers do.
        string craft = "from scapy.all import *\n"
            + "q=bytes(IP(src='192.168.1.20',dst='192.168.1.21',flags='DF',id=77,len=1428,ttl=63)/UDP(sport=40000,dport=9,len=1408))[:28]\n"
            + "f=Ether(src='02:00:00:00:01:0b',dst='02:00:00:00:01:0a')/IP(src='192.168.1.1',dst='192.168.1.20')/ICMP(type=3,code=4,nexthopmtu=1300)/Raw(q)\n"
            + $"sendp(f,iface='v{_suffix}b',verbose=False)";
        Assert.That(Sh("ip", "netns", "exec", t.Hv2, "/usr/bin/python3", "-c", craft).Code, Is.Zero, "scapy sent the error");

        Assert.That(red.Process.WaitForExit(20_000), Is.True);
        red.Process.WaitForExit();
        Assert.That(AfterReady(red), Is.EqualTo("1300"), "Red-1's kernel matched the rewritten quote to its socket and took the MTU");
        Assert.That(Sh("ip", "netns", "exec", t.Red1, "ip", "route", "get", "10.1.1.8").Output, Does.Contain("mtu 1300"));
        Assert.That(blue.Process.WaitForExit(20_000), Is.True);
        blue.Process.WaitForExit();
        Assert.That(AfterReady(blue), Is.EqualTo("1500"), "Blue-1, with the same CA and port, learned nothing");
    }

    [Test]
    public void An_nvgre_frame_crafted_by_scapy_on_the_provider_network_reaches_the_red_vm()
    {
        Assume.That(Sh("/usr/bin/python3", "-c", "import scapy").Code, Is.Zero, "python3-scapy is installed by .ci/setup-deps");
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null);
        static string Listener(int seconds) => "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('10.1.1.7',9999));print('ready',flush=True);"
            + $"s.settimeout({seconds});print(s.recvfrom(100)[0].decode())";
        var red = StartBackground("ip", "netns", "exec", t.Red1, "/usr/bin/python3", "-c", Listener(15));
        var blue = StartBackground("ip", "netns", "exec", t.Blue1, "/usr/bin/python3", "-c", Listener(8)); // outlives the send
        AssertReady(red, blue);

        // An independent NVGRE implementation on the wire: scapy builds the frame hv2 would send.
        string craft = "from scapy.all import *\n"
            + "f=Ether(src='02:00:00:00:01:0b',dst='02:00:00:00:01:0a')/IP(src='192.168.1.11',dst='192.168.1.10',flags='DF')"
            + "/GRE(key_present=1,proto=0x6558,key=(5001<<8)|7)/Ether(src='00:15:5d:00:00:02',dst='00:15:5d:00:00:01')"
            + "/IP(src='10.1.1.8',dst='10.1.1.7')/UDP(sport=4000,dport=9999)/b'hello from scapy'\n"
            + $"sendp(f,iface='v{_suffix}b',verbose=False)";
        Assert.That(Sh("ip", "netns", "exec", t.Hv2, "/usr/bin/python3", "-c", craft).Code, Is.Zero, "scapy sent the frame");
        Assert.That(red.Process.WaitForExit(20_000), Is.True);
        red.Process.WaitForExit();
        Assert.That(red.Log.ToString(), Does.Contain("hello from scapy"), "Red-1 received it: " + red.Log);
        Assert.That(blue.Process.WaitForExit(20_000), Is.True);
        blue.Process.WaitForExit();
        Assert.That(blue.Log.ToString(), Does.Not.Contain("hello from scapy"), "Blue-1, with the same CA, did not");
    }

    [Test]
    public void The_same_tenants_work_with_pcap_ports_through_libpcap()
    {
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, vethVms: true, kind: "pcap");
        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1 → Red-2 over pcap: ports");
        Assert.That(Ping(t.Blue2, "10.1.1.7"), Is.Zero, "Blue-2 → Blue-1");
        Assert.That(Ping(t.Blue1, "10.1.1.9", count: 2), Is.Not.Zero, "Blue still cannot reach Red's 10.1.1.9");
    }

    [Test]
    public void Garbage_flooding_the_provider_port_costs_a_red_ping_nothing()
    {
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null);
        Assert.That(Ping(t.Red2, "10.1.1.7"), Is.Zero, "warm-up: ARP answered, path up");

        // From hv2's side of the wire, a raw socket sends 200,000 frames at hv1's NIC: random
        // bytes, runts, GRE with random keys, and NVGRE claiming Red's inner addresses from a
        // foreign PA. Meanwhile Red-2 pings Red-1 through the same NIC.
        const string flood = """
            import socket, random, struct, sys
            r = random.Random(11)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind((sys.argv[1], 0))
            dst = bytes.fromhex('02000000010a'); src = bytes.fromhex('020000000199')
            def ip(proto, payload, srcip, dstip='192.168.1.10'):
                h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, socket.inet_aton(srcip), socket.inet_aton(dstip))
                c = sum(struct.unpack('!10H', h)); c = (c & 0xffff) + (c >> 16); c = (c & 0xffff) + (c >> 16)
                return h[:10] + struct.pack('!H', ~c & 0xffff) + h[12:] + payload
            for i in range(200000):
                k = i % 4
                if k == 0: f = dst + src + r.randbytes(r.randint(0, 200))
                elif k == 1: f = dst + src + b'\x08\x00' + r.randbytes(r.randint(0, 30))
                elif k == 2: f = dst + src + b'\x08\x00' + ip(47, struct.pack('!HHI', 0x2000, 0x6558, r.getrandbits(32)) + r.randbytes(60), '192.168.1.11')
                else:
                    inner = bytes.fromhex('00155d000001' '00155d000002' '0800') + ip(1, b'\x08\x00' + r.randbytes(30), '10.1.1.8', '10.1.1.7')
                    f = dst + src + b'\x08\x00' + ip(47, struct.pack('!HHI', 0x2000, 0x6558, 5001 << 8) + inner, '192.168.1.77')
                try: s.send(f)
                except OSError: pass
            print('sent')
            """;
        var flooder = StartBackground("ip", "netns", "exec", t.Hv2, "/usr/bin/python3", "-c", flood, $"v{_suffix}b");
        var (code, output) = Sh("ip", "netns", "exec", t.Red2, "ping", "-c", "50", "-i", "0.05", "-W", "2", "10.1.1.7");
        Assert.That(flooder.Process.WaitForExit(120_000), Is.True, "flood finished");
        Assert.That(flooder.Log.ToString(), Does.Contain("sent"), "the flood ran: " + flooder.Log);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("50 received").And.Contain(" 0% packet loss"), "no Red ping lost while the provider port was flooded");
        Assert.That(Ping(t.Blue1, "10.1.1.8"), Is.Zero, "the other tenant still flows after the flood");

        foreach (var d in _daemons.Take(2))
        {
            Must("kill", "-TERM", d.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.That(d.WaitForExit(20_000), Is.True);
            d.WaitForExit(); // drains the redirected output, so the final counters are in the log
            Assert.That(d.ExitCode, Is.Zero, "the daemon stayed up and stopped cleanly");
        }

        Assert.That(t.Log1.ToString(), Does.Contain("pa_mismatch"), "spoofed NVGRE counted: " + t.Log1);
    }

    [TestCase(true)]
    [TestCase(false)]
    public void A_red_broadcast_reaches_the_red_vm_on_the_other_host_only_when_red_floods_and_never_blue(bool flooding)
    {
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, floodRed: flooding);

        // Every VM listens on UDP 9998 for anything, broadcasts included; Blue has the same CAs.
        static string Listener(int seconds) => "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            + "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('',9998));print('ready',flush=True)\n"
            + $"s.settimeout({seconds})\ntry:\n d,a=s.recvfrom(100);print(d.decode(),a[0])\nexcept socket.timeout:\n print('nothing')";
        var red2 = StartBackground("ip", "netns", "exec", t.Red2, "/usr/bin/python3", "-c", Listener(flooding ? 15 : 6));
        var blue1 = StartBackground("ip", "netns", "exec", t.Blue1, "/usr/bin/python3", "-c", Listener(6));
        var blue2 = StartBackground("ip", "netns", "exec", t.Blue2, "/usr/bin/python3", "-c", Listener(6));
        AssertReady(red2, blue1, blue2);

        // Red-1's kernel sends to its subnet's broadcast address (Ethernet ff:ff:ff:ff:ff:ff).
        const string send = "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\n"
            + "for i in range(3):\n s.sendto(b'red broadcast',('10.1.1.255',9998));time.sleep(0.3)";
        var (code, output) = Sh("ip", "netns", "exec", t.Red1, "/usr/bin/python3", "-c", send);
        Assert.That(code, Is.Zero, "sent: " + output);

        foreach (var listener in new[] { red2, blue1, blue2 })
        {
            Assert.That(listener.Process.WaitForExit(30_000), Is.True);
            listener.Process.WaitForExit(); // drains the redirected output
        }

        Assert.That(AfterReady(red2), Is.EqualTo(flooding ? "red broadcast 10.1.1.7" : "nothing"),
            flooding ? "Red-2 on hv2 got Red-1's broadcast" : "with flooding off nothing crosses");
        Assert.That(AfterReady(blue1), Is.EqualTo("nothing"), "Blue-1, on Red-1's own host, got nothing");
        Assert.That(AfterReady(blue2), Is.EqualTo("nothing"), "Blue-2, with Red-2's address, got nothing");
        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "unicast works all along (the path was up)");
    }

    [Test]
    public void An_acl_denying_tcp_22_for_red_stops_ssh_while_ping_and_other_ports_and_blue_go_on()
    {
        using var temp = new TempDir();
        object[] acls = [new { virtualSubnetId = 5001, priority = 100, direction = "both", protocol = "tcp", destinationPorts = "22", action = "deny", name = "no-ssh" }];
        var t = TwoHosts(temp.Path, null, acls: acls);

        // Listeners on 22 and 8022 in Red-2 and on 22 in Blue-2 (same CA): each connection gets "hi".
        const string listen = """
            import socket, select, sys, time
            ls = []
            for p in map(int, sys.argv[1:]):
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', p)); s.listen(8); ls.append(s)
            print('listening', flush=True)
            end = time.time() + 60
            while time.time() < end:
                r, _, _ = select.select(ls, [], [], 0.5)
                for s in r:
                    c, _ = s.accept(); c.sendall(b'hi'); c.close()
            """;
        const string connect = """
            import socket, sys
            for p in map(int, sys.argv[2:]):
                try:
                    c = socket.create_connection((sys.argv[1], p), timeout=3); print(p, 'ok', c.recv(2).decode(), flush=True); c.close()
                except OSError as e:
                    print(p, 'failed', type(e).__name__, flush=True)
            """;
        var red = StartBackground("ip", "netns", "exec", t.Red2, "/usr/bin/python3", "-c", listen, "22", "8022");
        var blue = StartBackground("ip", "netns", "exec", t.Blue2, "/usr/bin/python3", "-c", listen, "22");
        Assert.That(WaitFor(() => red.Log.ToString().Contains("listening", StringComparison.Ordinal) && blue.Log.ToString().Contains("listening", StringComparison.Ordinal)), Is.True, "listeners up: " + red.Log + blue.Log);

        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1 → Red-2 ping goes on");
        var (code, redOut) = Sh("ip", "netns", "exec", t.Red1, "/usr/bin/python3", "-c", connect, "10.1.1.8", "22", "8022");
        Assert.That(code, Is.Zero, redOut);
        Assert.That(redOut.Split('\n'), Has.Some.StartsWith("22 failed").And.Some.EqualTo("8022 ok hi"), "TCP 22 denied, TCP 8022 through");
        var (blueCode, blueOut) = Sh("ip", "netns", "exec", t.Blue1, "/usr/bin/python3", "-c", connect, "10.1.1.8", "22");
        Assert.That(blueCode, Is.Zero, blueOut);
        Assert.That(blueOut.Split('\n'), Has.Some.EqualTo("22 ok hi"), "Red's rule is not Blue's");

        foreach (var d in _daemons.Take(2))
        {
            Must("kill", "-TERM", d.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.That(d.WaitForExit(20_000), Is.True);
            d.WaitForExit(); // drains the redirected output, so the final counters are in the log
            Assert.That(d.ExitCode, Is.Zero);
        }

        // The sending host denied every SYN to 22 (the kernel retries), counted both as a drop and as the rule's hits.
        string log = t.Log1.ToString();
        var denied = System.Text.RegularExpressions.Regex.Match(log, "acl_deny ([0-9]+)");
        var hits = System.Text.RegularExpressions.Regex.Match(log, "acl no-ssh ([0-9]+)");
        Assert.That(denied.Success && hits.Success, Is.True, "stopped line with acl_deny and the rule's hits: " + log);
        Assert.That(int.Parse(denied.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(1));
        Assert.That(hits.Groups[1].Value, Is.EqualTo(denied.Groups[1].Value), "every acl_deny was this rule's");
        Assert.That(t.Log2.ToString(), Does.Not.Contain("acl no-ssh"), "no SYN to Red's 22 ever reached hv2");
    }

    [Test]
    public void A_vm_with_no_static_address_gets_it_by_dhcp_from_policy_and_then_reaches_its_peer_across_hosts()
    {
        string? busybox = new[] { "/usr/bin/busybox", "/bin/busybox" }.FirstOrDefault(File.Exists);
        Assume.That(busybox, Is.Not.Null, "busybox (for udhcpc) is installed by .ci/setup-deps");
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, dhcpRed1: true);
        Assert.That(Sh("ip", "-n", t.Red1, "-4", "addr", "show", "dev", "red1t").Output, Does.Not.Contain("inet "), "Red-1 starts with no IPv4 address");

        // udhcpc hands the lease to a script in its environment; this one applies it the way a
        // distribution's default script does and writes down what it was told.
        string lease = Path.Combine(temp.Path, "lease.txt");
        string script = Path.Combine(temp.Path, "udhcpc.sh");
        File.WriteAllText(script, $$"""
            #!/bin/sh
            case "$1" in
              deconfig) ip -4 addr flush dev "$interface" ;;
              bound|renew)
                ip -4 addr flush dev "$interface"
                ip addr add "$ip/$mask" dev "$interface"
                [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
                for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
                echo "$1 ip=$ip mask=$mask router=$router dns=$dns domain=$domain mtu=$mtu lease=$lease serverid=$serverid" >> '{{lease}}'
                ;;
            esac
            exit 0

            """);
        Must("chmod", "700", script);

        var (code, output) = Sh("ip", "netns", "exec", t.Red1, busybox!, "udhcpc", "-i", "red1t", "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", script);
        Assert.That(code, Is.Zero, "udhcpc got a lease: " + output + t.Log1);
        Assert.That(File.ReadAllText(lease).Trim(), Is.EqualTo("bound ip=10.1.1.7 mask=24 router=10.1.1.1 dns=10.1.1.53 domain=red.example mtu=1458 lease=600 serverid=10.1.1.1"),
            "the CA of Red-1's record, the on-link route's mask and gateway, Red's DNS settings, the NVGRE MTU, the configured lease");
        Assert.That(Sh("ip", "-n", t.Red1, "-4", "addr", "show", "dev", "red1t").Output, Does.Contain("inet 10.1.1.7/24"));
        Assert.That(Sh("ip", "-n", t.Red1, "route", "show", "default").Output, Does.Contain("default via 10.1.1.1 dev red1t"));

        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1, configured by DHCP, → Red-2 on hv2 across NVGRE");
        Assert.That(Ping(t.Red1, "10.1.1.1"), Is.Zero, "and its router, the gateway address");
        Assert.That(Ping(t.Blue1, "10.1.1.8"), Is.Zero, "Blue-1 (static, same CA) unaffected");
    }

    [Test]
    public void A_daemon_that_read_too_slowly_says_at_stop_how_many_frames_its_device_lost()
    {
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null);
        string hv1 = _daemons[0].Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // hv1's daemon, stopped, reads nothing while 6,000 full-size frames arrive at its NIC:
        // more than its 4 MiB receive ring holds, so the kernel drops the rest and counts them.
        const string burst = """
            import socket, sys
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind((sys.argv[1], 0))
            f = bytes.fromhex('02000000010a' '020000000199' '88b5') + bytes(1500)
            for i in range(6000):
                s.send(f)
            print('sent')
            """;
        Must("kill", "-STOP", hv1);
        try
        {
            var (code, output) = Sh("ip", "netns", "exec", t.Hv2, "/usr/bin/python3", "-c", burst, $"v{_suffix}b");
            Assert.That(code, Is.Zero, "the burst ran: " + output);
        }
        finally
        {
            Must("kill", "-CONT", hv1);
        }

        Must("kill", "-TERM", hv1);
        Assert.That(_daemons[0].WaitForExit(20_000), Is.True);
        _daemons[0].WaitForExit(); // drains the redirected output, so the final counters are in the log
        Assert.That(_daemons[0].ExitCode, Is.Zero, "clean exit");
        Assert.That(t.Log1.ToString(), Does.Match(@"pnic0 lost [1-9][0-9]* frames in the device \(ring full\)"), "the stop line names the port and its losses: " + t.Log1);
    }

    private sealed record Topology(string Hv1, string Hv2, string Red1, string Red2, string Blue1, string Blue2, string Nic1, string Hv1Config, StringBuilder Log1, StringBuilder Log2);

    /// <summary>
    /// hv1 and hv2 joined by a veth pair, one daemon each, Red and Blue VMs on their TAPs. With a
    /// <paramref name="vlanId"/>, the PAs are on that VLAN and the hosts' NICs are veths into a
    /// provider network namespace instead (<see cref="_providerNetwork"/>), bridged between its
    /// ports p1 (hv1) and p2 (hv2). With <paramref name="dhcpRed1"/>, Red-1's TAP gets no address
    /// (it is to ask by DHCP) and hv1's policy sets a 600 s lease and Red's DNS settings.
    /// </summary>
    private Topology TwoHosts(string dir, string? notifyPath, bool vethVms = false, bool natRed = false, string kind = "afpacket", bool arp = false, int vlanId = 0, object[]? acls = null, bool dhcpRed1 = false, bool floodRed = false, string[]? hv1Args = null)
    {
        string hv1 = Ns("hv1"), hv2 = Ns("hv2"), red1 = Ns("red1"), red2 = Ns("red2"), blue1 = Ns("blue1"), blue2 = Ns("blue2");
        if (vethVms)
        {
            // Each VM's NIC is one end of a veth pair; the daemon serves the other end with AF_PACKET.
            VethVm(hv1, "red1h", red1, "00:15:5d:00:00:01", "10.1.1.7");
            VethVm(hv1, "blue1h", blue1, "00:15:5d:00:01:01", "10.1.1.7");
            VethVm(hv2, "red2h", red2, "00:15:5d:00:00:02", "10.1.1.8");
            VethVm(hv2, "blue2h", blue2, "00:15:5d:00:01:02", "10.1.1.8");
        }

        string v1 = $"v{_suffix}a", v2 = $"v{_suffix}b";
        if (vlanId == 0)
        {
            Must("ip", "link", "add", v1, "netns", hv1, "address", "02:00:00:00:01:0a", "type", "veth", "peer", "name", v2, "netns", hv2, "address", "02:00:00:00:01:0b");
        }
        else
        {
            ProviderBridge((hv1, v1, "02:00:00:00:01:0a", "p1"), (hv2, v2, "02:00:00:00:01:0b", "p2"));
        }

        Must("ip", "-n", hv1, "link", "set", v1, "up");
        Must("ip", "-n", hv2, "link", "set", v2, "up");
        string c1 = Path.Combine(dir, "hv1.json"), c2 = Path.Combine(dir, "hv2.json");
        object[]? redFloods = floodRed ? [new { virtualSubnetId = 5001, flooding = true }] : null; // Blue never floods
        File.WriteAllText(c1, HostConfig("hv1", v1, "02-00-00-00-01-0A", "192.168.1.10", "192.168.1.11", "02-00-00-00-01-0B", vethVms, natRed, kind, arp, vlanId, acls, redFloods, ("red1", "00-15-5D-00-00-01", 5001), ("blue1", "00-15-5D-00-01-01", 6001)));
        if (dhcpRed1)
        {
            var hv1Config = JsonNode.Parse(File.ReadAllText(c1))!;
            hv1Config["global"] = new JsonObject { ["dhcpLeaseSeconds"] = 600 };
            hv1Config["routingDomains"] = new JsonArray(new JsonObject
            {
                ["routingDomainId"] = "{11111111-2222-3333-4444-000000000000}",
                ["dnsServers"] = new JsonArray("10.1.1.53"),
                ["domainName"] = "red.example",
            });
            File.WriteAllText(c1, hv1Config.ToJsonString());
        }

        File.WriteAllText(c2, HostConfig("hv2", v2, "02-00-00-00-01-0B", "192.168.1.11", "192.168.1.10", "02-00-00-00-01-0A", vethVms, natRed, kind, arp, vlanId, acls, redFloods, ("red2", "00-15-5D-00-00-02", 5001), ("blue2", "00-15-5D-00-01-02", 6001)));
        var log1 = StartDaemon(hv1, c1, notifyPath, hv1Args);
        var log2 = StartDaemon(hv2, c2, null);
        Assert.That(WaitFor(() => log1.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, "hv1 started: " + log1);
        Assert.That(WaitFor(() => log2.ToString().Contains("\"started\"", StringComparison.Ordinal)), Is.True, "hv2 started: " + log2);
        if (!vethVms)
        {
            Vm(hv1, "red1t", red1, "00:15:5d:00:00:01", dhcpRed1 ? null : "10.1.1.7");
            Vm(hv1, "blue1t", blue1, "00:15:5d:00:01:01", "10.1.1.7");
            Vm(hv2, "red2t", red2, "00:15:5d:00:00:02", "10.1.1.8");
            Vm(hv2, "blue2t", blue2, "00:15:5d:00:01:02", "10.1.1.8");
        }

        return new Topology(hv1, hv2, red1, red2, blue1, blue2, v1, c1, log1, log2);
    }

    private sealed record Background(Process Process, StringBuilder Log);

    /// <summary>Waits until each listener printed "ready" (bound, listening): a fixed sleep loses the race on a loaded host.</summary>
    private static void AssertReady(params Background[] listeners)
    {
        foreach (var l in listeners)
        {
            Assert.That(WaitFor(() => l.Log.ToString().Contains("ready", StringComparison.Ordinal)), Is.True, "listener up: " + l.Log);
        }
    }

    /// <summary>What a listener printed after its "ready" line.</summary>
    private static string AfterReady(Background listener) =>
        string.Join('\n', listener.Log.ToString().Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l != "ready")).Trim();

    private Background StartBackground(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        var log = new StringBuilder();
        var p = new Process { StartInfo = psi };
        p.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
        };
        p.OutputDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
        };
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _daemons.Add(p);
        return new Background(p, log);
    }

    private string Ns(string role)
    {
        string name = $"nve{_suffix}-{role}";
        Must("ip", "netns", "add", name);
        _namespaces.Add(name);
        Must("ip", "-n", name, "link", "set", "lo", "up");
        return name;
    }

    private StringBuilder StartDaemon(string ns, string config, string? notifySocket, string[]? extraArgs = null)
    {
        string nvdp = Path.Combine(AppContext.BaseDirectory, "nvdp");
        var args = new List<string> { "ip", "netns", "exec", ns };
        if (notifySocket is not null)
        {
            args.AddRange(["env", "NOTIFY_SOCKET=" + notifySocket]);
        }

        args.AddRange([nvdp, "run", "--config", config, "--log-format", "json", "--control", "unix:" + Path.ChangeExtension(config, ".sock")]);
        args.AddRange(extraArgs ?? []);
        return StartBackground([.. args]).Log;
    }

    /// <summary>Moves a TAP the daemon created into the VM's namespace and configures it as the VM's NIC.</summary>
    private static void Vm(string host, string tap, string vm, string mac, string? ip)
    {
        Assert.That(WaitFor(() => Sh("ip", "-n", host, "link", "show", tap).Code == 0), Is.True, $"{tap} exists in {host}");
        Must("ip", "-n", host, "link", "set", tap, "netns", vm);
        Must("ip", "-n", vm, "link", "set", tap, "address", mac);
        if (ip is not null)
        {
            Must("ip", "-n", vm, "addr", "add", ip + "/24", "dev", tap);
        }

        Must("ip", "-n", vm, "link", "set", tap, "up");
    }

    /// <summary>A VM whose NIC (eth0) is a veth whose peer, in the host, the daemon serves with AF_PACKET.</summary>
    private static void VethVm(string host, string hostEnd, string vm, string mac, string ip)
    {
        Must("ip", "link", "add", hostEnd, "netns", host, "type", "veth", "peer", "name", "eth0", "netns", vm, "address", mac);
        Must("ip", "-n", host, "link", "set", hostEnd, "up");
        Must("ip", "-n", vm, "addr", "add", ip + "/24", "dev", "eth0");
        Must("ip", "-n", vm, "link", "set", "eth0", "up");
    }

    /// <summary>
    /// A provider network namespace whose bridge has one port per host. The bridge passes tags
    /// through as they come (this kernel has no bridge VLAN filtering to enforce one VLAN).
    /// </summary>
    private void ProviderBridge(params (string Host, string Nic, string Mac, string BridgePort)[] hosts)
    {
        var network = NetworkNamespace.Create();
        _providerNetwork = network;
        network.Ip("link", "add", "br0", "type", "bridge");
        foreach (var h in hosts)
        {
            Must("ip", "link", "add", h.Nic, "netns", h.Host, "address", h.Mac, "type", "veth", "peer", "name", h.BridgePort, "netns", network.Name);
            network.Ip("link", "set", h.BridgePort, "master", "br0");
            network.Ip("link", "set", h.BridgePort, "up");
        }

        network.Ip("link", "set", "br0", "up");
    }

    private sealed record WireFrame(string Kind, int Vid, uint Vsid);

    /// <summary>
    /// The IPv4 and ARP frames waiting on a capture port (what its host sent), decoded by hand from
    /// the 802.1Q, IPv4 and NVGRE (RFC 7637) layouts: VID (-1 untagged) and, for NVGRE, the VSID.
    /// The hosts' own kernels send only IPv6 there, which is left out.
    /// </summary>
    private static List<WireFrame> DaemonFrames(AfPacketPort capture)
    {
        var pool = new BufferPool(64);
        var batch = new PacketBuffer[32];
        var frames = new List<WireFrame>();
        while (capture.WaitReadable(200))
        {
            int n = capture.Receive(batch, pool);
            for (int i = 0; i < n; i++)
            {
                var f = batch[i].Frame;
                bool tagged = f.Length >= 18 && BinaryPrimitives.ReadUInt16BigEndian(f[12..]) == 0x8100;
                int vid = tagged ? BinaryPrimitives.ReadUInt16BigEndian(f[14..]) & 0x0fff : -1;
                int l3 = tagged ? 18 : 14;
                ushort type = f.Length >= l3 ? BinaryPrimitives.ReadUInt16BigEndian(f[(l3 - 2)..]) : (ushort)0;
                if (type == 0x0806)
                {
                    frames.Add(new WireFrame("arp", vid, 0));
                }
                else if (type == 0x0800 && f.Length >= l3 + 20)
                {
                    int gre = l3 + ((f[l3] & 0x0f) * 4);
                    bool nvgre = f[l3 + 9] == 47 && f.Length >= gre + 8 && BinaryPrimitives.ReadUInt16BigEndian(f[(gre + 2)..]) == 0x6558;
                    frames.Add(nvgre ? new WireFrame("nvgre", vid, BinaryPrimitives.ReadUInt32BigEndian(f[(gre + 4)..]) >> 8) : new WireFrame("ipv4", vid, 0));
                }

                pool.Return(batch[i]);
            }
        }

        return frames;
    }

    private static int Ping(string ns, string target, int count = 3) =>
        Sh("ip", "netns", "exec", ns, "ping", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-W", "2", "-i", "0.2", target).Code;

    private static string HostConfig(string name, string nic, string nicMac, string pa, string otherPa, string otherMac, bool vethVms, bool natRed, string kind, bool arp, int vlanId, object[]? acls, object[]? virtualSubnets, params (string Port, string Mac, int Vsid)[] vms)
    {
        var ports = new List<object> { new { name = "pnic0", role = "provider", device = kind + ":" + nic, macAddress = nicMac, mtu = 1500 } };
        ports.AddRange(vms.Select(v => (object)new { name = v.Port, role = "vm", device = vethVms ? kind + ":" + v.Port + "h" : "tap:" + v.Port + "t", macAddress = v.Mac, virtualSubnetId = v.Vsid }));

        // With natRed, Red's CAs are IP-rewritten onto PAs of their own (192.168.1.20-22), as
        // TranslationMethodNat requires; Blue stays NVGRE on the hosts' PAs.
        bool hv1 = name == "hv1";
        string redRule = natRed ? "TranslationMethodNat" : "TranslationMethodEncap";
        string red7 = natRed ? "192.168.1.20" : "192.168.1.10", red8 = natRed ? "192.168.1.21" : "192.168.1.11", red9 = natRed ? "192.168.1.22" : "192.168.1.11";
        var pas = new List<object> { new { address = pa, prefixLength = 24, vlanId, port = "pnic0" } };
        var neighbors = new List<object> { new { address = otherPa, macAddress = otherMac } };
        if (natRed)
        {
            pas.Add(new { address = hv1 ? red7 : red8, prefixLength = 24, port = "pnic0" });
            neighbors.Add(new { address = hv1 ? red8 : red7, macAddress = otherMac });
            if (hv1)
            {
                neighbors.Add(new { address = red9, macAddress = otherMac });
            }
        }

        var config = new
        {
            host = new { name },
            ports,
            providerAddresses = pas,
            providerNeighbors = arp ? [] : neighbors, // arp: next hops resolved on the wire instead
            lookupRecords = new[]
            {
                new { customerAddress = "10.1.1.7", virtualSubnetId = 5001, macAddress = "00-15-5D-00-00-01", providerAddress = red7, rule = redRule },
                new { customerAddress = "10.1.1.8", virtualSubnetId = 5001, macAddress = "00-15-5D-00-00-02", providerAddress = red8, rule = redRule },
                new { customerAddress = "10.1.1.9", virtualSubnetId = 5001, macAddress = "00-15-5D-00-00-03", providerAddress = red9, rule = redRule },
                new { customerAddress = "10.1.1.7", virtualSubnetId = 6001, macAddress = "00-15-5D-00-01-01", providerAddress = "192.168.1.10", rule = "TranslationMethodEncap" },
                new { customerAddress = "10.1.1.8", virtualSubnetId = 6001, macAddress = "00-15-5D-00-01-02", providerAddress = "192.168.1.11", rule = "TranslationMethodEncap" },
            },
            customerRoutes = new[]
            {
                new { routingDomainId = "{11111111-2222-3333-4444-000000000000}", virtualSubnetId = 5001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0" },
                new { routingDomainId = "{22222222-2222-3333-4444-000000000000}", virtualSubnetId = 6001, destinationPrefix = "10.1.1.0/24", nextHop = "0.0.0.0" },
            },
            acls = acls ?? [], // the same rules on both hosts, as a controller would push them
            virtualSubnets = virtualSubnets ?? [],
        };
        return JsonSerializer.Serialize(config);
    }

    private static bool WaitFor(Func<bool> condition) => TestWait.Until(condition);

    private static void Must(params string[] args)
    {
        var (code, output) = Sh(args);
        Assert.That(code, Is.Zero, $"{string.Join(' ', args)}: {output}");
    }

    private static (int Code, string Output) Sh(params string[] args)
    {
        var (exit, output, error) = TestProcess.Run(args[0], args.Skip(1), TimeSpan.FromSeconds(60));
        return (exit, output + error);
    }
}
