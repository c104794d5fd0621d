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
    double BaselineMpps,
    double ChurnMpps,
    double ThroughputDropPercent,
    double ChangesPerSecond,
    long Changes,
    long Versions,
    long RefusedRequests,
    double VisibleP50Us,
    double VisibleP99Us,
    double VisibleMaxUs,
    double GcPauseMs,
    string GcCollections);

/// <summary>
/// Lookup-record changes through the control API while the pipeline forwards: the forwarding
/// loop of <see cref="ThroughputRunner"/> on one thread (in-memory ports, the encap scenario),
/// a control server on a temporary Unix socket over the same policy store, and a client that
/// posts batches of <c>set providerAddress</c> changes to <c>/v1/changes</c> as fast as the
/// server takes them (or at a given rate). Forwarding is measured alone first, then under the
/// changes; for each applied version the time from the API call returning to the forwarding
/// thread's first batch on that version (or later) is the visibility delay.
/// </summary>
internal static class PolicyChurnBench
{
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

        // Forwarding alone, then forwarding while the client changes records.
        double baseline = Forward(traffic, store, seconds, pinned ? last : -1, seen: null);
        var seenAt = new long[1 << 20];
        var returnedAt = new long[1 << 20];
        using var stop = new CancellationTokenSource();
        long gc0 = (long)GC.GetTotalPauseDuration().TotalMilliseconds;
        int[] collections0 = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        long changes0 = editor.ChangesApplied;
        long versions0 = editor.Commits;
        var clientTask = Task.Run(() => ChangeLoopAsync(client, traffic, records, batch, inflight, rate, returnedAt, stop.Token));
        var sw = Stopwatch.StartNew();
        double churn = Forward(traffic, store, seconds, pinned ? last : -1, seenAt);
        double elapsed = sw.Elapsed.TotalSeconds;
        long changes = editor.ChangesApplied - changes0;
        long versions = editor.Commits - versions0;
        long gcPause = (long)GC.GetTotalPauseDuration().TotalMilliseconds - gc0;
        string collections = string.Join(" / ", Enumerable.Range(0, 3).Select(g => GC.CollectionCount(g) - collections0[g]));
        stop.Cancel();
        long refused = await clientTask;

        // A version is visible once the forwarding thread runs on it or on any later one (group
        // commit publishes several requests as one version, and the thread may skip versions).
        var delays = new List<double>();
        long firstSeenFromHere = 0;
        for (int v = returnedAt.Length - 1; v >= 0; v--)
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
        return new PolicyChurnResult(
            records,
            baseline,
            churn,
            (baseline - churn) / baseline * 100,
            changes / elapsed,
            changes,
            versions,
            refused,
            Percentile(0.5),
            Percentile(0.99),
            delays.Count == 0 ? double.NaN : delays[^1],
            gcPause,
            collections);
    }

    /// <summary>Forwards for <paramref name="seconds"/> (after a 1 s warm-up) and returns Mpps; notes when each policy version was first used.</summary>
    private static double Forward(SyntheticTraffic traffic, PolicyStore store, double seconds, int cpu, long[]? seen)
    {
        var result = Task.Factory.StartNew(
            () => (cpu < 0 || CpuAffinity.PinCurrentThread([cpu])) ? ThroughputRunner.Run(traffic, seconds, 1.0, store, seen is null ? null : version =>
            {
                if (version < seen.Length && seen[version] == 0)
                {
                    seen[version] = Stopwatch.GetTimestamp();
                }
            }) : throw new IOException($"cannot pin the forwarding thread to CPU {cpu}"),
            TaskCreationOptions.LongRunning).GetAwaiter().GetResult();
        return result.Mpps;
    }

    /// <summary>Posts batches of PA changes until stopped; returns the requests refused.</summary>
    private static async Task<long> ChangeLoopAsync(ControlClient client, SyntheticTraffic traffic, int records, int batch, int inflight, double rate, long[] returnedAt, CancellationToken stop)
    {
        var rng = new Random(11);
        long refused = 0;
        long started = Stopwatch.GetTimestamp();
        long sent = 0;
        var pending = new List<Task>();
        while (!stop.IsCancellationRequested)
        {
            if (rate > 0)
            {
                // Pace to the rate: the changes sent so far may not run ahead of the clock.
                double due = sent / rate;
                double now = (double)(Stopwatch.GetTimestamp() - started) / Stopwatch.Frequency;
                if (due > now)
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(due - now, 0.05)), CancellationToken.None);
                    continue;
                }
            }

            var body = new StringBuilder(batch * 150).Append("{\"changes\":[");
            for (int i = 0; i < batch; i++)
            {
                int r = rng.Next(records);
                var pa = SyntheticTraffic.RemotePa(TrafficScenario.Encap, rng.Next(4096));
                body.Append(i == 0 ? "" : ",").Append(CultureInfo.InvariantCulture,
                    $"{{\"op\":\"set\",\"section\":\"lookupRecords\",\"match\":{{\"virtualSubnetId\":{SyntheticTraffic.Vsid},\"customerAddress\":\"{SyntheticTraffic.RemoteCa(r)}\"}},\"fields\":{{\"providerAddress\":\"{pa}\"}}}}");
            }

            body.Append("]}");
            sent += batch;
            pending.Add(PostAsync(body.ToString()));
            if (pending.Count >= inflight)
            {
                var done = await Task.WhenAny(pending);
                pending.Remove(done);
            }
        }

        await Task.WhenAll(pending);
        return refused;

        async Task PostAsync(string json)
        {
            using var content = new StringContent(json, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await client.Http.PostAsync("/v1/changes", content, CancellationToken.None);
            long now = Stopwatch.GetTimestamp();
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref refused);
                return;
            }

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
