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
/// read, two records collide, a NAT PA is shared, or the change reaches beyond the section (a VSID
/// appears or disappears, which the ACLs, virtual subnets and external ports check against; a
/// GatewayWildcard record, which external ports need), <see cref="Vouches"/> is false and the
/// editor validates the whole candidate document as a file, which says what is wrong.
/// </remarks>
internal sealed class LookupRecordShadow
{
    private readonly List<Slot> _slots = [];
    private readonly Dictionary<RecordKey, int> _keys = [];
    private readonly Dictionary<IpAddr, (int Uses, int Nat)> _pas = [];
    private readonly Dictionary<uint, int> _vsids = [];
    private int _unreadable;
    private int _collisions;
    private int _natConflicts;

    /// <summary>A slot of the section: a removed entry, an entry that does not read on its own, or its record.</summary>
    public readonly record struct Slot(bool Live, LookupRecordConfig? Record)
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

    public static LookupRecordShadow Build(IEnumerable<JsonElement> entries)
    {
        var shadow = new LookupRecordShadow();
        foreach (var entry in entries)
        {
            shadow.Append(Slot.Read(entry));
        }

        shadow.ReachesBeyond = false;
        return shadow;
    }

    public int Count => _slots.Count;

    /// <summary>
    /// Set when a change since <see cref="Published"/> added or dropped a VSID, or touched a
    /// GatewayWildcard record: the rest of the document must be checked again.
    /// </summary>
    public bool ReachesBeyond { get; private set; }

    /// <summary>Whether the section as it stands is valid on its own terms and leaves the rest of the document as valid as it was.</summary>
    public bool Vouches => _unreadable == 0 && _collisions == 0 && _natConflicts == 0 && !ReachesBeyond;

    public Slot this[int index] => _slots[index];

    /// <summary>The version the section is at was published (validated as a whole): nothing reaches beyond it any more.</summary>
    public void Published() => ReachesBeyond = false;

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
        Tally(_slots[index], -1);
        _slots[index] = slot;
        Tally(slot, +1);
    }

    /// <summary>Drops the removed slots, as the editor's section drops them.</summary>
    public void Compact() => _slots.RemoveAll(s => !s.Live);

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

    private void Tally(Slot slot, int delta)
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

        int records = _vsids.GetValueOrDefault(r.VirtualSubnetId) + delta;
        ReachesBeyond |= (delta > 0 && records == 1) || records == 0 || r.Type == RecordType.GatewayWildcard;
        Store(_vsids, r.VirtualSubnetId, records);
    }

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
