using NvDataplane.Diagnostics;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Io;

/// <summary>One <c>--in PORT=FILE</c> of a replay.</summary>
public sealed record ReplayInput(string Port, string Path);

/// <summary>
/// One <c>--reload TIME=FILE</c> of a replay: <paramref name="Config"/> replaces the policy (as
/// SIGHUP would, through <see cref="PolicyStore.Replace"/>) before the first frame stamped at or
/// after <paramref name="AtNs"/>, and the policy's clock reads <paramref name="AtNs"/> then.
/// </summary>
public sealed record ReplayReload(long AtNs, HostConfig Config, string Source);

/// <summary>Per-port counts, drops by reason (non-zero only) and hits per ACL rule (every rule) of a replay.</summary>
public sealed record ReplaySummary(IReadOnlyDictionary<string, (long Rx, long Tx)> Ports, IReadOnlyDictionary<string, long> Drops)
{
    /// <summary>Hits per ACL rule label, every rule of the configuration (zeros too).</summary>
    public IReadOnlyDictionary<string, long> Acls { get; init; } = new Dictionary<string, long>();

    /// <summary>The Dynamic records learned from L2Only VMs' traffic, held at the end of the replay (docs/FORWARDING.md section 7).</summary>
    public IReadOnlyList<LearnedBinding> Learned { get; init; } = [];

    /// <summary>Live migration counters by name, every one in a fixed order (docs/FORWARDING.md section 8).</summary>
    public IReadOnlyDictionary<string, long> Migration { get; init; } = new Dictionary<string, long>();

    public static ReplaySummary From(PolicySnapshot policy, DataplaneCounters counters)
    {
        var ports = new SortedDictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (var p in policy.Ports)
        {
            ports[p.Name] = (counters.PortRx[p.Index], counters.PortTx[p.Index]);
        }

        var drops = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var reason in DropReasons.All)
        {
            long n = counters.Drop(reason);
            if (n != 0)
            {
                drops[DropReasons.Name(reason)] = n;
            }
        }

        return new ReplaySummary(ports, drops);
    }

    public static ReplaySummary From(PolicySnapshot policy, Forwarder forwarder) =>
        From(policy, forwarder.Counters) with
        {
            Acls = forwarder.AclCounters.Read().ToDictionary(StringComparer.Ordinal),
            Learned = forwarder.Learned.Snapshot(forwarder.Policy),
            Migration = forwarder.Counters.Migration.All().ToDictionary(m => m.Name, m => m.Value, StringComparer.Ordinal),
        };
}

/// <summary>
/// <c>nvdp replay</c>: the real pipeline over capture files. Inputs are merged by timestamp (ties:
/// the order of the inputs), each frame is processed to completion before the next, and what a
/// port emits goes to <c>DIR/PORT.pcap</c> with the triggering frame's timestamp (nanosecond pcap
/// when an input has sub-microsecond timestamps, microsecond pcap otherwise). Frames are
/// streamed, so captures larger than memory replay in bounded memory.
/// </summary>
public static class ReplayRunner
{
    /// <summary>Largest frame a replay accepts (the capture reader's own limit).</summary>
    private const int MaxFrame = 256 * 1024;

    /// <exception cref="ReplayUsageException">an input names a port the configuration does not have, or is one of the outputs.</exception>
    /// <exception cref="CaptureFormatException">an input is corrupt or truncated.</exception>
    public static Task<ReplaySummary> RunAsync(HostConfig config, IReadOnlyList<ReplayInput> inputs, string outDir, CancellationToken ct = default) =>
        RunAsync(config, inputs, outDir, [], ct);

    /// <exception cref="ReplayUsageException">an input names an unknown port or is one of the outputs, or a reload changes the ports; nothing was written.</exception>
    /// <exception cref="CaptureFormatException">an input is corrupt or truncated.</exception>
    public static async Task<ReplaySummary> RunAsync(HostConfig config, IReadOnlyList<ReplayInput> inputs, string outDir, IReadOnlyList<ReplayReload> reloads, CancellationToken ct = default)
    {
        var policy = PolicySnapshot.Build(config);
        foreach (var reload in reloads.Where(r => !SamePorts(config, r.Config)))
        {
            throw new ReplayUsageException($"--reload {reload.Source}: the ports differ from --config's; a reload cannot change ports (as with SIGHUP)");
        }

        var pending = reloads.OrderBy(r => r.AtNs).ToList();
        long clockNs = 0;
        int[] portOf = new int[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            portOf[i] = policy.FindPort(inputs[i].Port);
            if (portOf[i] < 0)
            {
                throw new ReplayUsageException($"--in {inputs[i].Port}={inputs[i].Path}: the configuration has no port named '{inputs[i].Port}'; ports are {string.Join(", ", policy.Ports.Select(p => p.Name))}");
            }
        }

        // An input that is one of the outputs would be truncated while it is read, or removed at
        // the end; compared as files, not names, as --out-dir may reach an input's folder through
        // a symbolic link, or an output name may be a link (hard or symbolic) to an input.
        var outputs = policy.Ports.Select(p => Path.GetFullPath(Path.Combine(outDir, p.Name + ".pcap"))).ToList();
        foreach (var input in inputs)
        {
            int clash = outputs.FindIndex(o => string.Equals(o, Path.GetFullPath(input.Path), StringComparison.Ordinal) || FileIdentity.Same(o, input.Path));
            if (clash >= 0)
            {
                throw new ReplayUsageException($"--in {input.Port}={input.Path}: that is where port {policy.Ports[clash].Name}'s output goes in --out-dir {outDir} (the same file, {outputs[clash]}); write the output to another folder");
            }
        }

        try
        {
            Directory.CreateDirectory(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--out-dir {outDir}: cannot create the folder: {e.Message}", e);
        }

        var store = new PolicyStore(policy, () => clockNs);
        var forwarder = new Forwarder(store, new BufferPool(64, MaxFrame));
        var writers = new PcapWriter?[policy.Ports.Length];
        var readers = new List<CaptureReader>();
        try
        {
            var heads = new CapturedFrame?[inputs.Count];
            for (int i = 0; i < inputs.Count; i++)
            {
                readers.Add(CaptureReader.Open(inputs[i].Path));
                heads[i] = await NextEthernetAsync(readers[i], inputs[i].Path, ct).ConfigureAwait(false);
            }

            // Outputs keep what the inputs carry: nanoseconds when any has finer than microsecond
            // timestamps, microseconds otherwise (as most pcap readers and older tools expect).
            // By now each input's header and the interfaces described ahead of its first packet
            // are known.
            bool nanoseconds = readers.Exists(r => r.SubMicrosecond);

            while (true)
            {
                int next = -1;
                for (int i = 0; i < heads.Length; i++)
                {
                    if (heads[i] is { } h && (next < 0 || h.TimestampNs < heads[next]!.TimestampNs))
                    {
                        next = i;
                    }
                }

                if (next < 0)
                {
                    break;
                }

                var frame = heads[next]!;
                while (pending.Count > 0 && pending[0].AtNs <= frame.TimestampNs)
                {
                    clockNs = pending[0].AtNs;
                    store.Replace(pending[0].Config);
                    pending.RemoveAt(0);
                }

                // As the daemon's worker does each round: what waited its second for a MAC is dropped.
                forwarder.ExpireParked(frame.TimestampNs);
                ProcessOne(forwarder, portOf[next], frame, writers, outDir, nanoseconds);
                heads[next] = await NextEthernetAsync(readers[next], inputs[next].Path, ct).ConfigureAwait(false);
                if (!nanoseconds && readers[next].SubMicrosecond && heads[next] is { } late)
                {
                    // Written on, its frames would lose their nanoseconds in the microsecond outputs.
                    throw new CaptureFormatException(inputs[next].Path, late.ByteOffset, "an interface with sub-microsecond timestamps is described after the first packet, when the outputs had been started with microsecond ones; describe every interface before the first packet");
                }
            }
        }
        finally
        {
            // Frames still waiting for a next hop's MAC when the captures end never leave.
            forwarder.ExpireParked(long.MaxValue);
            foreach (var r in readers)
            {
                await r.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var w in writers)
            {
                w?.Dispose();
            }

            // A port that emitted nothing gets no file, not even one an earlier run into this
            // folder left there (it would pass for this run's output) — also when a corrupt
            // capture ends the run, which leaves only what this run wrote.
            for (int p = 0; p < writers.Length; p++)
            {
                if (writers[p] is null)
                {
                    DeleteQuietly(outputs[p]);
                }
            }
        }

        return ReplaySummary.From(policy, forwarder);
    }

    /// <summary>Deletes a stale output; one that cannot be deleted is left, as the error that ends the run matters more.</summary>
    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Directory.CreateDirectory or the writer has said what is wrong with the folder.
        }
    }

    private static bool SamePorts(HostConfig a, HostConfig b) =>
        a.Ports.Count == b.Ports.Count && a.Ports.Zip(b.Ports).All(p => p.First == p.Second);

    private static async ValueTask<CapturedFrame?> NextEthernetAsync(CaptureReader reader, string path, CancellationToken ct)
    {
        var frame = await reader.ReadNextAsync(ct).ConfigureAwait(false);
        if (frame is not null && frame.LinkType != PcapLayout.LinkTypeEthernet)
        {
            // Frames before it may have been processed: say which record and interface stopped the replay.
            string source = frame.InterfaceId < 0 ? "the file's link type" : $"interface {frame.InterfaceId}'s link type";
            throw new CaptureFormatException(path, frame.ByteOffset, $"{source} {frame.LinkType} is not Ethernet (1); replay reads Ethernet captures only");
        }

        // The outputs carry the frame's time in pcap's 32-bit seconds.
        if (frame is not null && frame.TimestampNs / 1_000_000_000L > uint.MaxValue)
        {
            throw new CaptureFormatException(path, frame.ByteOffset, $"timestamp {frame.TimestampNs / 1_000_000_000L} s since 1970 is after 2106-02-07, the last second a pcap output can carry");
        }

        return frame;
    }

    private static void ProcessOne(Forwarder forwarder, int port, CapturedFrame frame, PcapWriter?[] writers, string outDir, bool nanoseconds)
    {
        var buffer = forwarder.Pool.Rent() ?? throw new InvalidOperationException("replay buffer pool exhausted");
        buffer.TrySet(frame.Data, frame.TimestampNs);
        forwarder.BeginBatch();
        forwarder.Process(port, buffer);
        for (int p = 0; p < forwarder.PortCount; p++)
        {
            var pending = forwarder.PendingTransmit(p);
            if (pending.Length == 0)
            {
                continue;
            }

            var writer = writers[p] ??= PcapWriter.Create(Path.Combine(outDir, forwarder.Policy.Ports[p].Name + ".pcap"), nanoseconds);
            foreach (var b in pending)
            {
                writer.Write(frame.TimestampNs, b.Frame);
            }

            forwarder.CompleteTransmit(p);
        }
    }
}
