using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace NvDataplane.Policy.Sources;

/// <summary>Timings of <see cref="EtcdPolicySource"/>; the defaults are the daemon's.</summary>
/// <param name="MinBackoff">The first wait before trying etcd again, doubled per failure.</param>
/// <param name="MaxBackoff">The longest wait between tries.</param>
/// <param name="PageSize">Keys per range request of a full read.</param>
public sealed record EtcdSourceOptions(TimeSpan MinBackoff, TimeSpan MaxBackoff, int PageSize = 10_000)
{
    public static EtcdSourceOptions Default { get; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));

    /// <summary>How often the member serving the watch is probed: the daemon's <see cref="EtcdClient.WatchProbeInterval"/>; tests shorten it.</summary>
    internal TimeSpan ProbeInterval { get; init; } = EtcdClient.WatchProbeInterval;
}

/// <summary>
/// Keeps the running policy's lookup records and customer routes equal to what etcd holds under
/// the prefix of <c>policySource</c> (key layout: <see cref="EtcdKeyLayout"/>): one full read,
/// then a watch from the revision after it; every change goes through the
/// <see cref="PolicyEditor"/> as one request that replaces both sections.
/// </summary>
/// <remarks>
/// <para>Two loops. The reader keeps <c>_desired</c>, etcd's content at the last revision seen,
/// and parses each value once as it arrives; the applier wakes when it changed and applies
/// whatever is there by then, so a burst of writes that arrives while a version is being built
/// becomes the next single version (coalescing, as the editor's group commit does).</para>
/// <para>Bad data never half-applies: a key whose value is not JSON, lies outside the layout,
/// disagrees with its key or fails validation is rejected together with everything written in
/// the same etcd revision (one write or transaction is applied whole or not at all); a rejected
/// key keeps the value that runs for it (or stays out), the log names it, and the next good write
/// of it applies. A problem no key can be blamed for refuses the whole update and the running
/// policy stays.</para>
/// <para>etcd unreachable (down, cut off, or its process hung: the client probes the member that
/// serves the watch): the running policy keeps forwarding, one <c>policy_source_unreachable</c>
/// line, tries with exponential backoff, one <c>policy_source_reachable</c> line when it answers;
/// the watch resumes from the revision after the last one seen, so nothing written meanwhile is
/// missed, and a compacted revision means a full read again.</para>
/// </remarks>
public sealed partial class EtcdPolicySource : IDisposable
{
    private readonly PolicySourceConfig _config;
    private readonly PolicyEditor _editor;
    private readonly Action<string, string, string> _log;
    private readonly EtcdSourceOptions _options;
    private readonly EtcdClient _client;
    private readonly byte[] _rangeStart;
    private readonly byte[] _rangeEnd;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly SemaphoreSlim _applyGate = new(1, 1);
    private readonly Lock _gate = new();

    // etcd's content as last seen, under _gate: written by the reader, copied by the applier.
    private readonly SortedDictionary<string, KeyState> _desired = new(StringComparer.Ordinal);
    private long _desiredRevision;
    private bool _dirty;

    /// <summary>etcd's last update was refused as a whole (the file's sections disagreed with it): a reload of the file tries it again.</summary>
    private bool _refusedSinceApplied;
    private int _pendingEvents;
    private string? _pendingRead;

    // What runs, per key: the applier's (or Reload's, under _applyGate).
    private Dictionary<string, KeyState> _applied = new(StringComparer.Ordinal);
    private List<KeyState> _appliedInOrder = [];
    private bool _appliedOnce;
    private readonly HashSet<(string Key, long Revision)> _reported = [];

    // The reader's.
    private long _lastSeen;
    private bool _down;
    private DateTimeOffset _downSince;

    private Task? _reader;
    private Task? _applier;
    private bool _disposed;

    private long _reads;
    private long _compactions;
    private long _updates;
    private long _events;
    private long _rejected;
    private long _refused;
    private long _unreachable;
    private long _watches;
    private long _appliedRevision;
    private long _policyVersion;
    private int _rejectedKeys;
    private volatile bool _connected;

    /// <summary>One key as etcd holds it: its value parsed (null for a key deleted at <paramref name="ModRevision"/>).</summary>
    private sealed record KeyState(string Key, long ModRevision, string Text, EtcdEntry? Parsed);

    public EtcdPolicySource(PolicySourceConfig config, PolicyEditor editor, Action<string, string, string> log, EtcdSourceOptions? options = null)
    {
        _config = config;
        _editor = editor;
        _log = log;
        _options = options ?? EtcdSourceOptions.Default;
        _client = new EtcdClient(config.Endpoints, null, _options.ProbeInterval);
        _rangeStart = Encoding.UTF8.GetBytes(config.Prefix + "/");
        _rangeEnd = EtcdClient.PrefixEnd(_rangeStart);
    }

    /// <summary>Full reads done: the first, and again after a compaction.</summary>
    public long Reads => Interlocked.Read(ref _reads);

    /// <summary>Watches that found their start revision compacted (each followed by a full read).</summary>
    public long Compactions => Interlocked.Read(ref _compactions);

    /// <summary>Policy versions this source published.</summary>
    public long Updates => Interlocked.Read(ref _updates);

    /// <summary>Watch events (puts and deletes) received.</summary>
    public long Events => Interlocked.Read(ref _events);

    /// <summary>Key writes rejected (each key revision counted once).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Updates refused as a whole (a problem no key could be blamed for).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Times etcd became unreachable.</summary>
    public long Unreachable => Interlocked.Read(ref _unreachable);

    /// <summary>Watches started (the first, then one per resume).</summary>
    public long Watches => Interlocked.Read(ref _watches);

    /// <summary>The last etcd revision seen (the watch resumes after it).</summary>
    public long Revision => Interlocked.Read(ref _lastSeen);

    /// <summary>The etcd revision the running policy reflects (0 before the first read applied).</summary>
    public long AppliedRevision => Interlocked.Read(ref _appliedRevision);

    /// <summary>The policy version of the last update applied or found unchanged.</summary>
    public long PolicyVersion => Interlocked.Read(ref _policyVersion);

    /// <summary>Keys whose etcd value is not what runs now (rejected, waiting for a good write).</summary>
    public int RejectedKeys => Volatile.Read(ref _rejectedKeys);

    /// <summary>Whether the last call to etcd succeeded.</summary>
    public bool Connected => _connected;

    /// <summary>Probes of the watch's member that it answered (a test's proof that an idle watch was probed).</summary>
    internal long ProbesAnswered => _client.ProbesAnswered;

    public void Start()
    {
        var config = _editor.Store.Current.Config;
        _log("info", "policy_source_started", $"{_config.Url}: watching {_config.Prefix}/ on {_client.Endpoint}; until the first read the file's {config.LookupRecords.Count} lookup records and {config.CustomerRoutes.Count} customer routes are the policy");
        _reader = Task.Run(ReadLoop);
        _applier = Task.Run(ApplyLoop);
    }

    /// <summary>
    /// SIGHUP: the file read again, with the sections etcd owns replaced by what etcd gave (once
    /// it has given anything), applied as one version between two etcd updates.
    /// </summary>
    public PolicyChangeResult Reload(string fileJson)
    {
        _applyGate.Wait();
        try
        {
            var result = _editor.Reload(_appliedOnce ? WithEtcdSections(fileJson) : fileJson);
            if (result.Applied && Volatile.Read(ref _refusedSinceApplied))
            {
                // The file may have been the reason etcd's update was refused (an ACL naming a
                // VSID etcd deleted): try etcd's content again now, not at etcd's next write.
                lock (_gate)
                {
                    _dirty = true;
                }

                Wake();
            }

            return result;
        }
        finally
        {
            _applyGate.Release();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stop.Cancel();
        var running = new[] { _reader, _applier }.OfType<Task>().ToArray();
        bool ended;
        try
        {
            ended = running.Length == 0 || Task.WaitAll(running, TimeSpan.FromSeconds(3));
        }
        catch (AggregateException)
        {
            ended = true; // both loops catch what they can; whatever escaped has ended its loop
        }

        if (running.Length != 0)
        {
            _log("info", "policy_source_stopped", $"{_config.Url}: etcd revision {AppliedRevision} applied, {Reads} full reads, {Events} events, {Updates} updates, {Rejected} keys rejected, {Refused} updates refused, unreachable {Unreachable} times");
        }

        _client.Dispose();
        if (ended)
        {
            _stop.Dispose();
            _wake.Dispose();
            _applyGate.Dispose();
        }
    }

    /// <summary>Both loops have ended (after <see cref="Dispose"/>).</summary>
    internal bool Ended => (_reader?.IsCompleted ?? true) && (_applier?.IsCompleted ?? true);

    /// <summary>Test hook: holds the applier (as a long version build would) until disposed.</summary>
    internal IDisposable PauseApplying()
    {
        _applyGate.Wait();
        return new Releaser(_applyGate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }

    // ---- the reader --------------------------------------------------------------------------

    private async Task ReadLoop()
    {
        var cancel = _stop.Token;
        string? readReason = "first read";
        int failures = 0;
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                if (readReason is not null)
                {
                    await ReadAllAsync(readReason, cancel).ConfigureAwait(false);
                    readReason = null;
                }

                (readReason, bool delivered) = await WatchAsync(cancel).ConfigureAwait(false);

                // A watch that ended after delivering is resumed at once; one ended on arrival
                // (a member that keeps refusing it) is retried later and later, like a failure.
                failures = delivered || readReason is not null ? 0 : failures + 1;
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (EtcdException e) when (e.IsCompacted)
            {
                // The revision a paged full read was pinned to went away under it: read again.
                readReason = "read again (compacted during the read)";
            }
            catch (Exception e) when (e is EtcdException or HttpRequestException or IOException or OperationCanceledException)
            {
                MarkUnreachable(e.Message);
                failures++;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // An answer this client does not understand: say so, and start again from a full read.
                _log("error", "policy_source_failed", $"reading etcd failed ({e.GetType().Name}: {e.Message}); reading everything again");
                readReason = "read again after an error";
                failures++;
            }

            if (!await Backoff(failures, cancel).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>Reads every key under the prefix at one revision (paged), and hands it to the applier as the whole truth.</summary>
    private async Task ReadAllAsync(string reason, CancellationToken cancel)
    {
        var states = new List<KeyState>();
        long revision = 0;
        byte[] from = _rangeStart;
        while (true)
        {
            var page = await _client.RangeAsync(from, _rangeEnd, revision, _options.PageSize, cancel).ConfigureAwait(false);
            MarkReachable();
            revision = revision == 0 ? page.Revision : revision;
            states.AddRange(page.Kvs.Select(kv => State(kv.Key, kv.ModRevision, kv.Value)));
            if (!page.More || page.Kvs.Count == 0)
            {
                break;
            }

            from = [.. page.Kvs[^1].Key, 0];
        }

        lock (_gate)
        {
            _desired.Clear();
            foreach (var s in states)
            {
                _desired[s.Key] = s;
            }

            _desiredRevision = revision;
            _pendingRead = reason;
            _pendingEvents = 0;
            _dirty = true;
        }

        Interlocked.Exchange(ref _lastSeen, revision);
        Interlocked.Increment(ref _reads);
        Wake();
    }

    /// <summary>Follows the watch until it ends; returns why a full read is needed (null: resume from the last revision seen), and whether it delivered anything.</summary>
    private async Task<(string? ReadReason, bool Delivered)> WatchAsync(CancellationToken cancel)
    {
        long from = Revision + 1;
        bool delivered = false;
        await foreach (var response in _client.WatchAsync(_rangeStart, _rangeEnd, from, cancel).ConfigureAwait(false))
        {
            MarkReachable();
            if (response.Created)
            {
                Interlocked.Increment(ref _watches);
                // A member behind the others answers with an older revision and catches up; only
                // the cluster's own (linearizable) revision being older means etcd went back.
                if (response.Revision < Revision && (await _client.RangeAsync(_rangeStart, _rangeEnd, 0, 1, cancel).ConfigureAwait(false)).Revision < Revision)
                {
                    _log("warning", "policy_source_revision_back", $"etcd is at revision {response.Revision}, before the {Revision} already seen (restored from a backup?); reading everything again");
                    return ("read again (etcd's revision went back)", delivered);
                }
            }

            if (response.Canceled)
            {
                if (response.CompactRevision > 0)
                {
                    Interlocked.Increment(ref _compactions);
                    _log("warning", "policy_source_compacted", $"revision {from} is compacted (etcd keeps revisions from {response.CompactRevision} on); reading everything again");
                    return ("read again after compaction", delivered);
                }

                _client.NextEndpoint(); // a member without a leader ends its watches: another member may have one
                _log("warning", "policy_source_watch_canceled", $"etcd ended the watch ({response.CancelReason ?? "no reason given"}); resuming from revision {Revision + 1} on {_client.Endpoint}");
                return (null, delivered);
            }

            if (response.Events.Count != 0)
            {
                Take(response.Events);
                delivered = true;
            }
            else if (!response.Created && response.Revision > Revision)
            {
                // A progress notification: every event up to its revision has been sent.
                Interlocked.Exchange(ref _lastSeen, response.Revision);
                delivered = true;
            }
        }

        return (null, delivered); // the member ended the stream: resume
    }

    private void Take(IReadOnlyList<EtcdEvent> events)
    {
        var states = events.Select(e => e.IsDelete ? new KeyState(KeyName(e.Key, out _), e.ModRevision, "", null) : State(e.Key, e.ModRevision, e.Value!)).ToList();
        long last = events[^1].ModRevision;
        lock (_gate)
        {
            foreach (var s in states)
            {
                _desired[s.Key] = s;
            }

            _desiredRevision = Math.Max(_desiredRevision, last);
            _pendingEvents += events.Count;
            _dirty = true;
        }

        Interlocked.Exchange(ref _lastSeen, Math.Max(Revision, last));
        Interlocked.Add(ref _events, events.Count);
        Wake();
    }

    private KeyState State(byte[] key, long modRevision, byte[] value)
    {
        string name = KeyName(key, out bool utf8);
        var parsed = utf8 ? EtcdKeyLayout.Parse(_config.Prefix, name, value) : EtcdEntry.Refused(null, "the key is not UTF-8 text; name keys in UTF-8");
        return new KeyState(name, modRevision, Encoding.UTF8.GetString(value), parsed);
    }

    /// <summary>
    /// A key as text: its UTF-8, or, when it is not UTF-8, the text with each byte that is no
    /// part of a character written <c>\xNN</c>. Two such keys stay two: decoded with replacement
    /// characters, <c>r\xff</c> and <c>r\xfe</c> were one key, so one route vanished unsaid and
    /// deleting one key removed the other's entry.
    /// </summary>
    private static string KeyName(byte[] key, out bool utf8)
    {
        utf8 = System.Text.Unicode.Utf8.IsValid(key);
        if (utf8)
        {
            return Encoding.UTF8.GetString(key);
        }

        var text = new StringBuilder(key.Length + 8);
        var rest = key.AsSpan();
        while (!rest.IsEmpty)
        {
            if (System.Text.Rune.DecodeFromUtf8(rest, out var rune, out int used) == System.Buffers.OperationStatus.Done)
            {
                text.Append(rune.ToString());
            }
            else
            {
                used = Math.Max(used, 1);
                foreach (byte b in rest[..used])
                {
                    text.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
                }
            }

            rest = rest[used..];
        }

        return text.ToString();
    }

    private void MarkReachable()
    {
        _connected = true;
        if (_down)
        {
            _down = false;
            _log("info", "policy_source_reachable", string.Create(CultureInfo.InvariantCulture,
                $"etcd at {_client.Endpoint} answers again after {(DateTimeOffset.UtcNow - _downSince).TotalSeconds:0.0} s; the last revision seen was {Revision}"));
        }
    }

    private void MarkUnreachable(string reason)
    {
        _connected = false;
        if (_down)
        {
            return;
        }

        _down = true;
        _downSince = DateTimeOffset.UtcNow;
        Interlocked.Increment(ref _unreachable);
        _log("warning", "policy_source_unreachable", string.Create(CultureInfo.InvariantCulture,
            $"{reason}; forwarding goes on with policy version {_editor.Store.Current.Version} (etcd revision {AppliedRevision}); retrying every {_options.MinBackoff.TotalSeconds:0.0#}-{_options.MaxBackoff.TotalSeconds:0.#} s"));
    }

    /// <summary>
    /// The wait before the next try, before its ±20%: the minimum after a clean end and after
    /// the first failure, doubling per further failure up to the maximum (0.2, 0.2, 0.4, 0.8 ...
    /// 5 s by default).
    /// </summary>
    internal static double BackoffMs(int failures, EtcdSourceOptions options) =>
        Math.Min(options.MaxBackoff.TotalMilliseconds, options.MinBackoff.TotalMilliseconds * Math.Pow(2, Math.Clamp(failures - 1, 0, 20)));

    /// <summary>Waits <see cref="BackoffMs"/>, ±20% so a fleet does not retry in step. False when stopping.</summary>
    private async Task<bool> Backoff(int failures, CancellationToken cancel)
    {
        double ms = BackoffMs(failures, _options) * (0.8 + (0.4 * Random.Shared.NextDouble()));
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(ms), cancel).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    // ---- the applier -------------------------------------------------------------------------

    private async Task ApplyLoop()
    {
        var cancel = _stop.Token;
        while (true)
        {
            try
            {
                await _wake.WaitAsync(cancel).ConfigureAwait(false);
                await _applyGate.WaitAsync(cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                KeyState[] desired;
                long revision;
                int events;
                string? read;
                lock (_gate)
                {
                    if (!_dirty)
                    {
                        continue;
                    }

                    _dirty = false;
                    desired = [.. _desired.Values];
                    revision = _desiredRevision;
                    events = _pendingEvents;
                    read = _pendingRead;
                    _pendingEvents = 0;
                    _pendingRead = null;
                }

                await ApplyAsync(desired, revision, events, read).ConfigureAwait(false);
                ForgetDeleted(revision);
            }
            catch (ObjectDisposedException)
            {
                return; // the editor is gone: the daemon is stopping
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log("error", "policy_source_failed", $"applying etcd's policy failed ({e.GetType().Name}: {e.Message}); the running policy stays, the next change tries again");
            }
            finally
            {
                _applyGate.Release();
            }
        }
    }

    /// <summary>Makes the running policy etcd's content at <paramref name="revision"/>, less the rejected writes.</summary>
    private async Task ApplyAsync(KeyState[] desired, long revision, int events, string? read)
    {
        var rejected = new Dictionary<string, string>(StringComparer.Ordinal);
        var badRevisions = new HashSet<long>();
        foreach (var s in desired)
        {
            if (s.Parsed?.Problem is { } problem)
            {
                rejected[s.Key] = problem;
                badRevisions.Add(s.ModRevision);
            }
        }

        var candidate = Effective(desired, badRevisions);
        PolicyChangeResult? result = null;
        if (!_appliedOnce || Differs(candidate))
        {
            result = await _editor.ApplyAsync(Changes(candidate)).ConfigureAwait(false);
            if (!result.Applied && Blame(result.Problems, candidate, rejected) is { Count: > 0 } blamed)
            {
                // Keep the blamed writes out and try the rest once more.
                badRevisions.UnionWith(blamed);
                candidate = Effective(desired, badRevisions);
                result = !_appliedOnce || Differs(candidate) ? await _editor.ApplyAsync(Changes(candidate)).ConfigureAwait(false) : null;
            }
        }

        foreach (var s in desired.Where(s => badRevisions.Contains(s.ModRevision) && !rejected.ContainsKey(s.Key)))
        {
            rejected[s.Key] = s.Parsed is null
                ? $"deleted in revision {s.ModRevision} together with a rejected write; the whole write is refused"
                : $"written in revision {s.ModRevision} together with a rejected key; the whole write is refused";
        }

        ReportRejected(desired, rejected);
        Volatile.Write(ref _rejectedKeys, rejected.Count);
        Volatile.Write(ref _refusedSinceApplied, result is { Applied: false });
        if (result is { Applied: false })
        {
            Interlocked.Increment(ref _refused);
            var (records, routes) = KeysBySection(candidate);
            _log("warning", "policy_source_refused", $"revision {revision}: {result.Problems.Count} problem(s), keeping policy version {_editor.Store.Current.Version} (etcd revision {AppliedRevision}): "
                + string.Join("; ", result.Problems.Select(p => Render(p, records, routes))));
            return;
        }

        long version = result?.Version ?? _editor.Store.Current.Version;
        if (result is not null)
        {
            _appliedInOrder = candidate;
            _applied = candidate.ToDictionary(s => s.Key, StringComparer.Ordinal);
            _appliedOnce = true;
            Interlocked.Increment(ref _updates);
        }

        Interlocked.Exchange(ref _appliedRevision, revision);
        Interlocked.Exchange(ref _policyVersion, version);
        int recordCount = candidate.Count(s => s.Parsed!.Section == PolicySection.LookupRecords);
        string counts = $"{recordCount} lookup records, {candidate.Count - recordCount} customer routes";
        if (read is not null)
        {
            _log("info", "policy_source_loaded", $"revision {revision} ({read}), {counts}: policy version {version}{(result is null ? " (unchanged)" : "")}");
        }
        else
        {
            _log("info", "policy_source_update", $"revision {revision}: policy version {version}{(result is null ? " (unchanged)" : "")}, {events} events, {counts}");
        }
    }

    /// <summary>The entries that run for <paramref name="desired"/>: each good key's value; for a key of a rejected revision, what runs for it now.</summary>
    private List<KeyState> Effective(KeyState[] desired, HashSet<long> badRevisions)
    {
        var list = new List<KeyState>(desired.Length);
        foreach (var s in desired)
        {
            if (badRevisions.Contains(s.ModRevision))
            {
                if (_applied.TryGetValue(s.Key, out var running))
                {
                    list.Add(running);
                }
            }
            else if (s.Parsed is not null)
            {
                list.Add(s);
            }
        }

        return list;
    }

    /// <summary>
    /// Whether applying <paramref name="candidate"/> would change the running policy: it differs
    /// from what etcd last gave, or something else (the control API, a reload) changed the policy
    /// since — then etcd's update replaces those changes, as the README says, rather than being
    /// taken for "unchanged".
    /// </summary>
    private bool Differs(List<KeyState> candidate) =>
        Interlocked.Read(ref _policyVersion) != _editor.Store.Current.Version
        || candidate.Count != _applied.Count || candidate.Any(s => !_applied.TryGetValue(s.Key, out var a) || a.Text != s.Text);

    private static PolicyChange[] Changes(List<KeyState> candidate) =>
    [
        new PolicyChange.Replace(PolicySection.LookupRecords, [.. candidate.Where(s => s.Parsed!.Section == PolicySection.LookupRecords).Select(s => s.Parsed!.Entry)]),
        new PolicyChange.Replace(PolicySection.CustomerRoutes, [.. candidate.Where(s => s.Parsed!.Section == PolicySection.CustomerRoutes).Select(s => s.Parsed!.Entry)]),
    ];

    private static (List<string> Records, List<string> Routes) KeysBySection(List<KeyState> candidate) =>
        ([.. candidate.Where(s => s.Parsed!.Section == PolicySection.LookupRecords).Select(s => s.Key)],
         [.. candidate.Where(s => s.Parsed!.Section == PolicySection.CustomerRoutes).Select(s => s.Key)]);

    /// <summary>
    /// The revisions of the changed keys that the problems name (by the JSON path of the entry in
    /// the candidate, <c>$.lookupRecords[i]</c>, in the path or the message); each such key is
    /// added to <paramref name="rejected"/> with its problem. None: nothing changed can be blamed.
    /// </summary>
    private HashSet<long> Blame(IReadOnlyList<ConfigProblem> problems, List<KeyState> candidate, Dictionary<string, string> rejected)
    {
        var (records, routes) = KeysBySection(candidate);
        var byKey = candidate.ToDictionary(s => s.Key, StringComparer.Ordinal);
        var blamed = new HashSet<long>();
        foreach (var problem in problems)
        {
            foreach (Match m in EntryPath().Matches(problem.ToString()))
            {
                var keys = m.Groups[1].Value == "lookupRecords" ? records : routes;
                int index = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                if (index >= keys.Count || byKey[keys[index]] is not { } s || (_applied.TryGetValue(s.Key, out var running) && running.Text == s.Text))
                {
                    continue; // unchanged since the last good version: not the cause alone
                }

                blamed.Add(s.ModRevision);
                rejected.TryAdd(s.Key, Render(problem, records, routes));
            }
        }

        return blamed;
    }

    /// <summary>The problem with each <c>$.lookupRecords[i]</c> of the candidate shown as its etcd key.</summary>
    private static string Render(ConfigProblem problem, List<string> records, List<string> routes) =>
        EntryPath().Replace(problem.ToString(), m =>
        {
            var keys = m.Groups[1].Value == "lookupRecords" ? records : routes;
            int index = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            return index < keys.Count ? "{" + keys[index] + "}" : m.Value;
        });

    [GeneratedRegex(@"\$\.(lookupRecords|customerRoutes)\[(\d+)\]")]
    private static partial Regex EntryPath();

    /// <summary>One <c>policy_source_rejected</c> line per key and revision, however many updates it stays rejected through.</summary>
    private void ReportRejected(KeyState[] desired, Dictionary<string, string> rejected)
    {
        foreach (var s in desired)
        {
            if (rejected.TryGetValue(s.Key, out string? problem) && _reported.Add((s.Key, s.ModRevision)))
            {
                Interlocked.Increment(ref _rejected);
                string running = _applied.ContainsKey(s.Key) ? "its last good value stays" : "it stays out of the policy";
                _log("warning", "policy_source_rejected", $"key {s.Key} (revision {s.ModRevision}): {problem}; {running}");
            }
        }

        _reported.RemoveWhere(r => !rejected.ContainsKey(r.Key));
    }

    /// <summary>Drops the record of deletions the policy now reflects (kept until then so a refused transaction's deletes stay refused).</summary>
    private void ForgetDeleted(long appliedUpTo)
    {
        lock (_gate)
        {
            var gone = _desired.Values.Where(s => s.Parsed is null && s.ModRevision <= appliedUpTo && !_applied.ContainsKey(s.Key)).Select(s => s.Key).ToList();
            foreach (var key in gone)
            {
                _desired.Remove(key);
            }
        }
    }

    /// <summary>The file's document with <c>lookupRecords</c> and <c>customerRoutes</c> as they run from etcd; the text unchanged when it is not a JSON object (the editor says why).</summary>
    private string WithEtcdSections(string fileJson)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(fileJson, ConfigLoader.ParseOptions);
        }
        catch (JsonException)
        {
            return fileJson;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return fileJson;
            }

            var buffer = new ArrayBufferWriter<byte>(fileJson.Length + 4096);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                foreach (var property in document.RootElement.EnumerateObject().Where(p => p.Name is not ("lookupRecords" or "customerRoutes")))
                {
                    property.WriteTo(writer);
                }

                foreach (var section in new[] { PolicySection.LookupRecords, PolicySection.CustomerRoutes })
                {
                    writer.WriteStartArray(PolicySections.JsonName(section));
                    foreach (var s in _appliedInOrder.Where(s => s.Parsed!.Section == section))
                    {
                        s.Parsed!.Entry.WriteTo(writer);
                    }

                    writer.WriteEndArray();
                }

                writer.WriteEndObject();
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
    }
}
