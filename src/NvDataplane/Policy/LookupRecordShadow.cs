using System.Text.Json;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// The policy editor's <c>lookupRecords</c> section read into typed records, slot by slot in
/// document order, with the counts the checks across records need: how many records share each
/// key, each PA (and how many of those are TranslationMethodNat), each VSID. A request that only
/// changes lookup records is then validated by what it changes instead of by reading the whole
/// document again, and compiled from these records.
/// </summary>
/// <remarks>
/// It only ever vouches that the section is valid, never words a refusal: when a record cannot be
/// read, two records collide, a NAT PA is shared, a record sits at a gateway address of the
/// customer routes in effect, or the change reaches beyond the section (a VSID appears or
/// disappears, which the ACLs, virtual subnets and external ports check against; a
/// GatewayWildcard record, which external ports need and of which a routing domain may have one
/// per family), <see cref="Vouches"/> is false and the editor validates the whole candidate
/// document as a file, which says what is wrong.
/// </remarks>
internal sealed class LookupRecordShadow
{
    private readonly List<Slot> _slots = [];
    private readonly Dictionary<RecordKey, int> _keys = [];
    private readonly Dictionary<IpAddr, (int Uses, int Nat)> _pas = [];
    private readonly Dictionary<uint, int> _vsids = [];

    // Where the record of each (VSID, CA) stands, for records other than L2Only ones (which share
    // the wildcard CA). It may lack a key after a collision came and went, never points to a slot
    // that holds another key: a missing key sends a change the general way (see TryFind).
    private readonly Dictionary<RecordKey, int> _where = [];
    // The gateway addresses of the customer routes in effect (ConfigLookupRecordReader.GatewayAddresses),
    // which no record may have, and how many live records sit at one: while any does, the
    // section does not vouch and the general way refuses the change. A count, not a flag, so
    // that a refused change, rolled back, leaves the next ones the fast path.
    private Dictionary<(uint Vsid, IpAddr Address), IpPrefix> _gateways = [];
    private IReadOnlyList<CustomerRouteConfig>? _routes;
    private int _atGateway;
    private int _unreadable;
    private int _collisions;
    private int _natConflicts;

    /// <summary>
    /// A slot of the section: a removed entry, an entry that does not read on its own, or its
    /// record; with <paramref name="Pending"/>, the fields typed sets wrote over the record that
    /// the section's JSON entry does not show yet (the policy editor merges them when the JSON is
    /// read: <see cref="PolicyEntryKey.Merge(JsonElement, RecordField[])"/>).
    /// </summary>
    public readonly record struct Slot(bool Live, LookupRecordConfig? Record, RecordField[]? Pending = null)
    {
        public static Slot Removed => default;

        public static Slot Read(JsonElement entry) =>
            entry.ValueKind == JsonValueKind.Undefined ? Removed : new Slot(true, ConfigLookupRecordReader.ReadAlone(entry));
    }

    /// <summary>What makes a record unique (ConfigLookupRecordReader): (VSID, CA), and for L2Only records the MAC too.</summary>
    private readonly record struct RecordKey(uint Vsid, IpAddr Ca, bool L2Only, MacAddress Mac)
    {
        public static RecordKey Of(LookupRecordConfig r) =>
            r.Type == RecordType.L2Only ? new(r.VirtualSubnetId, r.CustomerAddress, true, r.MacAddress) : new(r.VirtualSubnetId, r.CustomerAddress, false, default);
    }

    public static LookupRecordShadow Build(IEnumerable<JsonElement> entries, IReadOnlyList<CustomerRouteConfig> routes)
    {
        var shadow = new LookupRecordShadow();
        shadow.UseRoutes(routes);
        foreach (var entry in entries)
        {
            shadow.Append(Slot.Read(entry));
        }

        shadow.ReachesBeyond = false;
        return shadow;
    }

    public int Count => _slots.Count;

    /// <summary>Slots whose JSON entry lacks fields a typed set wrote (<see cref="Slot.Pending"/>).</summary>
    public int PendingCount { get; private set; }

    /// <summary>
    /// Set when a change since <see cref="Published"/> added or dropped a VSID, or touched a
    /// GatewayWildcard record: the rest of the document must be checked again.
    /// </summary>
    public bool ReachesBeyond { get; private set; }

    /// <summary>Whether the section as it stands is valid on its own terms and leaves the rest of the document as valid as it was.</summary>
    public bool Vouches => _unreadable == 0 && _collisions == 0 && _natConflicts == 0 && _atGateway == 0 && !ReachesBeyond;

    /// <summary>
    /// Every live slot holds a record and no two share a key: then each (VSID, CA) that
    /// <see cref="TryFind"/> finds is the one entry a match of that key selects.
    /// </summary>
    public bool Clean => _unreadable == 0 && _collisions == 0;

    /// <summary>The slot of the record (other than L2Only) of (<paramref name="vsid"/>, <paramref name="ca"/>), when known.</summary>
    public bool TryFind(uint vsid, IpAddr ca, out int index) => _where.TryGetValue(new RecordKey(vsid, ca, false, default), out index);

    public Slot this[int index] => _slots[index];

    /// <summary>
    /// The version the section is at was published (validated as a whole) with
    /// <paramref name="routes"/>: nothing reaches beyond it any more, and records are checked
    /// against those routes' gateway addresses from now on.
    /// </summary>
    public void Published(IReadOnlyList<CustomerRouteConfig> routes)
    {
        ReachesBeyond = false;
        UseRoutes(routes);
    }

    private void UseRoutes(IReadOnlyList<CustomerRouteConfig> routes)
    {
        // A version the fast path made shares its routes with the one before (the same list).
        if (!ReferenceEquals(routes, _routes))
        {
            _gateways = ConfigLookupRecordReader.GatewayAddresses(routes);
            _routes = routes;
            _atGateway = 0;
            foreach (var slot in _slots)
            {
                _atGateway += slot is { Live: true, Record: { } r } && AtGateway(r) ? 1 : 0;
            }
        }
    }

    public void Append(Slot slot)
    {
        _slots.Add(default);
        Put(_slots.Count - 1, slot);
    }

    /// <summary>Takes back the last <see cref="Append"/>.</summary>
    public void RemoveLast()
    {
        Put(_slots.Count - 1, Slot.Removed);
        _slots.RemoveAt(_slots.Count - 1);
    }

    public void Put(int index, Slot slot)
    {
        var old = _slots[index];
        if (old.Record is { } gone && _where.TryGetValue(RecordKey.Of(gone), out int at) && at == index)
        {
            _where.Remove(RecordKey.Of(gone));
        }

        // A record that keeps its VSID leaves the VSID's count as it was: only the key and PA tallies move.
        bool sameVsid = old.Record is { } o && slot.Record is { } n && o.VirtualSubnetId == n.VirtualSubnetId;
        Tally(old, -1, countVsid: !sameVsid);
        PendingCount += (slot.Pending is null ? 0 : 1) - (old.Pending is null ? 0 : 1);
        _slots[index] = slot;
        Tally(slot, +1, countVsid: !sameVsid);
        if (slot.Record is { } record && record.Type != RecordType.L2Only)
        {
            _where[RecordKey.Of(record)] = index;
        }
    }

    /// <summary>Drops the removed slots, as the editor's section drops them (the records move, so where they stand is found again).</summary>
    public void Compact()
    {
        if (_slots.RemoveAll(s => !s.Live) == 0)
        {
            return;
        }

        _where.Clear();
        for (int i = 0; i < _slots.Count; i++)
        {
            if (_slots[i].Record is { } record && record.Type != RecordType.L2Only)
            {
                _where[RecordKey.Of(record)] = i;
            }
        }
    }

    /// <summary>The records, in document order (only meaningful when <see cref="Vouches"/>).</summary>
    public LookupRecordConfig[] Records()
    {
        var records = new LookupRecordConfig[_slots.Count];
        int n = 0;
        foreach (var slot in _slots)
        {
            if (slot.Record is { } r)
            {
                records[n++] = r;
            }
        }

        return n == records.Length ? records : records[..n];
    }

    private void Tally(Slot slot, int delta, bool countVsid)
    {
        if (!slot.Live)
        {
            return;
        }

        if (slot.Record is not { } r)
        {
            _unreadable += delta;
            return;
        }

        var key = RecordKey.Of(r);
        int holders = _keys.GetValueOrDefault(key) + delta;
        _collisions += (delta > 0 && holders == 2) ? 1 : (delta < 0 && holders == 1) ? -1 : 0;
        Store(_keys, key, holders);

        var (uses, nat) = _pas.GetValueOrDefault(r.ProviderAddress);
        bool conflictBefore = nat >= 1 && uses >= 2;
        uses += delta;
        nat += r.Rule == TranslationRule.Nat ? delta : 0;
        bool conflictAfter = nat >= 1 && uses >= 2;
        _natConflicts += (conflictAfter ? 1 : 0) - (conflictBefore ? 1 : 0);
        if (uses == 0)
        {
            _pas.Remove(r.ProviderAddress);
        }
        else
        {
            _pas[r.ProviderAddress] = (uses, nat);
        }

        ReachesBeyond |= r.Type == RecordType.GatewayWildcard;
        _atGateway += AtGateway(r) ? delta : 0;
        if (countVsid)
        {
            int records = _vsids.GetValueOrDefault(r.VirtualSubnetId) + delta;
            ReachesBeyond |= (delta > 0 && records == 1) || records == 0;
            Store(_vsids, r.VirtualSubnetId, records);
        }
    }

    private bool AtGateway(LookupRecordConfig r) => _gateways.Count != 0 && _gateways.ContainsKey((r.VirtualSubnetId, r.CustomerAddress));

    /// <summary>The slots, in order, as they stand (the editor publishes them with the section's entries).</summary>
    public Slot[] Slots() => [.. _slots];

    private static void Store<TKey>(Dictionary<TKey, int> counts, TKey key, int count)
        where TKey : notnull
    {
        if (count == 0)
        {
            counts.Remove(key);
        }
        else
        {
            counts[key] = count;
        }
    }
}

/// <summary>A field a typed set wrote over a lookup record: its name in the file and the string it was given.</summary>
internal readonly record struct RecordField(string Name, string Value)
{
    /// <summary><paramref name="later"/> written over <paramref name="earlier"/>, as two merges in a row write them: the earlier fields the later do not name, then the later.</summary>
    public static RecordField[] Compose(RecordField[]? earlier, RecordField[] later)
    {
        if (earlier is null || Array.TrueForAll(earlier, e => Array.FindIndex(later, l => l.Name == e.Name) >= 0))
        {
            return later; // the usual case: the same field set again
        }

        var composed = new List<RecordField>(earlier.Length + later.Length);
        foreach (var field in earlier)
        {
            if (Array.FindIndex(later, l => l.Name == field.Name) < 0)
            {
                composed.Add(field);
            }
        }

        composed.AddRange(later);
        return [.. composed];
    }
}
