using System.Runtime.CompilerServices;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// An immutable open-addressing hash table from (VSID, address) to an int (a record index) and a
/// 64-bit payload the owner defines (for lookup records: what forwarding needs, so the common
/// path never touches the record itself). Keys live in the 32-byte slots, two to a cache line
/// (the slot array starts on a 64-byte boundary; a small table is not pinned, and should the collector move it, a hit may cost a second line): a hit costs one line, and linear probing stays in that
/// line or the next. Built once per policy version and never written afterwards, so any number
/// of threads read it without a lock.
/// </summary>
public sealed class LookupTable
{
    private readonly Slot[] _slots;
    private readonly int _base;
    private readonly int _mask;

    private struct Slot
    {
        public ulong Hi;
        public ulong Lo;
        public uint Vsid;
        public int ValuePlusOne; // 0 = empty
        public ulong Data;
    }

    public LookupTable(IReadOnlyList<(uint Vsid, IpAddr Address, int Value)> entries)
        : this(entries.Select(e => (e.Vsid, e.Address, e.Value, 0UL)).ToList())
    {
    }

    public unsafe LookupTable(IReadOnlyList<(uint Vsid, IpAddr Address, int Value, ulong Data)> entries)
    {
        int capacity = 16;
        while (capacity < entries.Count * 2)
        {
            capacity <<= 1;
        }

        // One spare slot lets the table start on a 64-byte boundary inside the array.
        _slots = LargeArray.Allocate<Slot>(capacity + 1);
        fixed (Slot* p = _slots)
        {
            _base = ((long)p & 63) == 0 ? 0 : 1;
        }

        _mask = capacity - 1;
        Count = entries.Count;
        foreach (var (vsid, address, value, data) in entries)
        {
            int i = (int)Hash(vsid, address) & _mask;
            while (_slots[_base + i].ValuePlusOne != 0)
            {
                ref Slot s = ref _slots[_base + i];
                if (s.Vsid == vsid && s.Hi == address.Hi && s.Lo == address.Lo)
                {
                    throw new ArgumentException($"duplicate key (VSID {vsid}, {address})", nameof(entries));
                }

                i = (i + 1) & _mask;
            }

            _slots[_base + i] = new Slot { Hi = address.Hi, Lo = address.Lo, Vsid = vsid, ValuePlusOne = value + 1, Data = data };
        }
    }

    public static LookupTable Empty { get; } = new(Array.Empty<(uint, IpAddr, int)>());

    public int Count { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Hash(uint vsid, IpAddr address)
    {
        ulong h = (address.Lo * 0x9E3779B97F4A7C15UL) ^ (address.Hi * 0xC2B2AE3D27D4EB4FUL) ^ (vsid * 0x165667B19E3779F9UL);
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        return (uint)(h >> 32);
    }

    /// <summary>The value for (vsid, address), or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(uint vsid, IpAddr address) => Find(vsid, address, out _);

    /// <summary>The value for (vsid, address), or -1; <paramref name="data"/> is its payload (0 on a miss).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(uint vsid, IpAddr address, out ulong data) => Find(vsid, address, Hash(vsid, address), out data);

    /// <summary>As <see cref="Find(uint, IpAddr, out ulong)"/> with the key's <see cref="Hash"/> already computed (by <see cref="Prefetch"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(uint vsid, IpAddr address, uint hash, out ulong data)
    {
        Slot[] slots = _slots;
        int i = (int)hash & _mask;
        while (true)
        {
            ref Slot s = ref slots[_base + i];
            if (s.ValuePlusOne == 0)
            {
                data = 0;
                return -1;
            }

            if (s.Lo == address.Lo && s.Hi == address.Hi && s.Vsid == vsid)
            {
                data = s.Data;
                return s.ValuePlusOne - 1;
            }

            i = (i + 1) & _mask;
        }
    }

    /// <summary>Hints the CPU to fetch the slot of (vsid, address) ahead of a lookup; returns the key's hash for it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe uint Prefetch(uint vsid, IpAddr address)
    {
        uint hash = Hash(vsid, address);
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref _slots[_base + ((int)hash & _mask)]));
        }

        return hash;
    }
}
