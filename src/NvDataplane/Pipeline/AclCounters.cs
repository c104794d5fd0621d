using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>
/// Hit counters of the ACL rules for one worker: a plain <c>long[]</c> per policy version,
/// indexed by the rule's place in <c>acls</c> and written only by the worker (no lock, no
/// interlocked add). When the worker takes a new policy version, the old version's counts are
/// kept by rule label, so a rule that survives a reload under the same label keeps its count.
/// </summary>
public sealed class AclCounters
{
    private readonly Dictionary<string, long> _retired = new(StringComparer.Ordinal);
    private AclTable _table = AclTable.Empty;
    private long[] _hits = [];

    /// <summary>Switches to <paramref name="table"/>; returns the array the worker counts its rules' hits in.</summary>
    internal long[] Use(AclTable table)
    {
        if (ReferenceEquals(table, _table))
        {
            return _hits;
        }

        for (int i = 0; i < _hits.Length; i++)
        {
            string label = _table.Labels[i];
            _retired[label] = _retired.GetValueOrDefault(label) + _hits[i];
        }

        _table = table;
        _hits = new long[table.Count];
        return _hits;
    }

    /// <summary>
    /// Hits per rule label: the current policy's rules in file order, then rules a reload has
    /// removed since. Read it from the worker's thread or once the worker has stopped.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, long>> Read()
    {
        var result = new List<KeyValuePair<string, long>>(_hits.Length);
        var current = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < _hits.Length; i++)
        {
            string label = _table.Labels[i];
            current.Add(label);
            result.Add(new(label, _hits[i] + _retired.GetValueOrDefault(label)));
        }

        foreach (var (label, hits) in _retired)
        {
            if (!current.Contains(label))
            {
                result.Add(new(label, hits));
            }
        }

        return result;
    }
}
