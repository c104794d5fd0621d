using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>A customer address learned from traffic, as reported: a lookup record of type Dynamic (VSID, CA → the L2Only record's MAC and PA).</summary>
public readonly record struct LearnedBinding(uint Vsid, IpAddr CustomerAddress, MacAddress MacAddress, IpAddr ProviderAddress);

/// <summary>
/// The CAs one forwarder has learned from the traffic of VMs with an L2Only record (HNV's
/// Dynamic records, docs/FORWARDING.md section 7): (VSID, CA) → index of the L2Only record in the
/// current policy version. Owned by one worker and used only from its thread, so no lock guards
/// the table; only the queue of new learns, read by the host to log them, takes a lock, and only
/// when something is learned for the first time. Bounded (<see cref="Capacity"/>: beyond it
/// nothing new is learned, counted in <see cref="Refused"/>; nor beyond <see cref="VsidCapacity"/>
/// in one VSID), aged (<see cref="MaxAgeNs"/> since
/// the CA was last seen as a source, on the frames' clock) and emptied when the policy changes.
/// The table is allocated at full size on the first learn, and the per-VSID counts for 256 VSIDs,
/// so no later learn allocates until more VSIDs than that learn at once.
/// </summary>
public sealed class LearnedBindings
{
    public const int DefaultCapacity = 65_536;
    public const long DefaultMaxAgeNs = 300L * 1_000_000_000;

    /// <summary>New learns waiting for the host to report them; more are counted, not kept.</summary>
    public const int ReportQueueCapacity = 1024;

    // When the table is full, expired entries are swept out at most this often (frame clock).
    private const long SweepIntervalNs = 1_000_000_000;

    private LearnedBinding[]? _reports; // allocated with the first report
    private readonly Lock _reportGate = new();
    private Dictionary<Key, Entry>? _table;
    private Dictionary<uint, int>? _perVsid; // bindings per VSID, for VsidCapacity
    private int _reportStart;
    private int _reportCount;
    private long _lastSweepNs = long.MinValue;

    private readonly record struct Key(uint Vsid, IpAddr Ca)
    {
        public override int GetHashCode() => (int)LookupTable.Hash(Vsid, Ca);
    }

    private struct Entry
    {
        public int Record;
        public long LastSeenNs;
    }

    /// <summary>The most bindings kept; set it before the first learn.</summary>
    public int Capacity { get; set; } = DefaultCapacity;

    /// <summary>
    /// The most bindings one VSID keeps (an eighth of the default table): a tenant whose VMs
    /// send from tens of thousands of addresses fills its own share, not the table every other
    /// tenant learns in. Set it before the first learn.
    /// </summary>
    public int VsidCapacity { get; set; } = DefaultCapacity / 8;

    /// <summary>How long a binding lives after its CA was last seen as a source.</summary>
    public long MaxAgeNs { get; set; } = DefaultMaxAgeNs;

    public int Count => _table?.Count ?? 0;

    /// <summary>Bindings learned (first sight of a CA, or a CA moved to another L2Only VM).</summary>
    public long Learned { get; private set; }

    /// <summary>Learns refused because the table, or the VSID's share of it, was full.</summary>
    public long Refused { get; private set; }

    /// <summary>Bindings dropped because their CA went unseen for <see cref="MaxAgeNs"/>.</summary>
    public long Expired { get; private set; }

    /// <summary>New learns the report queue had no room for (learned all the same).</summary>
    public long ReportsDropped { get; private set; }

    /// <summary>
    /// The L2Only record index learned for (vsid, ca), or -1 when none is or it has aged out
    /// (then it is removed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(uint vsid, IpAddr ca, long nowNs)
    {
        if (_table is not { Count: > 0 } table)
        {
            return -1;
        }

        ref Entry e = ref CollectionsMarshal.GetValueRefOrNullRef(table, new Key(vsid, ca));
        if (Unsafe.IsNullRef(ref e))
        {
            return -1;
        }

        if (nowNs - e.LastSeenNs > MaxAgeNs)
        {
            Forget(table, new Key(vsid, ca));
            Expired++;
            return -1;
        }

        return e.Record;
    }

    /// <summary>
    /// Records that <paramref name="ca"/> was seen as a source of the L2Only record
    /// <paramref name="record"/> in <paramref name="vsid"/>: refreshes a binding, or learns a new
    /// one (reported once, as <paramref name="policy"/> describes it) when there is room.
    /// </summary>
    public void Seen(uint vsid, IpAddr ca, int record, long nowNs, PolicySnapshot policy)
    {
        var table = _table ??= new Dictionary<Key, Entry>(Capacity);
        var key = new Key(vsid, ca);
        ref Entry e = ref CollectionsMarshal.GetValueRefOrNullRef(table, key);
        if (!Unsafe.IsNullRef(ref e))
        {
            e.LastSeenNs = nowNs;
            if (e.Record == record)
            {
                return;
            }

            e.Record = record; // the address moved to another L2Only VM of the VSID (failover)
        }
        else
        {
            var perVsid = _perVsid ??= new Dictionary<uint, int>(256);
            if (Full(table, perVsid, vsid) && (Sweep(nowNs) == 0 || Full(table, perVsid, vsid)))
            {
                Refused++;
                return;
            }

            table.Add(key, new Entry { Record = record, LastSeenNs = nowNs });
            CollectionsMarshal.GetValueRefOrAddDefault(perVsid, vsid, out _)++;
        }

        Learned++;
        Report(Describe(policy, vsid, ca, record));
    }

    private bool Full(Dictionary<Key, Entry> table, Dictionary<uint, int> perVsid, uint vsid) =>
        table.Count >= Capacity || (perVsid.TryGetValue(vsid, out int n) && n >= VsidCapacity);

    /// <summary>Forgets everything (a new policy version: the L2Only records may be gone).</summary>
    public void Clear()
    {
        if (_table is { Count: > 0 })
        {
            _table.Clear();
        }

        if (_perVsid is { Count: > 0 })
        {
            _perVsid.Clear();
        }
    }

    /// <summary>Removes one binding and lowers its VSID's count with it: the two must agree, or a VSID's share fills with bindings long gone.</summary>
    private void Forget(Dictionary<Key, Entry> table, Key key)
    {
        table.Remove(key);
        CollectionsMarshal.GetValueRefOrNullRef(_perVsid!, key.Vsid)--;
    }

    /// <summary>The bindings now held, for display (owner's thread only); ordered by VSID, then family, then address.</summary>
    public List<LearnedBinding> Snapshot(PolicySnapshot policy)
    {
        var list = new List<LearnedBinding>();
        if (_table is { } table)
        {
            foreach (var (key, entry) in table)
            {
                list.Add(Describe(policy, key.Vsid, key.Ca, entry.Record));
            }
        }

        list.Sort((a, b) => a.Vsid != b.Vsid ? a.Vsid.CompareTo(b.Vsid)
            : a.CustomerAddress.IsV4 != b.CustomerAddress.IsV4 ? (a.CustomerAddress.IsV4 ? -1 : 1)
            : a.CustomerAddress.CompareTo(b.CustomerAddress));
        return list;
    }

    /// <summary>Takes the learns not yet reported, oldest first (any thread).</summary>
    public LearnedBinding[] TakeNew()
    {
        lock (_reportGate)
        {
            var taken = new LearnedBinding[_reportCount];
            for (int i = 0; i < taken.Length; i++)
            {
                taken[i] = _reports![(_reportStart + i) % ReportQueueCapacity];
            }

            _reportStart = 0;
            _reportCount = 0;
            return taken;
        }
    }

    public static LearnedBinding Describe(PolicySnapshot policy, uint vsid, IpAddr ca, int record)
    {
        ref readonly RecordEntry r = ref policy.Records[record];
        return new LearnedBinding(vsid, ca, r.MacAddress, r.ProviderAddress);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Report(LearnedBinding binding)
    {
        lock (_reportGate)
        {
            if (_reportCount == ReportQueueCapacity)
            {
                ReportsDropped++;
                return;
            }

            _reports ??= new LearnedBinding[ReportQueueCapacity];
            _reports[(_reportStart + _reportCount) % ReportQueueCapacity] = binding;
            _reportCount++;
        }
    }

    /// <summary>Removes the expired bindings, at most once per <see cref="SweepIntervalNs"/>; returns how many went.</summary>
    private int Sweep(long nowNs)
    {
        if (_table is not { } table || (_lastSweepNs != long.MinValue && nowNs - _lastSweepNs < SweepIntervalNs))
        {
            return 0;
        }

        _lastSweepNs = nowNs;
        int removed = 0;
        foreach (var (key, entry) in table)
        {
            if (nowNs - entry.LastSeenNs > MaxAgeNs)
            {
                Forget(table, key); // removing is allowed while enumerating a Dictionary
                removed++;
            }
        }

        Expired += removed;
        return removed;
    }
}
