using BenchmarkDotNet.Attributes;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Bench;

/// <summary>
/// <see cref="LookupTable.Find"/> of (VSID, IPv4 CA) keys. Keys are drawn at random from a
/// 2^20-key array read sequentially with a cursor that moves on every invocation, so the
/// 1,000,000-entry table (2^21 slots × 24 B = 48 MiB) is measured with its cache misses rather
/// than with the few slots a short key list would keep hot. The lookups of one invocation are
/// independent (as for the frames of a batch), so the CPU may overlap their misses.
/// </summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private const int LookupsPerInvoke = 1024;
    private const int KeyCount = 1 << 20;
    private const uint Vsid = 5001;

    private LookupTable _table = LookupTable.Empty;
    private IpAddr[] _hitKeys = [];
    private IpAddr[] _missKeys = [];
    private int _cursor;

    [Params(1_000, 1_000_000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var entries = new List<(uint, IpAddr, int)>(Entries);
        for (int i = 0; i < Entries; i++)
        {
            entries.Add((Vsid, Address(i), i));
        }

        _table = new LookupTable(entries);
        var rng = new Random(7);
        _hitKeys = new IpAddr[KeyCount];
        _missKeys = new IpAddr[KeyCount];
        for (int i = 0; i < KeyCount; i++)
        {
            _hitKeys[i] = Address(rng.Next(Entries));
            _missKeys[i] = Address(Entries + rng.Next(Entries)); // same address space, never inserted
        }

        if (_table.Find(Vsid, _hitKeys[0]) < 0 || _table.Find(Vsid, _missKeys[0]) >= 0)
        {
            throw new InvalidOperationException("hit keys must hit and miss keys must miss");
        }
    }

    [Benchmark(OperationsPerInvoke = LookupsPerInvoke)]
    public int FindHit() => Run(_hitKeys);

    [Benchmark(OperationsPerInvoke = LookupsPerInvoke)]
    public int FindMiss() => Run(_missKeys);

    private int Run(IpAddr[] keys)
    {
        LookupTable table = _table;
        int start = _cursor;
        int acc = 0;
        for (int i = 0; i < LookupsPerInvoke; i++)
        {
            acc += table.Find(Vsid, keys[start + i]);
        }

        _cursor = (start + LookupsPerInvoke) & (KeyCount - 1);
        return acc;
    }

    private static IpAddr Address(int i) => IpAddr.FromV4(0x0A00_0000u + (uint)i);
}
