using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// A million random and mutated frames through both port kinds of the overlapping-tenants host
/// (Red VSID 5001 and Blue VSID 6001 both use CA 10.1.1.7 here and 10.1.1.8 remotely). Nothing
/// throws, every frame ends exactly one way, no buffer leaks, and tenants stay isolated.
/// </summary>
public class RandomFrameTests
{
    private const int FrameCount = 1_000_000;

    private const string RedMac = "00-15-5D-00-00-01";
    private const string Red2Mac = "00-15-5D-00-00-02";
    private const string BlueMac = "00-15-5D-00-01-01";
    private const string Blue2Mac = "00-15-5D-00-01-02";
    private const string PnicMac = "02-00-00-00-01-0A";
    private const string RouterMac = "02-00-00-00-01-0B";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";

    private sealed record Seed(string Port, byte[] Frame);

    private static List<Seed> Seeds()
    {
        var seeds = new List<Seed>();
        foreach (var (port, mac, peerMac) in new[] { ("red1", RedMac, Red2Mac), ("blue1", BlueMac, Blue2Mac) })
        {
            seeds.Add(new(port, Concat(Eth("FF-FF-FF-FF-FF-FF", mac, 0x0806), ArpOf(1, mac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.8"))));
            seeds.Add(new(port, Concat(Eth("FF-FF-FF-FF-FF-FF", mac, 0x0806), ArpOf(1, mac, "10.1.1.7", "00-00-00-00-00-00", "10.1.1.1"))));
            seeds.Add(new(port, Concat(Eth(peerMac, mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(1000, 2000, new byte[24])))));
            seeds.Add(new(port, Concat(Eth(peerMac, mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.9", 6, TcpOf(1000, 80, new byte[10])))));
            seeds.Add(new(port, Concat(Eth(GatewayMac, mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(53, 53, new byte[8]), ttl: 2))));
            seeds.Add(new(port, Concat(Eth(GatewayMac, mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.1", 1, IcmpEcho(8, 1, 1, new byte[16])))));
            seeds.Add(new(port, Concat(Eth(mac, mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.7", 17, UdpOf(7, 7, new byte[4])))));
            seeds.Add(new(port, Concat(Eth(peerMac, mac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, new byte[40], flagsFragment: 0x2000, options: Hex("94040000")))));
            seeds.Add(new(port, Concat(Eth(peerMac, mac, 0x86DD), Ipv6Of("fe80::7", "2001:db8::8", 0, Concat(Hex("3C00 0104 00000000 2C00 0104 00000000 1100 0000 12345678"), UdpOf(1, 2, new byte[6]))))));
            var ns = new byte[32];
            ns[0] = 135;
            Addr("fe80::8").CopyTo(ns, 8);
            seeds.Add(new(port, Concat(Eth("33-33-FF-00-00-08", mac, 0x86DD), Icmpv6Of("::", "ff02::1:ff00:8", ns, hopLimit: 255))));
        }

        foreach (var (vsid, dstMac) in new[] { (5001u, RedMac), (6001u, BlueMac) })
        {
            byte[] inner = Concat(Eth(dstMac, vsid == 5001 ? Red2Mac : Blue2Mac, 0x0800), Ipv4Of("10.1.1.8", "10.1.1.7", 17, UdpOf(1000, 2000, new byte[20])));
            seeds.Add(new("pnic0", Concat(Eth(PnicMac, RouterMac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(vsid, 0x11, inner)))));
            seeds.Add(new("pnic0", Concat(Eth(PnicMac, RouterMac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.10", 47, NvgreOf(vsid, 0x22, inner), flagsFragment: 0x2000))));
        }

        seeds.Add(new("pnic0", Concat(Eth("FF-FF-FF-FF-FF-FF", RouterMac, 0x0806), ArpOf(1, RouterMac, "192.168.1.11", "00-00-00-00-00-00", "192.168.1.10"))));
        seeds.Add(new("pnic0", Concat(Eth(PnicMac, RouterMac, 0x0800), Ipv4Of("192.168.1.11", "192.168.1.10", 1, IcmpEcho(8, 9, 9, new byte[12])))));
        seeds.Add(new("pnic0", Concat(Mac(PnicMac), Mac(RouterMac), Hex("8100 0000 0800"), Ipv4Of("192.168.1.11", "192.168.1.10", 1, IcmpEcho(8, 9, 9, new byte[12])))));
        return seeds;
    }

    /// <summary>Offsets of 16-bit length fields worth corrupting (outer/inner IPv4 total length, IPv6 payload length, UDP length).</summary>
    private static readonly int[] LengthFields = [16, 18, 38, 58, 14 + 20 + 4, 14 + 20 + 8 + 14 + 2, 14 + 20 + 8 + 14 + 20 + 4];

    private static int Mutate(Random rng, byte[] seed, byte[] buf, List<Seed> seeds)
    {
        int kind = rng.Next(12);
        if (kind == 0)
        {
            // Pure random bytes.
            int n = rng.Next(0, 160);
            rng.NextBytes(buf.AsSpan(0, n));
            return n;
        }

        int len = seed.Length;
        seed.CopyTo(buf, 0);
        if (kind == 1)
        {
            // A valid Ethernet header, random body.
            rng.NextBytes(buf.AsSpan(14, len - 14));
            return len;
        }

        if (kind == 2)
        {
            // The head of another seed glued to this one.
            var other = seeds[rng.Next(seeds.Count)].Frame;
            int cut = rng.Next(Math.Min(other.Length, len));
            other.AsSpan(0, cut).CopyTo(buf);
        }

        if (kind is >= 3 and <= 6 || kind == 10)
        {
            int flips = rng.Next(1, 5);
            for (int i = 0; i < flips; i++)
            {
                buf[rng.Next(len)] ^= (byte)rng.Next(1, 256);
            }
        }

        if (kind is 7 or 10)
        {
            int at = LengthFields[rng.Next(LengthFields.Length)];
            if (at + 2 <= len)
            {
                ushort old = BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(at));
                ushort value = rng.Next(3) switch { 0 => (ushort)rng.Next(0x10000), 1 => (ushort)(old + rng.Next(-8, 9)), _ => (ushort)rng.Next(0, 64) };
                BinaryPrimitives.WriteUInt16BigEndian(buf.AsSpan(at), value);
            }
        }

        if (kind == 8 && len >= 42)
        {
            // The tenant-crossing attempt: another VSID in the GRE key, or another tenant's MAC inside.
            uint vsid = rng.Next(3) switch { 0 => 5001u, 1 => 6001u, _ => (uint)rng.Next(1 << 24) };
            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(38), (vsid << 8) | (uint)rng.Next(256));
            if (len >= 48 && rng.Next(2) == 0)
            {
                Mac(rng.Next(2) == 0 ? RedMac : BlueMac).CopyTo(buf, 42);
            }
        }

        if (kind is 9 or 10 || rng.Next(4) == 0)
        {
            len = rng.Next(len + 1);
        }

        // Half the time make the IPv4 header checksums right again so the frame gets past them.
        if (rng.Next(2) == 0)
        {
            FixChecksumAt(buf, len, 14);
            FixChecksumAt(buf, len, 18);
            FixChecksumAt(buf, len, 14 + 20 + 8 + 14);
        }

        return len;
    }

    private static void FixChecksumAt(byte[] buf, int len, int l3)
    {
        if (len >= l3 + 20 && (buf[l3] >> 4) == 4)
        {
            int ihl = (buf[l3] & 0x0F) * 4;
            if (ihl >= 20 && l3 + ihl <= len)
            {
                FixIpv4Checksum(buf.AsSpan(l3, ihl));
            }
        }
    }

    /// <summary>
    /// A dropped NVGRE frame naming a CA without a VM here may make its genuine sender an
    /// UNREACHABLE (FORWARDING section 8): NVGRE on pnic0, same VSID, inner ICMP type 3 code 10.
    /// </summary>
    private static bool IsUnreachableAbout(ReadOnlySpan<byte> input, bool fromProvider, bool toProvider, DropReason reason, ReadOnlySpan<byte> sent)
    {
        if (!fromProvider || !toProvider || reason is not (DropReason.NoLookupRecord or DropReason.NoLocalPort)
            || GreVsid(sent) is not { } vsid || vsid != GreVsid(input) || sent.Length < 14 + 20 + 8 + 14 + 20 + 2)
        {
            return false;
        }

        int inner = 14 + ((sent[14] & 0x0F) * 4) + 8 + 14; // outer IPv4 (the config's PAs), GRE, inner Ethernet
        return sent[inner + 9] == 1 && sent[inner + ((sent[inner] & 0x0F) * 4)] == 3 && sent[inner + ((sent[inner] & 0x0F) * 4) + 1] == 10;
    }

    [Test]
    public void A_million_random_and_mutated_frames_keep_every_invariant()
    {
        var config = ConfigLoader.LoadFile(Path.Combine(TestPaths.Captures, "overlapping-tenants", "config.json")).Config!;
        var fwd = new Forwarder(new PolicyStore(PolicySnapshot.Build(config)), new BufferPool(64));
        var policy = fwd.Policy;
        int pnic = policy.FindPort("pnic0"), red1 = policy.FindPort("red1"), blue1 = policy.FindPort("blue1");
        string[] portNames = policy.Ports.Select(p => p.Name).ToArray();
        var seeds = Seeds();
        int[] seedPorts = seeds.Select(s => policy.FindPort(s.Port)).ToArray();
        var c = fwd.Counters;
        var rng = new Random(20240607);
        var buf = new byte[256];
        long[] dropsBefore = new long[DropReasons.Count];
        long deliveredToBlueFromProvider = 0, deliveredToRedFromProvider = 0, encapsulated = 0;
        int mtu = (int)DropReason.MtuExceeded;

        for (int n = 0; n < FrameCount; n++)
        {
            int s = rng.Next(seeds.Count);
            int len = Mutate(rng, seeds[s].Frame, buf, seeds);
            int port = rng.Next(10) == 0 ? rng.Next(3) : seedPorts[s];
            var input = buf.AsSpan(0, len);

            c.Drops.CopyTo(dropsBefore, 0);
            long outcomesBefore = c.Forwarded + c.Answered;
            var b = fwd.Pool.Rent()!;
            b.TrySet(input);
            fwd.BeginBatch();
            try
            {
                fwd.Process(port, b);
            }
            catch (Exception e)
            {
                Assert.Fail($"frame {n} on {portNames[port]} threw {e.GetType().Name}: {e.Message}\n{Convert.ToHexString(input)}");
            }

            long dropped = 0;
            int droppedAs = -1;
            for (int r = 0; r < dropsBefore.Length; r++)
            {
                long d = c.Drops[r] - dropsBefore[r];
                if (d != 0)
                {
                    dropped += d;
                    droppedAs = r;
                }
            }

            long outcomes = c.Forwarded + c.Answered - outcomesBefore + dropped;
            if (outcomes != 1)
            {
                Assert.Fail($"frame {n} on {portNames[port]}: {outcomes} outcomes\n{Convert.ToHexString(input)}");
            }

            uint? inputVsid = null;
            bool inputVsidRead = false;
            for (int p = 0; p < fwd.PortCount; p++)
            {
                foreach (var sent in fwd.PendingTransmit(p))
                {
                    if (dropped == 1 && droppedAs != mtu && !IsUnreachableAbout(input, port == pnic, p == pnic, (DropReason)droppedAs, sent.Frame))
                    {
                        Assert.Fail($"frame {n} on {portNames[port]} was dropped as {DropReasons.Name((DropReason)droppedAs)} but left on {portNames[p]}\n{Convert.ToHexString(input)}");
                    }

                    if (p == red1 || p == blue1)
                    {
                        uint tenant = p == red1 ? 5001u : 6001u;
                        if (port == pnic)
                        {
                            if (!inputVsidRead)
                            {
                                inputVsid = GreVsid(input);
                                inputVsidRead = true;
                            }

                            if (inputVsid != tenant)
                            {
                                Assert.Fail($"frame {n} from pnic0 with VSID {inputVsid?.ToString() ?? "none"} reached {portNames[p]}\n{Convert.ToHexString(input)}");
                            }

                            if (p == blue1)
                            {
                                deliveredToBlueFromProvider++;
                            }
                            else
                            {
                                deliveredToRedFromProvider++;
                            }
                        }
                        else if (port != p)
                        {
                            Assert.Fail($"frame {n} from {portNames[port]} reached {portNames[p]}\n{Convert.ToHexString(input)}");
                        }
                    }
                    else if (port != pnic)
                    {
                        uint tenant = port == red1 ? 5001u : 6001u;
                        uint? vsid = GreVsid(sent.Frame);
                        if (vsid != tenant)
                        {
                            Assert.Fail($"frame {n} from {portNames[port]} left on pnic0 with VSID {vsid?.ToString() ?? "none"}\n{Convert.ToHexString(input)}");
                        }

                        encapsulated++;
                    }
                }

                fwd.CompleteTransmit(p);
            }

            if (fwd.Pool.Available != fwd.Pool.Size)
            {
                Assert.Fail($"frame {n} on {portNames[port]}: {fwd.Pool.Size - fwd.Pool.Available} buffers not returned\n{Convert.ToHexString(input)}");
            }
        }

        TestContext.Out.WriteLine($"forwarded {c.Forwarded}, answered {c.Answered}, to blue1 from pnic0 {deliveredToBlueFromProvider}, to red1 from pnic0 {deliveredToRedFromProvider}, encapsulated {encapsulated}");
        TestContext.Out.WriteLine(string.Join(", ", DropReasons.All.Where(r => c.Drop(r) > 0).Select(r => $"{DropReasons.Name(r)} {c.Drop(r)}")));
        Assert.That(c.Forwarded + c.Answered + c.TotalDrops, Is.EqualTo(FrameCount), "forwarded + answered + dropped");
        Assert.That(c.TotalRx, Is.EqualTo(FrameCount));

        // The corpus reaches deep into the pipeline, not just the first length check.
        Assert.That(deliveredToBlueFromProvider, Is.GreaterThan(1000), "decapsulated to blue1");
        Assert.That(deliveredToRedFromProvider, Is.GreaterThan(1000), "decapsulated to red1");
        Assert.That(encapsulated, Is.GreaterThan(1000), "encapsulated");
        Assert.That(c.Answered, Is.GreaterThan(1000), "answered");
        Assert.That(DropReasons.All.Count(r => c.Drop(r) > 0), Is.GreaterThanOrEqualTo(18), "distinct drop reasons hit");
    }
}
