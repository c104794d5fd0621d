using System.Buffers.Binary;
using System.Collections.Concurrent;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// Lock-free policy reads (STYLE: "writers publish a new version atomically"): workers forwarding
/// over one <see cref="PolicyStore"/> while a writer keeps publishing two policies that disagree
/// about one destination never emit a frame that mixes the two.
/// </summary>
public class ConcurrencyTests
{
    private const string RedMac = "00-15-5D-00-00-01";
    private const string GatewayMac = "00-15-5D-FF-FF-FF";
    private const int Publishes = 2_000;
    private const int BatchSize = 8;

    private sealed record Version(string Name, byte[] RecordMac, byte[] Pa, byte[] NextHopMac);

    private static readonly Version A = new("A", Mac("00-15-5D-00-00-0A"), Addr("192.168.1.11"), Mac("02-00-00-00-AA-AA"));
    private static readonly Version B = new("B", Mac("00-15-5D-00-00-0B"), Addr("192.168.1.12"), Mac("02-00-00-00-BB-BB"));

    private static HostConfig Config(Version v)
    {
        var pa = IpAddr.ReadV4(v.Pa);
        var localPa = IpAddr.Parse("192.168.1.10");
        return new HostConfig(
            "hv1",
            GlobalSettings.Default,
            [
                new PortConfig("pnic0", PortRole.Provider, null, MacAddress.Parse("02-00-00-00-01-0A"), 1500, null, null),
                new PortConfig("red1", PortRole.Vm, null, MacAddress.Parse(RedMac), 1500, 5001, "Red-1"),
            ],
            [new ProviderAddressConfig(localPa, 24, 0, "pnic0")],
            [],
            [new ProviderNeighborConfig(pa, MacAddress.Read(v.NextHopMac))],
            [
                new LookupRecordConfig(IpAddr.Parse("10.1.1.7"), 5001, MacAddress.Parse(RedMac), localPa, TranslationRule.Encap, RecordType.Static),
                new LookupRecordConfig(IpAddr.Parse("10.1.1.8"), 5001, MacAddress.Read(v.RecordMac), pa, TranslationRule.Encap, RecordType.Static),
            ],
            [new CustomerRouteConfig(Guid.Parse("11111111-2222-3333-4444-000000000000"), 5001, IpPrefix.Parse("10.1.1.0/24"), IpAddr.Any4, 255)]);
    }

    /// <summary>Which version an emitted frame belongs to: outer Ethernet dst, outer dst PA and inner dst MAC all from one.</summary>
    private static Version? Classify(ReadOnlySpan<byte> f)
    {
        foreach (var v in new[] { A, B })
        {
            if (f[..6].SequenceEqual(v.NextHopMac) && f.Slice(14 + 16, 4).SequenceEqual(v.Pa) && f.Slice(14 + 20 + 8, 6).SequenceEqual(v.RecordMac))
            {
                return v;
            }
        }

        return null;
    }

    [Test]
    public void Readers_see_one_whole_policy_version_while_a_writer_publishes()
    {
        HostConfig configA = Config(A);
        HostConfig configB = Config(B);
        var store = new PolicyStore(PolicySnapshot.Build(configA));

        // Routed (sent to the gateway MAC), so the inner destination MAC is rewritten to the record's MAC.
        byte[] frame = Concat(Eth(GatewayMac, RedMac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(1000, 2000, new byte[32])));

        int readers = Environment.ProcessorCount + 1;
        long seenA = 0, seenB = 0, batches = 0;
        var problems = new ConcurrentQueue<string>();
        bool writerDone = false;
        using var start = new Barrier(readers + 1);

        void Reader()
        {
            try
            {
                var fwd = new Forwarder(store, new BufferPool(BatchSize * 2));
                int red1 = fwd.Policy.FindPort("red1");
                int pnic = fwd.Policy.FindPort("pnic0");
                long a = 0, b = 0;
                start.SignalAndWait();
                bool last = false;
                while (!last)
                {
                    last = Volatile.Read(ref writerDone);
                    fwd.BeginBatch();
                    for (int i = 0; i < BatchSize; i++)
                    {
                        var buffer = fwd.Pool.Rent()!;
                        buffer.TrySet(frame);
                        fwd.Process(red1, buffer);
                    }

                    var sent = fwd.PendingTransmit(pnic);
                    if (sent.Length != BatchSize || fwd.Counters.TotalDrops != 0)
                    {
                        problems.Enqueue($"{sent.Length} of {BatchSize} frames sent, {fwd.Counters.TotalDrops} drops");
                    }

                    Version? batchVersion = null;
                    foreach (var s in sent)
                    {
                        var v = Classify(s.Frame);
                        if (v is null)
                        {
                            problems.Enqueue("mixed frame: " + Convert.ToHexString(s.Frame[..48]));
                        }
                        else if (batchVersion is not null && v != batchVersion)
                        {
                            problems.Enqueue("one batch saw two policy versions");
                        }

                        batchVersion = v;
                        if (v == A)
                        {
                            a++;
                        }
                        else if (v == B)
                        {
                            b++;
                        }
                    }

                    for (int p = 0; p < fwd.PortCount; p++)
                    {
                        fwd.CompleteTransmit(p);
                    }

                    Interlocked.Increment(ref batches);
                    if (!problems.IsEmpty)
                    {
                        break;
                    }

                    // More readers than cores: give the writer its turn now and then.
                    Thread.Yield();
                }

                Interlocked.Add(ref seenA, a);
                Interlocked.Add(ref seenB, b);
            }
            catch (Exception e)
            {
                problems.Enqueue(e.ToString());
            }
        }

        void Writer()
        {
            try
            {
                start.SignalAndWait();
                for (int i = 0; i < Publishes && problems.IsEmpty; i++)
                {
                    store.Publish(PolicySnapshot.Build(i % 2 == 0 ? configB : configA, i + 2));
                    // Let the readers run at least one batch against this version before the next.
                    long mark = Interlocked.Read(ref batches);
                    var spin = new SpinWait();
                    while (Interlocked.Read(ref batches) == mark && problems.IsEmpty)
                    {
                        spin.SpinOnce(sleep1Threshold: -1);
                    }
                }
            }
            catch (Exception e)
            {
                problems.Enqueue(e.ToString());
            }
            finally
            {
                Volatile.Write(ref writerDone, true);
            }
        }

        var threads = Enumerable.Range(0, readers).Select(_ => new Thread(Reader) { IsBackground = true }).ToList();
        threads.Add(new Thread(Writer) { IsBackground = true });
        threads.ForEach(t => t.Start());
        foreach (var t in threads)
        {
            // A hang guard, not a timing assertion: the run takes well under a second.
            Assert.That(t.Join(TimeSpan.FromMinutes(2)), Is.True, "thread finished");
        }

        Assert.That(problems, Is.Empty);
        Assert.That(seenA, Is.GreaterThan(0), "frames forwarded under policy A");
        Assert.That(seenB, Is.GreaterThan(0), "frames forwarded under policy B");
    }

    [Test]
    public void Classify_tells_the_versions_apart_and_rejects_a_mix()
    {
        var h = new ForwarderHarness(Config(A));
        byte[] frame = Concat(Eth(GatewayMac, RedMac, 0x0800), Ipv4Of("10.1.1.7", "10.1.1.8", 17, UdpOf(1000, 2000, new byte[32])));
        byte[] outA = h.Send("red1", frame).Single().Frame;
        Assert.That(Classify(outA), Is.SameAs(A));
        var hb = new ForwarderHarness(Config(B));
        byte[] outB = hb.Send("red1", frame).Single().Frame;
        Assert.That(Classify(outB), Is.SameAs(B));
        var mixed = (byte[])outA.Clone();
        B.Pa.CopyTo(mixed, 14 + 16);
        Assert.That(Classify(mixed), Is.Null);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(outA.AsSpan(14 + 20 + 4)) >> 8, Is.EqualTo(5001));
    }
}
