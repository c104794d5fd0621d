using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using NvDataplane.Cli.Control;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Cli;

/// <summary>What <c>nvdp bench --churn</c> measured.</summary>
internal sealed record PolicyChurnResult(
    int Records,
    int WindowPairs,
    double BaselineMpps,
    double ChurnMpps,
    double ThroughputDropPercent,
    double PairDropMinPercent,
    double PairDropMedianPercent,
    double PairDropMaxPercent,
    double ChangesPerSecond,
    long Changes,
    long Versions,
    long FastVersions,
    long RefusedRequests,
    double VisibleP50Us,
    double VisibleP99Us,
    double VisibleMaxUs,
    double GcPauseMs,
    string GcCollections,
    double AllocatedBytesPerChange);

/// <summary>
/// Lookup-record changes through the control API while the pipeline forwards: the forwarding
/// loop of <see cref="ThroughputRunner"/> on one thread (in-memory ports, the encap scenario),
/// a control server on a temporary Unix socket over the same policy store, and a client that
/// posts batches of <c>set providerAddress</c> changes to <c>/v1/changes</c> as fast as the
/// server takes them (or at a given rate).
/// </summary>
/// <remarks>
/// On a virtual machine two runs of the same forwarding loop a few seconds apart differ by
/// ±10%, more than the effect measured; so forwarding runs throughout and the changes are
/// switched on and off in alternate one-second windows, after a warm-up with changes on (the
/// code of the change path reaches its optimised tier, as in a daemon that has run a while).
/// Forwarding with changes is the mean of the "on" windows, forwarding alone that of the "off"
/// windows, leaving out each off window's first 200 ms, while requests of the on window may
/// still be finishing. For each applied version the time from the API call returning to the
/// forwarding thread's first batch on that version (or later) is the visibility delay.
/// </remarks>
internal static class PolicyChurnBench
{
    private const double WarmupSeconds = 3;
    private const double WindowSeconds = 1;
    private const int BinsPerWindow = 10;
    private const int SettleBins = 2;

    public static async Task<PolicyChurnResult> RunAsync(int records, double seconds, int batch, int inflight, double rate)
    {
        // As a poll-mode daemon would be run: the forwarding thread has the last CPU to itself,
        // everything else (server, editor, client; threads inherit this one's mask) the others.
        int last = Environment.ProcessorCount - 1;
        bool pinned = last > 0 && CpuAffinity.PinCurrentThread(Enumerable.Range(0, last));
        var traffic = new SyntheticTraffic(TrafficScenario.Encap, records, 64);
        string document = ConfigWriter.Write(traffic.Config with { Control = ControlConfig.Default });
        var store = new PolicyStore(PolicySnapshot.Build(traffic.Config));
        using var editor = PolicyEditor.FromText(store, document);
        string socket = Path.Combine(Path.GetTempPath(), $"nvdp-churn-{Environment.ProcessId}.sock");
        var stats = new DataplaneStats(editor, [], [.. traffic.Config.Ports.Select(p => new NoDevice(p.Name))], CpuClock.Unknown);
        var log = new EventLog(TextWriter.Null, json: false);
        if (!ControlEndpoint.TryParse("unix:" + socket, out var listen, out string why))
        {
            throw new IOException(why);
        }

        await using var server = await ControlServer.StartAsync(ControlConfig.Default with { Listen = listen }, null, editor, stats, log);
        var (client, error) = ControlClient.Create("unix:" + socket, null);
        if (client is null)
        {
            throw new IOException(error);
        }

        int pairs = Math.Max(1, (int)Math.Ceiling(seconds / WindowSeconds / 2));
        var clock = new Schedule(Stopwatch.GetTimestamp(), pairs);
        var seenAt = new long[1 << 20];
        var returnedAt = new long[1 << 20];
        using var stop = new CancellationTokenSource();
        var clientTask = Task.Run(() => ChangeLoopAsync(client, records, batch, inflight, rate, clock, returnedAt, stop.Token));
        var forwarding = Task.Factory.StartNew(
            () => Forward(traffic, store, clock, pinned ? last : -1, seenAt),
            TaskCreationOptions.LongRunning);

        // The collector's figures from the end of the warm-up.
        await Task.Delay(clock.MeasureStartDelay);
        long gc0 = (long)GC.GetTotalPauseDuration().TotalMilliseconds;
        int[] collections0 = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        long versions0 = editor.Commits;
        long fast0 = editor.FastCommits;
        long version0 = store.Current.Version;
        long allocated0 = GC.GetTotalAllocatedBytes();
        long applied0 = editor.ChangesApplied;
        await forwarding;
        double allocatedPerChange = (double)(GC.GetTotalAllocatedBytes() - allocated0) / Math.Max(1, editor.ChangesApplied - applied0);
        long gcPause = (long)GC.GetTotalPauseDuration().TotalMilliseconds - gc0;
        string collections = string.Join(" / ", Enumerable.Range(0, 3).Select(g => GC.CollectionCount(g) - collections0[g]));
        long versions = editor.Commits - versions0;
        long fastVersions = editor.FastCommits - fast0;
        stop.Cancel();
        long refused = await clientTask;

        // A version is visible once the forwarding thread runs on it or on any later one (group
        // commit publishes several requests as one version, and the thread may skip versions).
        var delays = new List<double>();
        long firstSeenFromHere = 0;
        for (int v = returnedAt.Length - 1; v > version0; v--)
        {
            if (seenAt[v] != 0)
            {
                firstSeenFromHere = seenAt[v];
            }

            if (returnedAt[v] != 0 && firstSeenFromHere != 0)
            {
                delays.Add(Math.Max(0, firstSeenFromHere - returnedAt[v]) * 1e6 / Stopwatch.Frequency);
            }
        }

        delays.Sort();
        double Percentile(double p) => delays.Count == 0 ? double.NaN : delays[Math.Min(delays.Count - 1, (int)(p * delays.Count))];

        // Mpps of each window (off windows without their settling bins), then the pairs.
        double binSeconds = WindowSeconds / BinsPerWindow;
        double WindowMpps(int w, int skip) =>
            Enumerable.Range(skip, BinsPerWindow - skip).Sum(b => clock.Packets[(w * BinsPerWindow) + b]) / ((BinsPerWindow - skip) * binSeconds) / 1e6;
        var off = Enumerable.Range(0, pairs).Select(p => WindowMpps(2 * p, SettleBins)).ToArray();
        var on = Enumerable.Range(0, pairs).Select(p => WindowMpps((2 * p) + 1, 0)).ToArray();
        var pairDrops = off.Zip(on, (a, b) => (a - b) / a * 100).Order().ToArray();
        double baseline = off.Average();
        double churn = on.Average();
        long changes = Enumerable.Range(0, pairs).Sum(p => clock.ChangesInWindow((2 * p) + 1));
        return new PolicyChurnResult(
            records,
            pairs,
            baseline,
            churn,
            (baseline - churn) / baseline * 100,
            pairDrops[0],
            pairDrops[pairDrops.Length / 2],
            pairDrops[^1],
            changes / (pairs * WindowSeconds),
            changes,
            versions,
            fastVersions,
            refused,
            Percentile(0.5),
            Percentile(0.99),
            delays.Count == 0 ? double.NaN : delays[^1],
            gcPause,
            collections,
            allocatedPerChange);
    }

    /// <summary>
    /// The timeline both threads follow: the warm-up (changes on), then pairs of windows, changes
    /// off in the first and on in the second; packets forwarded and changes applied per bin.
    /// </summary>
    private sealed class Schedule(long start, int pairs)
    {
        private readonly long _measureStart = start + (long)(WarmupSeconds * Stopwatch.Frequency);
        private readonly long _binTicks = (long)(WindowSeconds / BinsPerWindow * Stopwatch.Frequency);

        public long[] Packets { get; } = new long[pairs * 2 * BinsPerWindow];

        private long[] Changes { get; } = new long[pairs * 2 * BinsPerWindow];

        public long End => _measureStart + (Packets.Length * _binTicks);

        public TimeSpan MeasureStartDelay => TimeSpan.FromSeconds(Math.Max(0, (double)(_measureStart - Stopwatch.GetTimestamp()) / Stopwatch.Frequency));

        /// <summary>The bin of <paramref name="now"/>: -1 in the warm-up, Packets.Length after the end.</summary>
        public int Bin(long now) => now < _measureStart ? -1 : (int)Math.Min(Packets.Length, (now - _measureStart) / _binTicks);

        /// <summary>Whether the client sends now: throughout the warm-up, then in the second window of each pair.</summary>
        public bool ChangesOn(long now)
        {
            int bin = Bin(now);
            return bin < 0 || (bin < Packets.Length && (bin / BinsPerWindow) % 2 == 1);
        }

        public void CountChanges(long now, long n)
        {
            int bin = Bin(now);
            if (bin >= 0 && bin < Changes.Length)
            {
                Interlocked.Add(ref Changes[bin], n);
            }
        }

        public long ChangesInWindow(int w) => Changes.Skip(w * BinsPerWindow).Take(BinsPerWindow).Sum();
    }

    /// <summary>Forwards until the schedule ends, counting packets per bin and noting when each policy version was first used.</summary>
    private static void Forward(SyntheticTraffic traffic, PolicyStore store, Schedule clock, int cpu, long[] seen)
    {
        if (cpu >= 0 && !CpuAffinity.PinCurrentThread([cpu]))
        {
            throw new IOException($"cannot pin the forwarding thread to CPU {cpu}");
        }

        // Every other thread (the runtime's tiered compilation worker among them, which is made
        // afresh when it has work and may come from this thread) stays off this CPU, as isolcpus
        // and a worker core mask would keep them on a host.
        using var keepOff = cpu >= 0 ? CpuAffinity.KeepOtherThreadsOn(Enumerable.Range(0, cpu), TimeSpan.FromMilliseconds(100)) : null;

        double total = (double)(clock.End - Stopwatch.GetTimestamp()) / Stopwatch.Frequency;
        ThroughputRunner.Run(traffic, total, 0, store, version =>
        {
            long now = Stopwatch.GetTimestamp();
            int bin = clock.Bin(now);
            if (bin >= 0 && bin < clock.Packets.Length)
            {
                clock.Packets[bin] += ThroughputRunner.BatchSize;
            }

            if (version < seen.Length && seen[version] == 0)
            {
                seen[version] = now;
            }
        });
    }

    /// <summary>Posts batches of PA changes while the schedule has changes on, until stopped; returns the requests refused.</summary>
    private static async Task<long> ChangeLoopAsync(ControlClient client, int records, int batch, int inflight, double rate, Schedule clock, long[] returnedAt, CancellationToken stop)
    {
        // The request bodies are made beforehand and sent in turn: the client stands for another
        // process, so what it would allocate making them is not counted against the daemon.
        var rng = new Random(11);
        var bodies = new byte[16][];
        for (int k = 0; k < bodies.Length; k++)
        {
            var text = new StringBuilder(batch * 150).Append("{\"changes\":[");
            for (int i = 0; i < batch; i++)
            {
                int r = rng.Next(records);
                var pa = SyntheticTraffic.RemotePa(TrafficScenario.Encap, rng.Next(4096));
                text.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture,
                    $"{{\"op\":\"set\",\"section\":\"lookupRecords\",\"match\":{{\"virtualSubnetId\":{SyntheticTraffic.Vsid},\"customerAddress\":\"{SyntheticTraffic.RemoteCa(r)}\"}},\"fields\":{{\"providerAddress\":\"{pa}\"}}}}");
            }

            bodies[k] = Encoding.UTF8.GetBytes(text.Append("]}").ToString());
        }

        int next = 0;
        long refused = 0;
        long started = Stopwatch.GetTimestamp();
        double sent = 0;
        var pending = new List<Task>();
        while (!stop.IsCancellationRequested)
        {
            long now = Stopwatch.GetTimestamp();
            if (!clock.ChangesOn(now))
            {
                // Off: let what is in flight finish, and restart the pacing when on again.
                await Task.WhenAll(pending);
                pending.Clear();
                await Task.Delay(1, CancellationToken.None);
                started = Stopwatch.GetTimestamp();
                sent = 0;
                continue;
            }

            if (rate > 0)
            {
                // Pace to the rate: the changes sent so far may not run ahead of the clock.
                double due = sent / rate;
                double elapsed = (double)(now - started) / Stopwatch.Frequency;
                if (due > elapsed)
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(due - elapsed, 0.01)), CancellationToken.None);
                    continue;
                }
            }

            var body = bodies[next++ % bodies.Length];
            sent += batch;
            pending.Add(PostAsync(body));
            if (pending.Count >= inflight)
            {
                var done = await Task.WhenAny(pending);
                pending.Remove(done);
            }
        }

        await Task.WhenAll(pending);
        return refused;

        async Task PostAsync(byte[] json)
        {
            using var content = new ByteArrayContent(json);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await client.Http.PostAsync("/v1/changes", content, CancellationToken.None);
            long now = Stopwatch.GetTimestamp();
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref refused);
                return;
            }

            clock.CountChanges(now, batch);
            using var answer = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(CancellationToken.None));
            if (answer.RootElement.TryGetProperty("version", out var v) && v.TryGetInt64(out long version) && version < returnedAt.Length)
            {
                returnedAt[version] = now;
            }
        }
    }

    /// <summary>The stats endpoint wants a device per port; the benchmark's frames never touch one.</summary>
    private sealed class NoDevice(string name) : IPacketPort
    {
        public string Name => name;

        public int Receive(Span<PacketBuffer> into, BufferPool pool) => 0;

        public int Transmit(ReadOnlySpan<PacketBuffer> frames) => frames.Length;

        public bool WaitReadable(int timeoutMs) => false;

        public void Dispose()
        {
        }
    }
}
