using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Io;
using NvDataplane.Nvgre;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Live migration (docs/FORWARDING.md section 8) on hv1 (PAs 192.168.1.10 and
/// 2001:db8:ffff::10): Red-1 (10.1.1.7) and Red-4 (10.1.1.4, on the IPv6 PA) move to hv3
/// (192.168.1.12 / ::12); Red-2 (10.1.1.8, 192.168.1.11) and Red-6 (10.1.1.6, ::11) on hv2 keep
/// sending to hv1. Red-3 (10.1.1.3) stays on hv1 and sends to Red-9 (10.1.1.9, 192.168.1.11).
/// Expected frames are written field by field from the layouts (TestFrames); tshark and scapy
/// decode the REDIRECT / UNREACHABLE messages independently. Time is the policy store's injected
/// clock and the frames' timestamps: nothing sleeps.
/// </summary>
public partial class MigrationTests
{
    private const string Hv1Mac = "02-00-00-00-01-0A";
    private const string Hv2Mac = "02-00-00-00-01-0B";
    private const string Hv3Mac = "02-00-00-00-01-0C";
    private const string Hv4Mac = "02-00-00-00-01-0D";
    private const string Red1Mac = "00-15-5D-00-00-01";
    private const string Red2Mac = "00-15-5D-00-00-02";
    private const string Red3Mac = "00-15-5D-00-00-03";
    private const string Red4Mac = "00-15-5D-00-00-04";
    private const string Red6Mac = "00-15-5D-00-00-06";
    private const string Red9Mac = "00-15-5D-00-00-09";
    private const string Blue1Mac = "00-15-5D-00-20-01";
    private const string Hv1 = "192.168.1.10", Hv2 = "192.168.1.11", Hv3 = "192.168.1.12", Hv4 = "192.168.1.13";
    private const string Hv1V6 = "2001:db8:ffff::10", Hv2V6 = "2001:db8:ffff::11", Hv3V6 = "2001:db8:ffff::12";
    private const long Second = 1_000_000_000;
    private const long T0 = 1_700_000_000 * Second;

    /// <summary>
    /// hv1's policy with Red-1, Red-4 and Red-9 at the PAs given (and, with <paramref name="tenantsAtPas"/>, the VMs of <see cref="TenantsAtPas"/>;
    /// with <paramref name="blue"/>, Blue-1 (10.1.2.5) on hv1 in VSID 5002 of the same routing domain).
    /// </summary>
    private static HostConfig Config(string red1 = Hv1, string red4 = Hv1V6, string red9 = Hv2, bool trust = false, int? grace = null, int vlan = 0, bool tenantsAtPas = false, bool blue = false)
    {
        var (tenantPorts, tenantRecords) = tenantsAtPas ? TenantsAtPas : (string.Empty, string.Empty);
        if (blue)
        {
            tenantPorts += $$""", { "name": "blue1", "role": "vm", "macAddress": "{{Blue1Mac}}", "virtualSubnetId": 5002 }""";
            tenantRecords += $$""", { "customerAddress": "10.1.2.5", "virtualSubnetId": 5002, "macAddress": "{{Blue1Mac}}", "providerAddress": "{{Hv1}}" }""";
        }

        string blueRoute = blue
            ? """, { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" }"""
            : string.Empty;
        string global = $$"""{ "trustRedirects": {{(trust ? "true" : "false")}}{{(grace is { } g ? $", \"migrationGraceSeconds\": {g}" : "")}} }""";
        string json = $$"""
            {
              "host": { "name": "hv1" },
              "global": {{global}},
              "ports": [
                { "name": "pnic0", "role": "provider", "macAddress": "{{Hv1Mac}}", "mtu": 1500 },
                { "name": "red1", "role": "vm", "macAddress": "{{Red1Mac}}", "virtualSubnetId": 5001 },
                { "name": "red3", "role": "vm", "macAddress": "{{Red3Mac}}", "virtualSubnetId": 5001 },
                { "name": "red4", "role": "vm", "macAddress": "{{Red4Mac}}", "virtualSubnetId": 5001 }{{tenantPorts}}
              ],
              "providerAddresses": [
                { "address": "{{Hv1}}", "prefixLength": 24, "vlanId": {{vlan}}, "port": "pnic0" },
                { "address": "{{Hv1V6}}", "prefixLength": 64, "port": "pnic0" }
              ],
              "providerNeighbors": [
                { "address": "{{Hv2}}", "macAddress": "{{Hv2Mac}}" }, { "address": "{{Hv3}}", "macAddress": "{{Hv3Mac}}" },
                { "address": "{{Hv4}}", "macAddress": "{{Hv4Mac}}" }, { "address": "{{Hv2V6}}", "macAddress": "{{Hv2Mac}}" },
                { "address": "{{Hv3V6}}", "macAddress": "{{Hv3Mac}}" }
              ],
              "lookupRecords": [
                { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "{{Red1Mac}}", "providerAddress": "{{red1}}" },
                { "customerAddress": "10.1.1.3", "virtualSubnetId": 5001, "macAddress": "{{Red3Mac}}", "providerAddress": "{{Hv1}}" },
                { "customerAddress": "10.1.1.4", "virtualSubnetId": 5001, "macAddress": "{{Red4Mac}}", "providerAddress": "{{red4}}" },
                { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "{{Red2Mac}}", "providerAddress": "{{Hv2}}" },
                { "customerAddress": "10.1.1.6", "virtualSubnetId": 5001, "macAddress": "{{Red6Mac}}", "providerAddress": "{{Hv2V6}}" },
                { "customerAddress": "10.1.1.9", "virtualSubnetId": 5001, "macAddress": "{{Red9Mac}}", "providerAddress": "{{red9}}" }{{tenantRecords}}
              ],
              "customerRoutes": [
                { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }{{blueRoute}}
              ]
            }
            """;
        var loaded = ConfigLoader.Load(json);
        Assert.That(loaded.Problems, Is.Empty);
        return loaded.Config!;
    }

    /// <summary>hv1 with a clock the test sets: <see cref="Now"/> is when the next policy version is published.</summary>
    private sealed class Host
    {
        public Host(HostConfig config)
        {
            Store = new PolicyStore(PolicySnapshot.Build(config), () => Now);
            Harness = new ForwarderHarness(Store);
        }

        public long Now { get; set; } = T0;

        public PolicyStore Store { get; }

        public ForwarderHarness Harness { get; }

        public MigrationCounters Counters => Harness.Forwarder.Counters.Migration;

        public void Replace(HostConfig config, long at)
        {
            Now = at;
            Store.Replace(config);
        }

        public List<(int Port, byte[] Frame)> Send(string port, byte[] frame, long at) => Harness.Send(port, frame, at);

        public long Drops(DropReason reason) => Harness.Forwarder.Counters.Drop(reason);
    }

    private static Host MovedHost(bool trust = false, int? grace = null, int vlan = 0)
    {
        var host = new Host(Config(trust: trust, grace: grace, vlan: vlan));
        host.Replace(Config(red1: Hv3, red4: Hv3V6, trust: trust, grace: grace, vlan: vlan), T0);
        return host;
    }

    private static byte[] Udp4(string src, string dst, ushort port, int size = 24) => Ipv4Of(src, dst, 17, UdpOf(40000, port, new byte[size]), id: port);

    /// <summary>Red-2's frame to <paramref name="dstCa"/> as hv2 sends it to hv1 (or from <paramref name="fromPa"/>).</summary>
    private static byte[] FromRed2(string dstCa, ushort port = 5000, string fromPa = Hv2, byte ttl = 64, string srcCa = "10.1.1.8", string srcMac = Red2Mac, string ethSource = Hv2Mac, int vlan = -1)
    {
        byte[] inner = Concat(Eth(Red1Mac, srcMac, 0x0800), Udp4(srcCa, dstCa, port));
        byte[] eth = vlan < 0 ? Eth(Hv1Mac, ethSource, 0x0800) : Concat(Eth(Hv1Mac, ethSource, 0x8100)[..12], [0x81, 0x00, (byte)(vlan >> 8), (byte)vlan, 0x08, 0x00]);
        return Concat(eth, Ipv4Of(fromPa, Hv1, 47, NvgreOf(5001, 0x5A, inner), ttl: ttl));
    }

    /// <summary>Red-6's frame to Red-4 over the IPv6 PAs.</summary>
    private static byte[] FromRed6(ushort port = 6000) =>
        Concat(Eth(Hv1Mac, Hv2Mac, 0x86DD), Ipv6Of(Hv2V6, Hv1V6, 47, NvgreOf(5001, 0x6B, Concat(Eth(Red4Mac, Red6Mac, 0x0800), Udp4("10.1.1.6", "10.1.1.4", port))), hopLimit: 64));

    /// <summary>What hv1 sends Red-3's <paramref name="packet"/> as, NVGRE to <paramref name="pa"/> (FlowID masked by the caller).</summary>
    private static byte[] Encapsulated(byte[] innerFrame, string pa, string nextHopMac) =>
        Concat(Eth(nextHopMac, Hv1Mac, 0x0800), Ipv4Of(Hv1, pa, 47, NvgreOf(5001, 0, innerFrame)));

    private static byte[] ZeroFlowId(byte[] frame)
    {
        var f = (byte[])frame.Clone();
        f[14 + 20 + 7] = 0;
        return f;
    }

    /// <summary>The IPv4 message hv1 sends hv2: NVGRE (FlowID 0) around Ethernet hv1 → hv2, IPv4 .10 → .11, ICMP type/code, the 32-bit word, the quote.</summary>
    private static byte[] Message4(byte type, byte code, byte[] word, byte[] quote, string from = Hv1, string to = Hv2, string fromMac = Hv1Mac, string toMac = Hv2Mac)
    {
        byte[] icmp = Concat([type, code, 0, 0], word, quote);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), ReferenceChecksum(icmp));
        byte[] inner = Concat(Eth(toMac, fromMac, 0x0800), Ipv4Of(from, to, 1, icmp, ttl: 128, flagsFragment: 0)); // TTL 128 as Windows sends them
        return Concat(Eth(toMac, fromMac, 0x0800), Ipv4Of(from, to, 47, NvgreOf(5001, 0, inner)));
    }

    [Test]
    public void A_frame_for_a_moved_record_is_relayed_with_the_senders_pa_and_the_sender_gets_one_redirect()
    {
        var host = MovedHost();
        byte[] input = FromRed2("10.1.1.7");

        var output = host.Send("pnic0", input, T0 + Second);

        byte[] expectedRedirect = Message4(5, 10, Addr(Hv3), input[14..]);
        byte[] relayed = Concat(Eth(Hv3Mac, Hv1Mac, 0x0800), Ipv4Of(Hv2, Hv3, 47, NvgreOf(5001, 0x5A, input[(14 + 20 + 8)..]), ttl: 63));
        Assert.That(output.Select(o => o.Port), Is.EqualTo(new[] { host.Harness.Port("pnic0"), host.Harness.Port("pnic0") }));
        Assert.That(Convert.ToHexString(output[0].Frame), Is.EqualTo(Convert.ToHexString(expectedRedirect)), "REDIRECT, byte for byte");
        Assert.That(Convert.ToHexString(output[1].Frame), Is.EqualTo(Convert.ToHexString(relayed)), "relayed: outer destination, TTL, checksum, Ethernet; source PA, id, GRE key and inner frame kept");
        Assert.That((host.Counters.Relayed, host.Counters.RedirectsSent), Is.EqualTo((1L, 1L)));
        Assert.That(host.Harness.Forwarder.Counters.Forwarded, Is.EqualTo(1), "the relayed frame counts as forwarded");
        Assert.That(host.Harness.Forwarder.Counters.TotalDrops, Is.Zero);
    }

    [Test]
    public void A_relay_over_ipv6_pas_decrements_the_hop_limit_and_the_redirect_is_icmpv6_137_code_1()
    {
        var host = MovedHost();
        byte[] input = FromRed6();

        var output = host.Send("pnic0", input, T0 + Second);

        Assert.That(output, Has.Count.EqualTo(2));
        byte[] relayed = Concat(Eth(Hv3Mac, Hv1Mac, 0x86DD), Ipv6Of(Hv2V6, Hv3V6, 47, input[(14 + 40)..], hopLimit: 63));
        Assert.That(Convert.ToHexString(output[1].Frame), Is.EqualTo(Convert.ToHexString(relayed)));
        byte[] quote = input[14..];
        byte[] padded = Concat(quote, new byte[(8 - (quote.Length % 8)) % 8]);
        byte[] destination = Concat(new byte[10], [0xFF, 0xFF], Addr("10.1.1.4")); // ::ffff:10.1.1.4
        byte[] option = Concat([4, (byte)((8 + padded.Length) / 8), 0, 0, 0, 0, 0, 0], padded);
        byte[] icmp = Icmpv6Of(Hv1V6, Hv2V6, Concat([137, 1, 0, 0, 0, 0, 0, 0], Addr(Hv3V6), destination, option), hopLimit: 255);
        byte[] expected = Concat(Eth(Hv2Mac, Hv1Mac, 0x86DD), Ipv6Of(Hv1V6, Hv2V6, 47, NvgreOf(5001, 0, Concat(Eth(Hv2Mac, Hv1Mac, 0x86DD), icmp))));
        Assert.That(Convert.ToHexString(output[0].Frame), Is.EqualTo(Convert.ToHexString(expected)), "ICMPv6 redirect: target = new PA, destination = the CA, Redirected Header option");
    }

    [Test]
    public void A_relay_leaves_with_the_vlan_of_the_pa_and_no_ethernet_padding()
    {
        var host = MovedHost(vlan: 100);
        byte[] input = Concat(FromRed2("10.1.1.7", vlan: 100), new byte[6]); // padded

        var output = host.Send("pnic0", input, T0 + Second);

        Assert.That(output, Has.Count.EqualTo(2));
        byte[] relayed = output[1].Frame;
        Assert.That(relayed[..16], Is.EqualTo(Concat(Mac(Hv3Mac), Mac(Hv1Mac), [0x81, 0x00, 0x00, 100])), "next hop, our MAC, VID 100");
        Assert.That(relayed[16..18], Is.EqualTo(new byte[] { 0x08, 0x00 }));
        Assert.That(relayed.Length, Is.EqualTo(input.Length - 6), "padding removed");
        Assert.That(relayed[(18 + 16)..(18 + 20)], Is.EqualTo(Addr(Hv3)));
        Assert.That(ReferenceChecksum(relayed.AsSpan(18, 20)), Is.Zero);
        Assert.That(output[0].Frame[12..16], Is.EqualTo(new byte[] { 0x81, 0x00, 0x00, 100 }), "the REDIRECT too");
    }

    [Test]
    public void Redirects_are_rate_limited_per_sender_vsid_and_ca_to_one_per_100_ms_while_every_frame_is_relayed()
    {
        var host = MovedHost();
        int redirects = 0, relayed = 0;
        for (int i = 0; i < 2000; i++)
        {
            // 20,000 frames/s for 100 ms: 50 µs apart.
            foreach (var (_, f) in host.Send("pnic0", FromRed2("10.1.1.7", (ushort)(5000 + (i % 7))), T0 + Second + (i * 50_000L)))
            {
                _ = f[14 + 9] == 47 && f[14 + 20 + 8 + 14 + 9] == 1 ? redirects++ : relayed++;
            }
        }

        Assert.That((redirects, relayed), Is.EqualTo((1, 2000)), "one REDIRECT in the first 100 ms");
        Assert.That(host.Counters.RateLimited, Is.EqualTo(1999));
        Assert.That(host.Send("pnic0", FromRed2("10.1.1.7"), T0 + Second + 100_000_000L), Has.Count.EqualTo(2), "100 ms after the first: a REDIRECT again");
        Assert.That(host.Send("pnic0", FromRed2("10.1.1.7", srcCa: "10.1.1.6", srcMac: Red6Mac, fromPa: Hv2), T0 + Second + 100_000_001L), Is.Empty,
            "a forged 10.1.1.6 (its PA is ::11) is not relayed: only counted");
        Assert.That(host.Send("pnic0", FromRed6(), T0 + Second + 100_000_002L), Has.Count.EqualTo(2), "another sender and CA: its own REDIRECT");
        Assert.That(host.Counters.RedirectsSent, Is.EqualTo(3));
    }

    [Test]
    public void A_frame_for_a_ca_with_no_record_gets_its_genuine_sender_an_unreachable_and_is_dropped_as_before()
    {
        var host = new Host(Config());
        byte[] input = FromRed2("10.1.1.200");

        var output = host.Send("pnic0", input, T0);

        Assert.That(output, Has.Count.EqualTo(1));
        Assert.That(Convert.ToHexString(output[0].Frame), Is.EqualTo(Convert.ToHexString(Message4(3, 10, new byte[4], input[14..]))));
        Assert.That(host.Drops(DropReason.NoLookupRecord), Is.EqualTo(1), "the frame's own fate is unchanged");
        Assert.That(host.Counters.UnreachablesSent, Is.EqualTo(1));

        Assert.That(host.Send("pnic0", FromRed2("10.1.1.200", fromPa: "192.168.1.99"), T0 + Second), Is.Empty, "a forged source is told nothing");
        Assert.That(host.Send("pnic0", FromRed2("10.1.1.200"), T0 + 50_000_000), Is.Empty, "50 ms later: rate-limited");
        Assert.That((host.Counters.UnreachablesSent, host.Counters.RateLimited, host.Drops(DropReason.NoLookupRecord)), Is.EqualTo((1L, 1L, 3L)));
    }

    [Test]
    public void The_grace_period_runs_on_the_clock_of_the_policy_change_and_then_the_sender_gets_unreachable()
    {
        var host = new Host(Config());
        host.Replace(Config(red1: Hv3, grace: 30), T0);

        Assert.That(host.Send("pnic0", FromRed2("10.1.1.7"), T0 + (30 * Second) - 1), Has.Count.EqualTo(2), "29.999… s after the move: relayed");
        var late = host.Send("pnic0", FromRed2("10.1.1.7"), T0 + (30 * Second));
        Assert.That(late, Has.Count.EqualTo(1), "30 s after: no relay");
        Assert.That(late[0].Frame[14 + 20 + 8 + 14 + 20], Is.EqualTo(3), "an UNREACHABLE");
        Assert.That(host.Drops(DropReason.NoLocalPort), Is.EqualTo(1));

        var noGrace = new Host(Config());
        noGrace.Replace(Config(red1: Hv3, grace: 0), T0);
        Assert.That(noGrace.Store.Current.Moved.Count, Is.Zero, "migrationGraceSeconds 0: nothing is relayed");
    }

    [Test]
    public void A_moved_record_keeps_its_grace_across_later_versions_follows_its_record_and_vanishes_when_it_moves_back()
    {
        var host = MovedHost();
        host.Replace(Config(red1: Hv3, red4: Hv3V6, red9: Hv4), T0 + Second); // an unrelated change
        var moved = host.Store.Current.Moved.All;
        Assert.That(moved.Select(m => (m.CustomerAddress.ToString(), m.NewProviderAddress.ToString(), m.ExpiresNs)),
            Is.EqualTo(new[] { ("10.1.1.4", Hv3V6, T0 + (30 * Second)), ("10.1.1.7", Hv3, T0 + (30 * Second)) }), "both kept, grace from the move");

        host.Replace(Config(red1: Hv4, red4: Hv3V6, red9: Hv4), T0 + (2 * Second)); // Red-1 moves on to hv4
        var relayed = host.Send("pnic0", FromRed2("10.1.1.7"), T0 + (3 * Second));
        Assert.That(relayed[1].Frame[(14 + 16)..(14 + 20)], Is.EqualTo(Addr(Hv4)), "relayed to where the record is now");

        host.Replace(Config(red1: Hv1, red4: Hv3V6, red9: Hv4), T0 + (4 * Second)); // and back to hv1
        Assert.That(host.Store.Current.Moved.All.Select(m => m.CustomerAddress.ToString()), Is.EqualTo(new[] { "10.1.1.4" }));
        byte[] input = FromRed2("10.1.1.7");
        var back = host.Send("pnic0", input, T0 + (5 * Second));
        Assert.That(back.Select(o => (o.Port, Convert.ToHexString(o.Frame))), Is.EqualTo(new[] { (host.Harness.Port("red1"), Convert.ToHexString(input[(14 + 20 + 8)..])) }), "delivered to Red-1 again");
    }

    [Test]
    public void A_forged_source_for_a_moved_record_is_not_relayed_nor_a_ttl_1_frame_which_still_gets_its_redirect()
    {
        var host = MovedHost();
        Assert.That(host.Send("pnic0", FromRed2("10.1.1.7", fromPa: "192.168.1.99"), T0 + Second), Is.Empty);
        Assert.That(host.Drops(DropReason.PaMismatch), Is.EqualTo(1));
        Assert.That((host.Counters.Relayed, host.Counters.RedirectsSent), Is.EqualTo((0L, 0L)), "a forged source gets nothing");

        // MS-NVGREE: a REDIRECT whenever a frame arrives for a VM that moved, relayable or not.
        var sent = host.Send("pnic0", FromRed2("10.1.1.7", ttl: 1), T0 + Second);
        Assert.That(host.Drops(DropReason.TtlExpired), Is.EqualTo(1));
        Assert.That(sent, Has.Count.EqualTo(1), "the REDIRECT, and no relayed frame");
        Assert.That(sent[0].Frame[14 + 20 + 8 + 14 + 20], Is.EqualTo(5), "ICMP type 5 inside the NVGRE to the sender");
        Assert.That((host.Counters.Relayed, host.Counters.RedirectsSent), Is.EqualTo((0L, 1L)));
    }

    /// <summary>hv2 tells hv1 (Red-3's host) that Red-9 moved to <paramref name="target"/>, as MS-NVGREE says, from <paramref name="fromPa"/>.</summary>
    private static byte[] RedirectForRed9(string fromPa, string fromMac, string target, byte type = 5, byte code = 10)
    {
        byte[] toRed9 = Encapsulated(Concat(Eth(Red9Mac, Red3Mac, 0x0800), Udp4("10.1.1.3", "10.1.1.9", 7000)), Hv2, Hv2Mac);
        return Message4(type, code, Addr(target), toRed9[14..], from: fromPa, to: Hv1, fromMac: fromMac, toMac: Hv1Mac);
    }

    private static byte[] Red3ToRed9(ushort port = 7001) => Concat(Eth(Red9Mac, Red3Mac, 0x0800), Udp4("10.1.1.3", "10.1.1.9", port));

    [Test]
    public void With_trust_off_a_redirect_is_consumed_and_counted_and_traffic_keeps_the_policy_pa()
    {
        var host = new Host(Config(trust: false));
        Assert.That(host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0), Is.Empty, "consumed, never delivered to a VM");
        Assert.That((host.Counters.RedirectsReceived, host.Counters.RedirectsUntrusted, host.Counters.RedirectsApplied), Is.EqualTo((1L, 1L, 0L)));
        Assert.That(host.Harness.Forwarder.Counters.Answered, Is.EqualTo(1), "counted as consumed, not as a drop");

        var output = host.Send("red3", Red3ToRed9(), T0 + 1);
        Assert.That(ZeroFlowId(output.Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)), "still to 192.168.1.11");
    }

    [Test]
    public void With_trust_on_a_redirect_from_the_owner_pa_moves_the_traffic_until_the_policy_changes_that_record()
    {
        var host = new Host(Config(trust: true));
        Assert.That(host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0), Is.Empty);
        Assert.That(host.Counters.RedirectsApplied, Is.EqualTo(1));
        Assert.That(host.Harness.Forwarder.Redirects.Snapshot().Select(o => (o.Vsid, o.CustomerAddress.ToString(), o.NewProviderAddress.ToString())),
            Is.EqualTo(new[] { (5001u, "10.1.1.9", Hv3) }));

        var output = host.Send("red3", Red3ToRed9(), T0 + 1);
        Assert.That(ZeroFlowId(output.Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv3, Hv3Mac)), "to the REDIRECT's PA");

        byte[] back = Concat(Eth(Red3Mac, Red9Mac, 0x0800), Udp4("10.1.1.9", "10.1.1.3", 7002));
        byte[] fromHv3 = Concat(Eth(Hv1Mac, Hv3Mac, 0x0800), Ipv4Of(Hv3, Hv1, 47, NvgreOf(5001, 1, back)));
        Assert.That(host.Send("pnic0", fromHv3, T0 + 2).Single().Frame, Is.EqualTo(back), "Red-9's answers from its new PA are accepted");

        host.Replace(Config(trust: true, red1: Hv1), T0 + Second); // a version that leaves Red-9's record alone
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + Second + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv3, Hv3Mac)), "kept");

        host.Replace(Config(trust: true, red9: Hv4), T0 + (2 * Second)); // a version that moves Red-9
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + (2 * Second) + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv4, Hv4Mac)), "the policy again");
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.Zero);
    }

    [Test]
    public void Turning_trust_off_drops_the_redirects_it_let_in()
    {
        var host = new Host(Config(trust: true));
        host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0);
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.EqualTo(1));

        host.Replace(Config(trust: false), T0 + Second);
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + Second + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)), "the policy's PA again");
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.Zero, "dropped when the worker took the version");
    }

    /// <summary>hv1 with trust on and Red-9's REDIRECT from hv2 to hv3 applied.</summary>
    private static Host RedirectedToHv3()
    {
        var host = new Host(Config(trust: true));
        host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0);
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.EqualTo(1));
        return host;
    }

    /// <summary>Red-9's answer to Red-3 as NVGRE from hv3's PA, which the REDIRECT vouches for.</summary>
    private static byte[] Red9AnswerFromHv3() =>
        Concat(Eth(Hv1Mac, Hv3Mac, 0x0800), Ipv4Of(Hv3, Hv1, 47, NvgreOf(5001, 1, Concat(Eth(Red3Mac, Red9Mac, 0x0800), Udp4("10.1.1.9", "10.1.1.3", 7002)))));

    [Test]
    public void A_redirect_vouches_for_the_ca_s_routed_replies_in_another_vsid_of_the_routing_domain()
    {
        // Blue-1 (VSID 5002) talks to Red-9 (VSID 5001) through the distributed router; hv3
        // routes Red-9's answers into VSID 5002, where only the override of Red-9's own record
        // (5001, 10.1.1.9) can vouch for them: it was looked up under the frame's VSID.
        var host = new Host(Config(trust: true, blue: true));
        host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, Hv3), T0);
        Assert.That(host.Counters.RedirectsApplied, Is.EqualTo(1));

        byte[] toRed9 = Concat(Eth(GatewayMac, Blue1Mac, 0x0800), Udp4("10.1.2.5", "10.1.1.9", 7003));
        byte[] encapsulated = host.Send("blue1", toRed9, T0 + 1).Single().Frame;
        Assert.That(encapsulated[(14 + 16)..(14 + 20)], Is.EqualTo(Addr(Hv3)), "routed to the REDIRECT's PA");

        byte[] answer = Concat(Eth(Blue1Mac, GatewayMac, 0x0800), Udp4("10.1.1.9", "10.1.2.5", 7004));
        byte[] From(string pa, string mac) => Concat(Eth(Hv1Mac, mac, 0x0800), Ipv4Of(pa, Hv1, 47, NvgreOf(5002, 1, answer)));
        Assert.That(host.Send("pnic0", From(Hv3, Hv3Mac), T0 + 2).Select(o => (o.Port, Convert.ToHexString(o.Frame))),
            Is.EqualTo(new[] { (host.Harness.Port("blue1"), Convert.ToHexString(answer)) }), "from the REDIRECT's PA, routed into VSID 5002");
        Assert.That(host.Send("pnic0", From(Hv2, Hv2Mac), T0 + 3), Has.Count.EqualTo(1), "from the record's PA, as 2.4 says");
        Assert.That(host.Send("pnic0", From(Hv4, Hv4Mac), T0 + 4), Is.Empty, "from any other PA");
        Assert.That(host.Drops(DropReason.PaMismatch), Is.EqualTo(1));
    }

    [Test]
    public void A_redirect_is_dropped_when_its_record_becomes_ip_rewrite_on_the_same_pa()
    {
        // Only its PA was compared: the override stayed and kept vouching for NVGRE from the
        // REDIRECT's PA, for a record that no longer has an NVGRE endpoint at all.
        var host = RedirectedToHv3();
        var c = Config(trust: true);
        var nat = ConfigLoader.Load(ConfigWriter.Write(c with
        {
            LookupRecords = [.. c.LookupRecords.Where(r => r.CustomerAddress != IpAddr.Parse("10.1.1.8"))
                .Select(r => r.CustomerAddress == IpAddr.Parse("10.1.1.9") ? r with { Rule = TranslationRule.Nat } : r)],
        }));
        Assert.That(nat.Problems, Is.Empty, "a valid policy: Red-9 by IP rewrite on its old PA");
        host.Replace(nat.Config!, T0 + Second);

        Assert.That(host.Send("pnic0", Red9AnswerFromHv3(), T0 + Second + 1), Is.Empty);
        Assert.That(host.Drops(DropReason.PaMismatch), Is.EqualTo(1), "NVGRE from the REDIRECT's PA speaks for nobody now");
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.Zero);
    }

    [Test]
    public void A_redirect_is_dropped_when_its_target_becomes_one_of_our_own_pas()
    {
        // It stayed: NVGRE claiming our own new PA as its source was delivered, and this host
        // sent Red-9's traffic to itself (ARP for its own address).
        var host = RedirectedToHv3();
        var c = Config(trust: true);
        var ours = ConfigLoader.Load(ConfigWriter.Write(c with
        {
            ProviderAddresses = [.. c.ProviderAddresses, new ProviderAddressConfig(IpAddr.Parse(Hv3), 24, 0, "pnic0")],
            ProviderNeighbors = [.. c.ProviderNeighbors.Where(n => n.Address != IpAddr.Parse(Hv3))],
        }));
        Assert.That(ours.Problems, Is.Empty, "a valid policy: hv3's address is now ours");
        host.Replace(ours.Config!, T0 + Second);

        Assert.That(host.Send("pnic0", Red9AnswerFromHv3(), T0 + Second + 1), Is.Empty);
        Assert.That(host.Drops(DropReason.PaMismatch), Is.EqualTo(1), "our own PA as the outer source is never from the wire");
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.Zero);
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + Second + 2).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)), "to the record's PA again");
    }

    [Test]
    public void A_redirect_quoting_an_ipv4_header_shorter_than_20_bytes_is_ignored()
    {
        var host = new Host(Config(trust: true));
        // IHL 3: a 12-byte "header" (protocol 47 at its place) with a well-formed NVGRE packet
        // right behind it, so only the length check can refuse it.
        byte[] shortHeader = [0x43, 0, 0, 96, 0, 0, 0, 0, 64, 47, 0, 0];
        byte[] quote = Concat(shortHeader, NvgreOf(5001, 0, Concat(Eth(Red9Mac, Red3Mac, 0x0800), Udp4("10.1.1.3", "10.1.1.9", 7000))));
        Assert.That(host.Send("pnic0", Message4(5, 10, Addr(Hv3), quote, from: Hv2, to: Hv1, fromMac: Hv2Mac, toMac: Hv1Mac), T0), Is.Empty);
        Assert.That((host.Counters.RedirectsIgnored, host.Counters.RedirectsApplied), Is.EqualTo((1L, 0L)));
    }

    [Test]
    public void A_redirect_with_a_bad_checksum_is_ignored()
    {
        // Nothing else guards the message's integrity (NVGRE has no checksum): a corrupted one
        // must not move a tenant's traffic (RFC 1122 3.2.2).
        var host = new Host(Config(trust: true));
        byte[] redirect = RedirectForRed9(Hv2, Hv2Mac, Hv3);
        redirect[14 + 20 + 8 + 14 + 20 + 2] ^= 0x5A; // the ICMP checksum of the inner packet
        Assert.That(host.Send("pnic0", redirect, T0), Is.Empty);
        Assert.That((host.Counters.RedirectsReceived, host.Counters.RedirectsIgnored, host.Counters.RedirectsApplied), Is.EqualTo((1L, 1L, 0L)));
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)), "still the policy's PA");
    }

    [Test]
    public void Redirects_naming_ever_new_targets_keep_the_tunnel_cache_bounded()
    {
        var host = new Host(Config(trust: true));
        int max = 0;
        for (int i = 0; i < Forwarder.MaxPaTunnels + 500; i++)
        {
            string target = $"192.168.{2 + (i / 250)}.{1 + (i % 250)}";
            host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, target), T0 + (i * 2L));
            host.Send("red3", Red3ToRed9(), T0 + (i * 2L) + 1);
            max = Math.Max(max, host.Harness.Forwarder.PaTunnelCount);
        }

        Assert.That(host.Counters.RedirectsApplied, Is.EqualTo(Forwarder.MaxPaTunnels + 500), "every one applied (the same owner PA each time)");
        Assert.That(max, Is.LessThanOrEqualTo(Forwarder.MaxPaTunnels));
    }

    [Test]
    public void A_record_moved_to_the_senders_own_pa_is_not_relayed_back_to_it_and_the_sender_gets_an_unreachable()
    {
        // A relay would reach hv2 from hv2's own PA, which its anti-spoofing rule drops.
        var host = new Host(Config());
        host.Replace(Config(red1: Hv2), T0);
        var output = host.Send("pnic0", FromRed2("10.1.1.7"), T0 + Second);

        Assert.That(output, Has.Count.EqualTo(1), "only the message");
        Assert.That(output[0].Frame[(14 + 20 + 8 + 14 + 20)], Is.EqualTo(3), "ICMP destination unreachable");
        Assert.That(output[0].Frame[(14 + 20 + 8 + 14 + 20 + 1)], Is.EqualTo(10), "code 10: MS-NVGREE UNREACHABLE");
        Assert.That((host.Counters.Relayed, host.Counters.RedirectsSent, host.Counters.UnreachablesSent), Is.EqualTo((0L, 0L, 1L)));
        Assert.That(host.Drops(DropReason.NoLocalPort), Is.EqualTo(1));
    }

    [Test]
    public void A_full_message_rate_table_is_swept_once_per_interval_not_once_per_frame()
    {
        var limiter = new MessageRateLimiter();
        var pa = IpAddr.Parse(Hv2);
        for (int i = 0; i < MessageRateLimiter.Capacity; i++)
        {
            Assert.That(limiter.TryAcquire(MigrationMessageKind.Unreachable, pa, 5001, IpAddr.FromV4(0x0A02_0000u + (uint)i), T0), Is.True);
        }

        for (int i = 0; i < 1000; i++)
        {
            Assert.That(limiter.TryAcquire(MigrationMessageKind.Unreachable, pa, 5001, IpAddr.FromV4(0x0A03_0000u + (uint)i), T0 + i), Is.False, "full, nothing old enough to go");
        }

        Assert.That(limiter.Sweeps, Is.EqualTo(1), "a sender cycling new CAs paid for one sweep, not a thousand");
        Assert.That(limiter.TryAcquire(MigrationMessageKind.Unreachable, pa, 5001, IpAddr.FromV4(0x0A04_0000u), T0 + MessageRateLimiter.IntervalNs), Is.True, "an interval later the old keys are swept");
        Assert.That(limiter.Sweeps, Is.EqualTo(2));
    }

    [TestCase(Hv3, Hv3Mac, Hv4, TestName = "A redirect from a PA that does not own the flow is ignored")]
    [TestCase(Hv2, Hv2Mac, Hv1, TestName = "A redirect naming one of our own PAs is ignored")]
    [TestCase(Hv2, Hv2Mac, Hv2, TestName = "A redirect naming the PA the flow already has is ignored")]
    [TestCase(Hv2, Hv2Mac, "255.255.255.255", TestName = "A redirect naming the broadcast address is ignored")]
    [TestCase(Hv2, Hv2Mac, "224.0.0.1", TestName = "A redirect naming a multicast group is ignored")]
    [TestCase(Hv2, Hv2Mac, "0.0.0.0", TestName = "A redirect naming 0.0.0.0 is ignored")]
    public void Spoofed_or_pointless_redirects_are_ignored_with_trust_on(string fromPa, string fromMac, string target)
    {
        var host = new Host(Config(trust: true));
        Assert.That(host.Send("pnic0", RedirectForRed9(fromPa, fromMac, target), T0), Is.Empty);
        Assert.That((host.Counters.RedirectsReceived, host.Counters.RedirectsIgnored, host.Counters.RedirectsApplied), Is.EqualTo((1L, 1L, 0L)));
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)));
    }

    [Test]
    public void A_redirect_naming_the_broadcast_address_of_our_pa_prefix_is_ignored_and_one_that_becomes_it_dropped()
    {
        var host = new Host(Config(trust: true));
        Assert.That(host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, "192.168.1.255"), T0), Is.Empty);
        Assert.That((host.Counters.RedirectsIgnored, host.Counters.RedirectsApplied), Is.EqualTo((1L, 0L)), "192.168.1.255: every station of our /24");

        host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, "192.168.2.255"), T0 + 1);
        Assert.That(host.Counters.RedirectsApplied, Is.EqualTo(1), "not a broadcast of any prefix of ours");
        var c = Config(trust: true);
        var wider = ConfigLoader.Load(ConfigWriter.Write(c with
        {
            ProviderAddresses = [.. c.ProviderAddresses, new ProviderAddressConfig(IpAddr.Parse("192.168.2.10"), 24, 0, "pnic0")],
        }));
        Assert.That(wider.Problems, Is.Empty);
        host.Replace(wider.Config!, T0 + Second);
        Assert.That(ZeroFlowId(host.Send("red3", Red3ToRed9(), T0 + Second + 1).Single().Frame), Is.EqualTo(Encapsulated(Red3ToRed9(), Hv2, Hv2Mac)),
            "192.168.2.255 is now the broadcast of a prefix of ours: the override goes");
        Assert.That(host.Harness.Forwarder.Redirects.Count, Is.Zero);
    }

    [Test]
    public void An_icmp_packet_whose_inner_source_is_not_the_sending_pa_is_tenant_traffic_not_a_message()
    {
        // A tenant's own ICMP 3/10 ("host prohibited") between CAs that happen to equal PAs: a
        // message's inner IP header is NVE to NVE, so the inner source must be the outer one.
        var host = new Host(Config(trust: true));
        byte[] frame = RedirectForRed9(Hv2, Hv2Mac, "0.0.0.0", type: 3, code: 10);
        int innerIp = 14 + 20 + 8 + 14;
        Addr(Hv3).CopyTo(frame, innerIp + 12);
        FixIpv4Checksum(frame.AsSpan(innerIp));
        Assert.That(host.Send("pnic0", frame, T0), Is.Empty);
        Assert.That(host.Counters.UnreachablesReceived, Is.Zero, "not consumed as an UNREACHABLE");
        Assert.That(host.Harness.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1), "taken as a tenant packet to 192.168.1.10, which no VM has");
    }

    [Test]
    public void A_redirect_cut_before_the_quoted_destination_is_ignored_and_an_unreachable_is_consumed()
    {
        var host = new Host(Config(trust: true));
        byte[] whole = RedirectForRed9(Hv2, Hv2Mac, Hv3);
        byte[] inner = whole[(14 + 20 + 8)..];
        byte[] cut = inner[..(14 + 20 + 8 + 20 + 8 + 14 + 10)]; // the quote stops inside the inner IPv4 header
        BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(14 + 2), (ushort)(cut.Length - 14));
        FixIpv4Checksum(cut.AsSpan(14));
        byte[] frame = Concat(Eth(Hv1Mac, Hv2Mac, 0x0800), Ipv4Of(Hv2, Hv1, 47, NvgreOf(5001, 0, cut)));
        Assert.That(host.Send("pnic0", frame, T0), Is.Empty);
        Assert.That(host.Counters.RedirectsIgnored, Is.EqualTo(1));

        Assert.That(host.Send("pnic0", RedirectForRed9(Hv2, Hv2Mac, "0.0.0.0", type: 3, code: 10), T0 + 1), Is.Empty);
        Assert.That(host.Counters.UnreachablesReceived, Is.EqualTo(1));
        Assert.That(host.Harness.Forwarder.Counters.TotalDrops, Is.Zero);
    }

    [Test]
    public void A_moved_record_whose_new_pa_is_of_the_other_family_is_dropped_and_the_redirect_counted_as_not_carried()
    {
        var host = new Host(Config());
        host.Replace(Config(red1: Hv3V6), T0);
        Assert.That(host.Send("pnic0", FromRed2("10.1.1.7"), T0 + 1), Is.Empty);
        Assert.That(host.Drops(DropReason.NoProviderRoute), Is.EqualTo(1));
        Assert.That(host.Counters.RedirectsNotCarried, Is.EqualTo(1));
    }

    [Test]
    public void Tshark_decodes_the_redirect_and_the_unreachable_with_good_checksums_and_the_quoted_flow()
    {
        Assume.That(File.Exists("/usr/bin/tshark"), "tshark is installed by .ci/setup-deps");
        var host = MovedHost();
        var frames = host.Send("pnic0", FromRed2("10.1.1.7"), T0 + Second).Select(o => o.Frame).Take(1)
            .Concat(host.Send("pnic0", FromRed6(), T0 + Second).Select(o => o.Frame).Take(1))
            .Concat(host.Send("pnic0", FromRed2("10.1.1.200"), T0 + Second).Select(o => o.Frame))
            .ToList();
        using var temp = new TempDir();
        string pcap = Path.Combine(temp.Path, "messages.pcap");
        using (var writer = PcapWriter.Create(pcap))
        {
            foreach (var f in frames)
            {
                writer.Write(T0, f);
            }
        }

        string fields = TsharkCheckTests.RunTshark(pcap, "-T", "fields", "-E", "separator=|", "-e", "gre.key", "-e", "icmp.type", "-e", "icmp.code",
            "-e", "icmp.redir_gw", "-e", "icmp.checksum.status", "-e", "icmpv6.type", "-e", "icmpv6.code", "-e", "icmpv6.nd.rd.target_address", "-e", "icmpv6.checksum.status", "-e", "ip.dst", "-e", "udp.dstport", "-e", "_ws.expert.message");
        var rows = fields.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|')).ToList();
        Assert.That(rows, Has.Count.EqualTo(3), fields);
        Assert.That(rows.Select(r => Convert.ToUInt32(r[0].Split(',')[0], 16)), Is.All.EqualTo(5001u << 8), "VSID 5001, FlowID 0");
        Assert.That(rows[0][1..5], Is.EqualTo(new[] { "5", "10", Hv3, "1" }), "ICMP redirect, code 10, gateway = new PA, checksum good");
        Assert.That(rows[0][9].Split(','), Is.EqualTo(new[] { Hv2, Hv2, Hv1 }), "outer and message to hv2; the quoted datagram decodes as the offending packet to hv1");
        Assert.That(rows[0][0].Split(',').Select(k => Convert.ToUInt32(k, 16)), Is.EqualTo(new[] { 5001u << 8, (5001u << 8) | 0x5A }), "and its GRE key as sent");
        Assert.That(rows[1][5..9], Is.EqualTo(new[] { "137", "1", Hv3V6, "1" }), "ICMPv6 redirect, code 1, target = new PA, checksum good");
        Assert.That(rows[2][1..3], Is.EqualTo(new[] { "3", "10" }), "destination unreachable, administratively prohibited");
        Assert.That(rows.Select(r => r[11]), Has.None.Contains("Malformed"));
    }

    [Test]
    public void Scapy_reads_the_ipv6_redirect_and_unreachable_as_its_own_icmpv6_layers()
    {
        Assume.That(File.Exists("/usr/bin/python3") && TestProcess.Run("/usr/bin/python3", ["-c", "import scapy"], TimeSpan.FromSeconds(60)).Exit == 0, "python3-scapy");
        var host = MovedHost();
        byte[] redirect = host.Send("pnic0", FromRed6(), T0 + Second)[0].Frame;
        var moved = new Host(Config());
        byte[] toNobody = FromRed6();
        toNobody[14 + 40 + 8 + 14 + 16 + 3] = 200; // Red-6 -> 10.1.1.200 (no record); the inner IPv4 checksum fixed below
        FixIpv4Checksum(toNobody.AsSpan(14 + 40 + 8 + 14));
        byte[] unreachable = moved.Send("pnic0", toNobody, T0).Single().Frame;
        const string script = """
            import sys
            from scapy.all import Ether, IPv6, GRE, ICMPv6ND_Redirect, ICMPv6NDOptRedirectedHdr, ICMPv6DestUnreach, IP, UDP
            for h in sys.argv[1:]:
                f = Ether(bytes.fromhex(h))
                inner = f[GRE].payload
                ip6 = inner[IPv6]
                chk = ip6.payload.cksum
                del ip6.payload.cksum
                good = IPv6(bytes(ip6))[1].cksum == chk
                if ICMPv6ND_Redirect in inner:
                    r = inner[ICMPv6ND_Redirect]
                    q = IPv6(bytes(r[ICMPv6NDOptRedirectedHdr].pkt))
                    print('redirect', r.code, r.tgt, r.dst, ip6.hlim, good, q[GRE].key >> 8, q[GRE].payload[IP].dst, q[UDP].dport)
                else:
                    u = inner[ICMPv6DestUnreach]
                    q = IPv6(bytes(u.payload))
                    print('unreachable', u.code, ip6.hlim, good, q[GRE].key >> 8, q[GRE].payload[IP].dst)
            """;
        var (exit, output, error) = TestProcess.Run("/usr/bin/python3", ["-c", script, Convert.ToHexString(redirect), Convert.ToHexString(unreachable)], TimeSpan.FromSeconds(60));
        Assert.That(exit, Is.Zero, error);
        Assert.That(output.Trim().Split('\n'), Is.EqualTo(new[]
        {
            $"redirect 1 {Hv3V6} ::ffff:10.1.1.4 255 True 5001 10.1.1.4 6000",
            "unreachable 1 128 True 5001 10.1.1.200",
        }));
    }

    [Test]
    public void Replay_applies_reloads_at_their_time_and_rejects_one_that_changes_the_ports()
    {
        using var temp = new TempDir();
        string pcap = Path.Combine(temp.Path, "in.pcap");
        using (var writer = PcapWriter.Create(pcap))
        {
            writer.Write(T0, FromRed2("10.1.1.7", 5000));
            writer.Write(T0 + (2 * Second), FromRed2("10.1.1.7", 5001));
        }

        var summary = ReplayRunner.RunAsync(Config(), [new ReplayInput("pnic0", pcap)], Path.Combine(temp.Path, "out"), [new ReplayReload(T0 + Second, Config(red1: Hv3), "moved")]).GetAwaiter().GetResult();
        Assert.That((summary.Ports["red1"].Tx, summary.Ports["pnic0"].Tx), Is.EqualTo((1L, 2L)), "delivered before the reload, relayed (and a REDIRECT) after");
        Assert.That(summary.Migration["relayed"], Is.EqualTo(1));

        var other = Config() with { Ports = Config().Ports.Take(3).ToList() };
        Assert.That(() => ReplayRunner.RunAsync(Config(), [new ReplayInput("pnic0", pcap)], Path.Combine(temp.Path, "out2"), [new ReplayReload(T0, other, "other.json")]).GetAwaiter().GetResult(),
            Throws.TypeOf<ReplayUsageException>().With.Message.Contains("--reload other.json: the ports differ"));
    }

    [Test]
    public void Migration_counters_have_distinct_operator_names_and_every_one_can_move()
    {
        var c = new MigrationCounters();
        var names = c.All().Select(m => m.Name).ToList();
        Assert.That(names, Is.Unique);
        Assert.That(names, Is.All.Matches<string>(n => n.All(ch => ch is (>= 'a' and <= 'z') or '_')), "snake_case");
        Assert.That(names, Is.EquivalentTo(new[]
        {
            "relayed", "relays_refused", "redirects_sent", "redirects_not_carried", "redirects_received", "redirects_applied", "redirects_ignored",
            "redirects_untrusted", "unreachables_sent", "unreachables_received", "rate_limited", "messages_lost",
        }));
        foreach (var p in typeof(MigrationCounters).GetProperties())
        {
            p.SetValue(c, 7L);
        }

        Assert.That(c.All().Select(m => m.Value), Is.All.EqualTo(7L), "every property is one of the named counters");
    }
}
