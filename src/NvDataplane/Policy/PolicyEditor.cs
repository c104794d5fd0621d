using System.Buffers;
using System.Text.Json;

namespace NvDataplane.Policy;

/// <summary>
/// Changes the running policy while the pipeline forwards. Every request (a list of
/// <see cref="PolicyChange"/>s, or a whole new document) is applied as a unit: the candidate
/// document is validated exactly as a configuration file is (SPEC section 2, through
/// <see cref="ConfigLoader"/>), compiled into a new <see cref="PolicySnapshot"/> and published
/// with one reference swap, or refused with every problem and nothing changed. The workers
/// never wait: they take the new version at their next batch.
/// </summary>
/// <remarks>
/// One committer thread applies the requests (group commit, as databases do): whatever queued
/// while it was validating and compiling the last version goes into the next one, so the cost
/// of a version (linear in the size of the policy) is shared by every request in it and the
/// rate of changes is bounded by the rate of requests, not of versions. A request that would
/// make the group invalid is found by validating the group's requests one at a time; the others
/// still apply. A request completes when its version is published and every forwarding thread
/// that reads the store decides frames with it (<see cref="PolicyStore.WaitUntilSeen"/>), so a
/// caller that gets an answer knows the change is in effect.
/// </remarks>
public sealed class PolicyEditor : IDisposable
{
    private readonly PolicyStore _store;
    private readonly int _maxQueued;
    private readonly Lock _queueGate = new();
    private readonly List<Request> _queue = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _committer;
    private readonly ArrayBufferWriter<byte> _candidate = new(1 << 16);

    // The document the running policy was compiled from: its root (for everything but the
    // editable sections) and each editable section by key, in document order. Written by the
    // committer only.
    private JsonElement _root;
    private readonly Dictionary<PolicySection, OrderedDictionary<string, JsonElement>> _sections = [];
    private volatile Published _published;
    private long _commits;

    // The lookupRecords section read into typed records (the fast path, see Commit), and the
    // configuration the running version was compiled from. Written by the committer only.
    private LookupRecordShadow _records = new();
    private HostConfig _config;
    private long _fastCommits;
    private long _unseenVersions;
    private readonly UndoLog _undo = new();

    // Slots of entries removed since the last version (see StageRemove), each under a key of its own.
    private const string RemovedKeyPrefix = "\u0001removed:";
    private long _removed;
    private long _changesApplied;
    private long _busyRefusals;

    private sealed record Published(long Version, JsonElement Root, Dictionary<PolicySection, PublishedEntries> Sections);

    /// <summary>
    /// A section's entries as published. Lookup records that typed sets changed (see
    /// <see cref="TrySetRecord"/>) are merged into their JSON entries the first time anyone reads
    /// them, not on the committer's path.
    /// </summary>
    private sealed class PublishedEntries(JsonElement[] entries, LookupRecordShadow.Slot[]? slots)
    {
        private readonly Lock _gate = new();
        private JsonElement[]? _merged = slots is null ? entries : null;

        public int Count => entries.Length;

        public JsonElement[] Get()
        {
            if (Volatile.Read(ref _merged) is { } merged)
            {
                return merged;
            }

            lock (_gate)
            {
                if (_merged is null)
                {
                    var result = (JsonElement[])entries.Clone();
                    for (int i = 0; i < result.Length; i++)
                    {
                        if (slots![i].Pending is { } pending)
                        {
                            result[i] = PolicyEntryKey.Merge(result[i], pending);
                        }
                    }

                    Volatile.Write(ref _merged, result);
                }

                return _merged;
            }
        }
    }

    /// <summary>
    /// How to take back what a group's requests staged, newest first: an action, or (for the
    /// many lookup-record sets of a group, without a closure each) a typed slot to put back.
    /// </summary>
    private sealed class UndoLog
    {
        private readonly List<(Action? Action, LookupRecordShadow? Records, int Index, LookupRecordShadow.Slot Slot)> _steps = [];

        public int Count => _steps.Count;

        public void Add(Action action) => _steps.Add((action, null, 0, default));

        public void PutBack(LookupRecordShadow records, int index, LookupRecordShadow.Slot slot) => _steps.Add((null, records, index, slot));

        /// <summary>Undoes every step from <paramref name="mark"/> on, newest first.</summary>
        public void Rollback(int mark)
        {
            for (int i = _steps.Count - 1; i >= mark; i--)
            {
                var (action, records, index, slot) = _steps[i];
                if (action is not null)
                {
                    action();
                }
                else
                {
                    records!.Put(index, slot);
                }
            }

            _steps.RemoveRange(mark, _steps.Count - mark);
        }

        public void Clear() => _steps.Clear();
    }

    private sealed class Request(IReadOnlyList<PolicyChange> changes, JsonElement? document)
    {
        public IReadOnlyList<PolicyChange> Changes { get; } = changes;

        /// <summary>A whole new document (a reload of the file); null for a list of changes.</summary>
        public JsonElement? Document { get; } = document;

        public TaskCompletionSource<PolicyChangeResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Affected { get; set; }
    }

    /// <param name="store">The store the pipeline reads; its current version must have been built from <paramref name="document"/>.</param>
    /// <param name="document">The configuration document that is running (the file's root object).</param>
    public PolicyEditor(PolicyStore store, JsonElement document)
        : this(store, document, MaxQueuedRequests, start: true)
    {
    }

    /// <param name="maxQueued">Requests that may wait (tests use a small number).</param>
    /// <param name="start">False leaves the committer stopped until <see cref="Start"/> (tests fill the queue with it).</param>
    internal PolicyEditor(PolicyStore store, JsonElement document, int maxQueued, bool start)
    {
        _store = store;
        _maxQueued = maxQueued;
        _config = store.Current.Config;
        LoadDocument(document.Clone());
        _published = Publish(store.Current.Version);
        _committer = new Thread(CommitLoop) { IsBackground = true, Name = "nvdp-policy" };
        if (start)
        {
            Start();
        }
    }

    internal void Start() => _committer.Start();

    /// <summary>Parses <paramref name="json"/> (the text the running policy came from) for <see cref="PolicyEditor(PolicyStore, JsonElement)"/>.</summary>
    public static PolicyEditor FromText(PolicyStore store, string json)
    {
        using var document = JsonDocument.Parse(json, ConfigLoader.ParseOptions);
        return new PolicyEditor(store, document.RootElement);
    }

    /// <summary>Requests that may wait for the committer; more are refused (<see cref="PolicyChangeResult.Busy"/>) so a flood of changes cannot exhaust memory.</summary>
    public const int MaxQueuedRequests = 4096;

    public PolicyStore Store => _store;

    /// <summary>Requests refused because <see cref="MaxQueuedRequests"/> were already waiting.</summary>
    public long BusyRefusals => Interlocked.Read(ref _busyRefusals);

    /// <summary>Versions published by this editor so far.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Versions published by the fast path: lookup-record changes validated record by record (see <see cref="Commit"/>).</summary>
    public long FastCommits => Interlocked.Read(ref _fastCommits);

    /// <summary>Lookup records whose JSON entry still lacks fields a typed set wrote (read by tests; merged once the editor is quiet).</summary>
    internal int PendingRecordFields => Volatile.Read(ref _records).PendingCount;

    /// <summary>False makes every version go the whole-document way (tests compare the two).</summary>
    internal bool FastPath { get; set; } = true;

    /// <summary>How long a version's requests wait for the forwarding threads to take it before they are answered anyway (10 ms).</summary>
    public static readonly TimeSpan DefaultSeenTimeout = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// This editor's wait (<see cref="DefaultSeenTimeout"/>); a test that must know a version was
    /// taken, on a machine busy enough to keep a thread off a core for longer, lengthens it.
    /// </summary>
    internal TimeSpan SeenTimeout { get; set; } = DefaultSeenTimeout;

    /// <summary>Versions answered before every forwarding thread had taken them (one was stuck for <see cref="SeenTimeout"/>).</summary>
    public long UnseenVersions => Interlocked.Read(ref _unseenVersions);

    /// <summary>Changes (entries added, set or removed) applied so far.</summary>
    public long ChangesApplied => Interlocked.Read(ref _changesApplied);

    /// <summary>The entries of <paramref name="section"/> in the running policy, in document order.</summary>
    public IReadOnlyList<JsonElement> Entries(PolicySection section) => _published.Sections[section].Get();

    /// <summary>How many entries <see cref="Entries"/> would give, without merging what typed sets left pending (for counters read often).</summary>
    public int EntryCount(PolicySection section) => _published.Sections[section].Count;

    /// <summary>
    /// The entries of <paramref name="section"/> that <paramref name="match"/> selects, as set and
    /// remove select them (no match, or an empty one, selects every entry), with the policy
    /// version they are from; refused with the problem when the match names a field the section does not have.
    /// Reads the published version: never waits for the committer.
    /// </summary>
    public PolicyQueryResult Find(PolicySection section, JsonElement match)
    {
        var published = _published;
        var entries = published.Sections[section].Get();
        if (match.ValueKind != JsonValueKind.Object || !match.EnumerateObject().Any())
        {
            return new PolicyQueryResult(published.Version, entries, []);
        }

        var problems = new List<ConfigProblem>();
        return CheckStrings(match, "match", "", problems) && CheckMatchFields(section, match, "", problems)
            ? new PolicyQueryResult(published.Version, [.. entries.Where(e => PolicyEntryKey.Matches(section, e, match))], problems)
            : new PolicyQueryResult(published.Version, [], problems);
    }

    /// <summary>Applies <paramref name="changes"/> as one unit; completes when the version holding them is published (or when they are refused).</summary>
    public Task<PolicyChangeResult> ApplyAsync(IReadOnlyList<PolicyChange> changes) => Enqueue(new Request(changes, null));

    public PolicyChangeResult Apply(IReadOnlyList<PolicyChange> changes) => ApplyAsync(changes).GetAwaiter().GetResult();

    public PolicyChangeResult Apply(params PolicyChange[] changes) => Apply((IReadOnlyList<PolicyChange>)changes);

    /// <summary>
    /// Replaces the whole document (SIGHUP: the file read again). Refused when it is invalid or
    /// changes the ports, which only a restart can do.
    /// </summary>
    public PolicyChangeResult Reload(string json)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json, ConfigLoader.ParseOptions);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            // ConfigLoader says where and why.
            return PolicyChangeResult.Refused(_store.Current.Version, ConfigLoader.Load(json).Problems);
        }

        return Enqueue(new Request([], root)).GetAwaiter().GetResult();
    }

    /// <summary>How long <see cref="Dispose"/> waits for a version being built: a daemon stops within 2 s (SPEC section 3) even when a request costs far longer.</summary>
    internal static readonly TimeSpan DisposeWait = TimeSpan.FromSeconds(1);

    public void Dispose()
    {
        _stop.Cancel();
        _wake.Release();
        if (_committer.IsAlive)
        {
            if (!_committer.Join(DisposeWait))
            {
                // Still building a version (a request of thousands of whole-section scans, a
                // policy of millions of records): the committer is a background thread and ends
                // when its commit does, refusing what waits; it still uses the two below.
                return;
            }
        }
        else
        {
            FailQueued();
        }

        _stop.Dispose();
        _wake.Dispose();
    }

    private Task<PolicyChangeResult> Enqueue(Request request)
    {
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        lock (_queueGate)
        {
            if (_queue.Count >= _maxQueued)
            {
                Interlocked.Increment(ref _busyRefusals);
                return Task.FromResult(PolicyChangeResult.Refused(_store.Current.Version, [new ConfigProblem(
                    "$", $"{_queue.Count} requests are already waiting to be applied; nothing was changed, retry later")]) with { Busy = true });
            }

            _queue.Add(request);
        }

        _wake.Release();
        return request.Done.Task;
    }

    private void CommitLoop()
    {
        while (true)
        {
            if (!_wake.Wait(_records.PendingCount == 0 ? Timeout.Infinite : QuietMilliseconds))
            {
                // Quiet for a while: merge what typed sets left pending into the JSON entries,
                // so that reading them (list, config show) need not merge them every version.
                MergePendingWhileQuiet();
                continue;
            }

            if (_stop.IsCancellationRequested)
            {
                FailQueued();
                return;
            }

            List<Request> group;
            lock (_queueGate)
            {
                group = [.. _queue];
                _queue.Clear();
            }

            if (group.Count == 0)
            {
                continue;
            }

            try
            {
                Commit(group);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A bug must not leave callers waiting forever nor the sections half-edited:
                // back to the published version, and every request of the group is refused.
                RestorePublished();
                var problem = new ConfigProblem("$", $"the change could not be applied ({e.GetType().Name}: {e.Message}); nothing was changed");
                foreach (var r in group)
                {
                    r.Done.TrySetResult(PolicyChangeResult.Refused(_store.Current.Version, [problem]));
                }
            }
        }
    }

    /// <summary>How long no request may come before the committer merges pending fields (<see cref="MergePendingWhileQuiet"/>).</summary>
    private const int QuietMilliseconds = 100;

    private void MergePendingWhileQuiet()
    {
        try
        {
            var undo = _undo;
            undo.Clear();
            MergePending(undo);
            undo.Clear();
            _published = Publish(_published.Version);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The entries read as the published ones: nothing is lost by leaving them unmerged.
            RestorePublished();
        }
    }

    /// <summary>The sections and root as last published, for after an unexpected failure.</summary>
    private void RestorePublished()
    {
        var published = _published;
        _root = published.Root;
        foreach (var (section, entries) in published.Sections)
        {
            _sections[section] = Keyed(section, entries.Get());
        }

        _records = LookupRecordShadow.Build(_sections[PolicySection.LookupRecords].Values, _config.CustomerRoutes);
    }

    /// <summary>
    /// The entries by key, in order. Two entries with one key (a file or a source may hold them)
    /// are both kept, so validation names them as it would in a file.
    /// </summary>
    private static OrderedDictionary<string, JsonElement> Keyed(PolicySection section, IEnumerable<JsonElement> entries)
    {
        var keyed = new OrderedDictionary<string, JsonElement>();
        int duplicate = 0;
        foreach (var entry in entries)
        {
            string key = PolicyEntryKey.Of(section, entry);
            if (!keyed.TryAdd(key, entry))
            {
                keyed.Add($"{key}#dup{duplicate++}", entry);
            }
        }

        return keyed;
    }

    private void FailQueued()
    {
        lock (_queueGate)
        {
            foreach (var r in _queue)
            {
                r.Done.TrySetException(new ObjectDisposedException(nameof(PolicyEditor)));
            }

            _queue.Clear();
        }
    }

    /// <summary>Applies what it can of <paramref name="group"/> as one version; every request completes.</summary>
    private void Commit(List<Request> group)
    {
        // Every edit, a whole new document included, is undone by the step Stage records for it.
        var undo = _undo;
        undo.Clear();
        var accepted = StageEach(group, undo);
        if (accepted.Count == 0)
        {
            return;
        }

        // The fast path: when every request only adds, sets or removes lookup records and the
        // typed section vouches for the result, the rest of the document is as valid as it was
        // and the records are already read, so the version compiles from them without reading
        // the document again. Anything else (or anything wrong) is validated as a file.
        bool fast = FastPath && _records.Vouches && accepted.All(OnlyRecordEdits);
        var result = fast
            ? ConfigLoadResult.Valid(_config with { LookupRecords = _records.Records() })
            : Validate(accepted.Any(a => a.Document is not null), undo);
        if (result.Config is null)
        {
            // Someone in the group is invalid: take the group apart and keep what is valid.
            undo.Rollback(0);
            var kept = new List<Request>();
            if (KeepHalves(accepted, result, undo, kept) is not { } valid)
            {
                return;
            }

            result = valid;
            accepted = kept;
        }

        PolicySnapshot snapshot;
        try
        {
            snapshot = _store.Replace(result.Config!);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // Validation should have refused anything the compiler cannot take; if it did not,
            // the running version stays and the requests learn why.
            undo.Rollback(0);
            var problem = new ConfigProblem("$", $"the policy could not be compiled ({e.Message}); nothing was changed");
            foreach (var request in accepted)
            {
                request.Done.TrySetResult(PolicyChangeResult.Refused(_store.Current.Version, [problem]));
            }

            return;
        }

        Compact();
        _config = result.Config!;
        _records.Published(_config.CustomerRoutes);
        _published = Publish(snapshot.Version);
        Interlocked.Increment(ref _commits);
        if (fast)
        {
            Interlocked.Increment(ref _fastCommits);
        }

        // Answer once every forwarding thread decides frames with this version (or is idle and
        // will read it first): a caller that has its answer knows the change is in effect.
        if (!_store.WaitUntilSeen(snapshot.Version, SeenTimeout))
        {
            Interlocked.Increment(ref _unseenVersions);
        }

        foreach (var request in accepted)
        {
            Interlocked.Add(ref _changesApplied, request.Affected);
            request.Done.TrySetResult(new PolicyChangeResult(true, snapshot.Version, request.Affected, []));
        }
    }

    /// <summary>
    /// Stages <paramref name="requests"/> on top of what is staged and validates them together;
    /// an invalid group is split in halves, each kept or split again on top of the halves kept
    /// before it, down to single requests that are refused. A validation costs the whole
    /// policy, so one bad request among thousands costs a few dozen of them, not thousands.
    /// Adds the kept requests to <paramref name="kept"/>; returns the last valid result, or null
    /// when nothing here was kept.
    /// </summary>
    private ConfigLoadResult? KeepValid(List<Request> requests, UndoLog undo, List<Request> kept)
    {
        // Staged again on top of what is kept so far, not of the whole group: an add whose key a
        // dropped request removed, or a set of an entry one added, may not stage now, and must be
        // refused, not answered applied for nothing.
        int mark = undo.Count;
        var staged = StageEach(requests, undo);
        if (staged.Count == 0)
        {
            return null;
        }

        var result = Validate(staged.Any(r => r.Document is not null), undo);
        if (result.Config is not null)
        {
            kept.AddRange(staged);
            return result;
        }

        undo.Rollback(mark);
        return KeepHalves(staged, result, undo, kept);
    }

    /// <summary>
    /// <paramref name="invalid"/>, found invalid together (<paramref name="refusal"/>) and rolled
    /// back: one request is refused with those problems; more are split in halves for
    /// <see cref="KeepValid"/>, without validating the whole group once more.
    /// </summary>
    private ConfigLoadResult? KeepHalves(List<Request> invalid, ConfigLoadResult refusal, UndoLog undo, List<Request> kept)
    {
        if (invalid.Count == 1)
        {
            invalid[0].Done.TrySetResult(PolicyChangeResult.Refused(_store.Current.Version, refusal.Problems));
            return null;
        }

        int half = invalid.Count / 2;
        var first = KeepValid(invalid.GetRange(0, half), undo, kept);
        var second = KeepValid(invalid.GetRange(half, invalid.Count - half), undo, kept);
        return second ?? first;
    }

    /// <summary>Stages each request on top of the ones before it; a request that does not stage is undone and refused. Returns the staged ones.</summary>
    private List<Request> StageEach(List<Request> requests, UndoLog undo)
    {
        var staged = new List<Request>(requests.Count);
        foreach (var request in requests)
        {
            int mark = undo.Count;
            var problems = Stage(request, undo);
            if (problems.Count != 0)
            {
                undo.Rollback(mark);
                request.Done.TrySetResult(PolicyChangeResult.Refused(_store.Current.Version, problems));
            }
            else
            {
                staged.Add(request);
            }
        }

        return staged;
    }

    private static bool OnlyRecordEdits(Request request) =>
        request.Document is null && request.Changes.All(c => c.Section == PolicySection.LookupRecords && c is not PolicyChange.Replace);

    /// <summary>Applies a request's edits to the sections (recording how to undo them); the problems that need no validation.</summary>
    private List<ConfigProblem> Stage(Request request, UndoLog undo)
    {
        var problems = new List<ConfigProblem>();
        request.Affected = 0;
        if (request.Document is { } document)
        {
            var before = _sections.ToDictionary(s => s.Key, s => s.Value);
            var rootBefore = _root;
            var recordsBefore = _records;
            undo.Add(() =>
            {
                _root = rootBefore;
                _records = recordsBefore;
                foreach (var (k, v) in before)
                {
                    _sections[k] = v;
                }
            });
            if (document.ValueKind != JsonValueKind.Object)
            {
                problems.Add(new ConfigProblem("$", $"expected a JSON object, got {document.ValueKind}"));
                return problems;
            }

            // Keys are read from the entries at once: strings .NET cannot read are refused first, as a file's are.
            var unreadable = new ConfigProblemList();
            ConfigStringCheck.Check(document, ConfigJsonPath.Root, unreadable);
            if (unreadable.Count != 0)
            {
                problems.AddRange(unreadable.AsFound());
                return problems;
            }

            LoadDocument(document);
            return problems;
        }

        for (int i = 0; i < request.Changes.Count; i++)
        {
            var change = request.Changes[i];
            var records = change.Section == PolicySection.LookupRecords ? _records : null;
            if (records is not null && FastPath && change is PolicyChange.Set typed && TrySetRecord(records, typed, undo))
            {
                request.Affected++;
                continue;
            }

            // Everything else reads or writes the section's JSON entries: typed sets go into them first.
            if (records is not null)
            {
                MergePending(undo);
            }

            string where = request.Changes.Count == 1 ? "" : $"change {i + 1}: ";
            if (!CheckStrings(change, where, problems))
            {
                continue;
            }

            var section = _sections[change.Section];
            switch (change)
            {
                case PolicyChange.Add add:
                    StageAdd(change.Section, section, records, add.Entry, where, problems, undo, request);
                    break;
                case PolicyChange.Set set:
                    StageSet(change.Section, section, records, set, where, problems, undo, request);
                    break;
                case PolicyChange.Remove remove:
                    StageRemove(change.Section, section, records, remove.Match, where, problems, undo, request);
                    break;
                case PolicyChange.Replace replace:
                    StageReplace(change.Section, replace.Entries, undo, request);
                    break;
            }
        }

        return problems;
    }

    private void StageAdd(PolicySection name, OrderedDictionary<string, JsonElement> section, LookupRecordShadow? records, JsonElement entry, string where, List<ConfigProblem> problems, UndoLog undo, Request request)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new ConfigProblem("$", $"{where}a {PolicySections.EntryName(name)} is a JSON object with the fields of $.{PolicySections.JsonName(name)}[], got {entry.ValueKind}"));
            return;
        }

        entry = entry.Clone();
        string key = PolicyEntryKey.Of(name, entry);
        if (!section.TryAdd(key, entry))
        {
            problems.Add(new ConfigProblem(
                $"$.{PolicySections.JsonName(name)}[{DocumentIndex(section, section.IndexOf(key))}]",
                $"{where}the {PolicySections.EntryName(name)} {PolicyEntryKey.Describe(name, entry)} already exists; change it with set, or remove it first"));
            return;
        }

        records?.Append(LookupRecordShadow.Slot.Read(entry));
        undo.Add(() =>
        {
            section.Remove(key);
            records?.RemoveLast();
        });
        request.Affected++;
    }

    private void StageSet(PolicySection name, OrderedDictionary<string, JsonElement> section, LookupRecordShadow? records, PolicyChange.Set set, string where, List<ConfigProblem> problems, UndoLog undo, Request request)
    {
        if (!CheckMatch(name, set.Match, where, problems) || !CheckObject(set.Fields, "fields to set", where, problems))
        {
            return;
        }

        var matches = Matching(name, section, set.Match);
        if (matches.Count == 0)
        {
            problems.Add(NoMatch(name, set.Match, where));
            return;
        }

        foreach (var oldKey in matches)
        {
            var old = section[oldKey];
            int index = section.IndexOf(oldKey);
            var updated = PolicyEntryKey.Merge(old, set.Fields);
            string newKey = PolicyEntryKey.Touches(name, set.Fields) ? PolicyEntryKey.Of(name, updated) : oldKey;
            if (newKey != oldKey && section.ContainsKey(newKey))
            {
                problems.Add(new ConfigProblem(
                    $"$.{PolicySections.JsonName(name)}[{DocumentIndex(section, index)}]",
                    $"{where}setting these fields would make it the same {PolicySections.EntryName(name)} as $.{PolicySections.JsonName(name)}[{DocumentIndex(section, section.IndexOf(newKey))}] ({PolicyEntryKey.Describe(name, updated)})"));
                return;
            }

            // In place, O(1): RemoveAt + Insert would shift the whole section, making a batch of sets quadratic.
            section.SetAt(index, newKey, updated);
            var slot = records?[index] ?? default;
            records?.Put(index, LookupRecordShadow.Slot.Read(updated));
            undo.Add(() =>
            {
                section.SetAt(index, oldKey, old);
                records?.Put(index, slot);
            });
            request.Affected++;
        }
    }

    /// <summary>
    /// A set of one lookup record by its (VSID, CA) whose fields <see cref="ConfigLookupRecordReader.TrySet"/>
    /// applies to the typed record: found and read without a scan or a re-read of the entry, and
    /// its JSON entry left as it is, the fields pending on the slot until someone reads the JSON
    /// (<see cref="MergePending"/>, <see cref="PublishedEntries"/>). False, with nothing changed,
    /// when the change is of any other kind (the general way then takes it and says what is
    /// wrong, if anything).
    /// </summary>
    private static bool TrySetRecord(LookupRecordShadow records, PolicyChange.Set set, UndoLog undo)
    {
        if (!records.Clean
            || !PolicyEntryKey.TryOfRecordMatch(set.Match, out uint vsid, out var ca)
            || !records.TryFind(vsid, ca, out int index)
            || records[index] is not { Record: { } record } slot
            || ConfigLookupRecordReader.TrySet(record, set.Fields, out var written) is not { } updated)
        {
            return false;
        }

        // The key stays: TrySet changes no key field.
        records.Put(index, new LookupRecordShadow.Slot(true, updated, RecordField.Compose(slot.Pending, written)));
        undo.PutBack(records, index, slot);
        return true;
    }

    /// <summary>Writes the fields typed sets left pending into the lookupRecords section's JSON entries (undoably: it is part of the group's staging).</summary>
    private void MergePending(UndoLog undo)
    {
        var records = _records;
        if (records.PendingCount == 0)
        {
            return;
        }

        var section = _sections[PolicySection.LookupRecords];
        for (int i = 0; i < records.Count; i++)
        {
            if (records[i] is { Pending: { } pending } slot)
            {
                int index = i;
                var (key, old) = section.GetAt(index);
                section.SetAt(index, key, PolicyEntryKey.Merge(old, pending));
                records.Put(index, slot with { Pending = null });
                undo.Add(() =>
                {
                    section.SetAt(index, key, old);
                    records.Put(index, slot);
                });
            }
        }
    }

    private void StageRemove(PolicySection name, OrderedDictionary<string, JsonElement> section, LookupRecordShadow? records, JsonElement match, string where, List<ConfigProblem> problems, UndoLog undo, Request request)
    {
        if (!CheckMatch(name, match, where, problems))
        {
            return;
        }

        var matches = Matching(name, section, match);
        if (matches.Count == 0)
        {
            problems.Add(NoMatch(name, match, where));
            return;
        }

        foreach (var key in matches)
        {
            // The slot keeps its place under a key no entry has, its value undefined, until the
            // commit compacts the section: RemoveAt would shift the whole section per removal,
            // making a batch of N removals O(N x policy size).
            int index = section.IndexOf(key);
            var old = section[key];
            section.SetAt(index, $"{RemovedKeyPrefix}{_removed++}", default);
            var slot = records?[index] ?? default;
            records?.Put(index, LookupRecordShadow.Slot.Removed);
            undo.Add(() =>
            {
                section.SetAt(index, key, old);
                records?.Put(index, slot);
            });
            request.Affected++;
        }
    }

    private static bool IsRemoved(JsonElement entry) => entry.ValueKind == JsonValueKind.Undefined;

    /// <summary>Where the entry at <paramref name="index"/> stands in the document (removed slots not counted), for messages.</summary>
    private int DocumentIndex(OrderedDictionary<string, JsonElement> section, int index)
    {
        if (_removed == 0)
        {
            return index; // no removed slots wait for compaction: every slot is an entry
        }

        int live = 0;
        for (int i = 0; i < index; i++)
        {
            live += IsRemoved(section.GetAt(i).Value) ? 0 : 1;
        }

        return live;
    }

    /// <summary>Drops the slots of removed entries, once per version.</summary>
    private void Compact()
    {
        if (_removed == 0)
        {
            return;
        }

        foreach (var name in PolicySections.All)
        {
            var section = _sections[name];
            if (section.Values.Any(IsRemoved))
            {
                var live = new OrderedDictionary<string, JsonElement>(section.Count);
                foreach (var (key, entry) in section)
                {
                    if (!IsRemoved(entry))
                    {
                        live.Add(key, entry);
                    }
                }

                _sections[name] = live;
            }
        }

        _records.Compact();
        _removed = 0;
    }

    private void StageReplace(PolicySection name, IReadOnlyList<JsonElement> entries, UndoLog undo, Request request)
    {
        var old = _sections[name];
        var oldRecords = _records;
        _sections[name] = Keyed(name, entries.Select(e => e.Clone()));
        if (name == PolicySection.LookupRecords)
        {
            _records = LookupRecordShadow.Build(_sections[name].Values, _config.CustomerRoutes);
        }

        undo.Add(() =>
        {
            _sections[name] = old;
            _records = oldRecords;
        });
        request.Affected += entries.Count;
    }

    /// <summary>
    /// Whether every string and field name of the change's JSON can be read: JSON accepts a
    /// <c>\uD800</c>-style escape of half a surrogate pair, which .NET cannot turn into a string,
    /// and keys, matches and merges read them (ConfigStringCheck.cs).
    /// </summary>
    private static bool CheckStrings(PolicyChange change, string where, List<ConfigProblem> problems) => change switch
    {
        PolicyChange.Add add => CheckStrings(add.Entry, "entry", where, problems),
        PolicyChange.Set set => CheckStrings(set.Match, "match", where, problems) & CheckStrings(set.Fields, "fields to set", where, problems),
        PolicyChange.Remove remove => CheckStrings(remove.Match, "match", where, problems),
        PolicyChange.Replace replace => replace.Entries.Select((e, i) => CheckStrings(e, $"entry {i + 1}", where, problems)).Aggregate(true, (a, b) => a & b),
        _ => true,
    };

    private static bool CheckStrings(JsonElement value, string what, string where, List<ConfigProblem> problems)
    {
        var found = new ConfigProblemList();
        ConfigStringCheck.Check(value, ConfigJsonPath.Root, found);
        foreach (var problem in found.AsFound())
        {
            string field = problem.Path == ConfigJsonPath.Root ? "" : $" at {problem.Path}";
            problems.Add(new ConfigProblem("$", $"{where}in the {what}{field}, {problem.Message}"));
        }

        return found.Count == 0;
    }

    private static bool CheckObject(JsonElement value, string what, string where, List<ConfigProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Object && value.EnumerateObject().Any())
        {
            return true;
        }

        problems.Add(new ConfigProblem("$", $"{where}the {what} must be a JSON object naming at least one field, got {(value.ValueKind == JsonValueKind.Object ? "an empty object" : value.ValueKind.ToString())}"));
        return false;
    }

    private static bool CheckMatch(PolicySection name, JsonElement match, string where, List<ConfigProblem> problems)
    {
        return CheckObject(match, "match", where, problems) && CheckMatchFields(name, match, where, problems);
    }

    private static bool CheckMatchFields(PolicySection name, JsonElement match, string where, List<ConfigProblem> problems)
    {
        var fields = PolicyEntryKey.Fields(name);
        bool known = true;
        foreach (var p in match.EnumerateObject())
        {
            known &= p.NameEquals(fields);
        }

        if (known)
        {
            // A value that cannot be one of the field's (a VSID "abc") would match nothing and
            // look like an empty answer: say so instead.
            int before = problems.Count;
            foreach (var p in match.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.String && PolicyEntryKey.BadMatchValue(p.Name, p.Value.GetString()!) is { } why)
                {
                    problems.Add(new ConfigProblem("$." + p.Name, $"{where}{why}"));
                }
            }

            return problems.Count == before;
        }

        var unknown = match.EnumerateObject().Select(p => p.Name).Where(n => !fields.Contains(n)).ToList();

        problems.Add(new ConfigProblem("$", $"{where}a {PolicySections.EntryName(name)} has no field {string.Join(", ", unknown)}; match on {string.Join(", ", PolicyEntryKey.Fields(name))}"));
        return false;
    }

    private static ConfigProblem NoMatch(PolicySection name, JsonElement match, string where) =>
        new("$", $"{where}no {PolicySections.EntryName(name)} matches {match.GetRawText()}; nothing was changed");

    /// <summary>The keys of the entries <paramref name="match"/> selects: straight from the key when it names the key's fields, else by a scan.</summary>
    private static List<string> Matching(PolicySection name, OrderedDictionary<string, JsonElement> section, JsonElement match)
    {
        if (PolicyEntryKey.TryOfMatch(name, match, out string key))
        {
            // A match of the key's fields alone is the key: nothing else to compare.
            return section.TryGetValue(key, out var entry) && !IsRemoved(entry)
                && (PolicyEntryKey.IsKeyOnly(name, match) || PolicyEntryKey.Matches(name, entry, match)) ? [key] : [];
        }

        return [.. section.Where(kv => !IsRemoved(kv.Value) && PolicyEntryKey.Matches(name, kv.Value, match)).Select(kv => kv.Key)];
    }

    private void LoadDocument(JsonElement root)
    {
        _root = root;
        foreach (var section in PolicySections.All)
        {
            var array = root.ValueKind == JsonValueKind.Object && root.TryGetProperty(PolicySections.JsonName(section), out var found) ? found : default;
            _sections[section] = Keyed(section, array.ValueKind == JsonValueKind.Array ? array.EnumerateArray() : Enumerable.Empty<JsonElement>());
        }

        _records = LookupRecordShadow.Build(_sections[PolicySection.LookupRecords].Values, _config.CustomerRoutes);
    }

    /// <summary>Candidate documents validated whole so far (each costs the whole policy), for tests.</summary>
    internal long Validations { get; private set; }

    /// <summary>Writes the candidate document (the root with the sections as staged) and validates it as a file.</summary>
    private ConfigLoadResult Validate(bool wholeDocument, UndoLog undo)
    {
        Validations++;
        MergePending(undo);
        _candidate.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_candidate))
        {
            WriteDocument(writer, _root, s => _sections[s].Values.Where(e => !IsRemoved(e)));
        }

        var result = ConfigLoader.Load(_candidate.WrittenMemory);
        if (wholeDocument && result.Config is { } reloaded && !SamePorts(reloaded.Ports, _store.Current.Config.Ports))
        {
            return ConfigLoadResult.Invalid([new ConfigProblem("$.ports", "the ports changed; restart nvdp to change ports (the running policy is kept)")]);
        }

        if (wholeDocument && result.Config is { } changed && changed.PolicySource != _store.Current.Config.PolicySource)
        {
            return ConfigLoadResult.Invalid([new ConfigProblem("$.policySource", $"changed from {_store.Current.Config.PolicySource?.Url ?? "none"} to {changed.PolicySource?.Url ?? "none"}; restart nvdp to change where the policy comes from (the running policy is kept)")]);
        }

        return result;
    }

    private static bool SamePorts(IReadOnlyList<PortConfig> a, IReadOnlyList<PortConfig> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First == p.Second);

    /// <summary>
    /// The running policy as a configuration document (SPEC section 2): the file it started
    /// from with every change applied since, for <c>nvdp config show</c> and for saving the
    /// changes before a SIGHUP reload would replace them with the file.
    /// </summary>
    public string RunningDocument()
    {
        var published = _published;
        var buffer = new ArrayBufferWriter<byte>(1 << 16);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            WriteDocument(writer, published.Root, s => published.Sections[s].Get());
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary><paramref name="root"/>'s fields in its order, the editable sections taken from <paramref name="sections"/> (appended when the root lacks them).</summary>
    private static void WriteDocument(Utf8JsonWriter writer, JsonElement root, Func<PolicySection, IEnumerable<JsonElement>> sections)
    {
        writer.WriteStartObject();
        var written = new HashSet<PolicySection>();
        if (root.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in root.EnumerateObject())
            {
                if (PolicySections.TryParse(property.Name, out var s))
                {
                    WriteSection(writer, s, sections(s));
                    written.Add(s);
                }
                else
                {
                    property.WriteTo(writer);
                }
            }
        }

        foreach (var s in PolicySections.All.Where(s => !written.Contains(s) && sections(s).Any()))
        {
            WriteSection(writer, s, sections(s));
        }

        writer.WriteEndObject();
    }

    private static void WriteSection(Utf8JsonWriter writer, PolicySection section, IEnumerable<JsonElement> entries)
    {
        writer.WritePropertyName(PolicySections.JsonName(section));
        writer.WriteStartArray();
        foreach (var entry in entries)
        {
            entry.WriteTo(writer);
        }

        writer.WriteEndArray();
    }

    private Published Publish(long version) =>
        new(version, _root, _sections.ToDictionary(
            s => s.Key,
            s => new PublishedEntries([.. s.Value.Values], s.Key == PolicySection.LookupRecords && _records.PendingCount != 0 ? _records.Slots() : null)));
}
