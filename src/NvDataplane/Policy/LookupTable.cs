using System.Runtime.CompilerServices;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// An immutable open-addressing hash table from (VSID, address) to an int (a record index).
/// Keys live in the slots, so a hit costs one slot read and a miss never touches the records;
/// linear probing keeps the probe sequence in one or two cache lines. Built once per policy
/// version and never written afterwards, so any number of threads read it without a lock.
/// </summary>
public sealed class LookupTable
{
    private readonly Slot[] _slots;
    private readonly int _mask;

    private struct Slot
    {
        public ulong Hi;
        public ulong Lo;
        public uint Vsid;
        public int ValuePlusOne; // 0 = empty
    }

    public LookupTable(IReadOnlyList<(uint Vsid, IpAddr Address, int Value)> entries)
    {
        int capacity = 16;
        while (capacity < entries.Count * 2)
        {
            capacity <<= 1;
        }

        _slots = LargeArray.Allocate<Slot>(capacity);
        _mask = capacity - 1;
        Count = entries.Count;
        foreach (var (vsid, address, value) in entries)
        {
            int i = (int)Hash(vsid, address) & _mask;
            while (_slots[i].ValuePlusOne != 0)
            {
                if (_slots[i].Vsid == vsid && _slots[i].Hi == address.Hi && _slots[i].Lo == address.Lo)
                {
                    throw new ArgumentException($"duplicate key (VSID {vsid}, {address})", nameof(entries));
                }

                i = (i + 1) & _mask;
            }

            _slots[i] = new Slot { Hi = address.Hi, Lo = address.Lo, Vsid = vsid, ValuePlusOne = value + 1 };
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
    public int Find(uint vsid, IpAddr address)
    {
        Slot[] slots = _slots;
        int i = (int)Hash(vsid, address) & _mask;
        while (true)
        {
            ref Slot s = ref slots[i];
            if (s.ValuePlusOne == 0)
            {
                return -1;
            }

            if (s.Lo == address.Lo && s.Hi == address.Hi && s.Vsid == vsid)
            {
                return s.ValuePlusOne - 1;
            }

            i = (i + 1) & _mask;
        }
    }

    /// <summary>Hints the CPU to fetch the slot of (vsid, address) ahead of <see cref="Find"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(uint vsid, IpAddr address)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            int i = (int)Hash(vsid, address) & _mask;
            fixed (Slot* p = &_slots[i])
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(p);
            }
        }
    }
}
