using System.Runtime.CompilerServices;
using NvDataplane.Headers;

namespace NvDataplane.Pipeline;

/// <summary>
/// The inner flow hash behind the NVGRE FlowID (8 bits) and the outer IPv6 flow label (20 bits):
/// addresses and protocol, plus TCP/UDP ports when the packet is not a fragment (fragments of one
/// datagram must stay on one path). Deterministic, so replay output is reproducible.
/// </summary>
public static class FlowHash
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Compute(in PacketInfo info)
    {
        ulong ports = info.IsFragment ? 0 : ((ulong)info.SourcePort << 16) | info.DestinationPort;
        ulong h = (info.Source.Lo ^ (info.Source.Hi * 0x9E3779B97F4A7C15UL)) * 0xBF58476D1CE4E5B9UL;
        h ^= (info.Destination.Lo ^ (info.Destination.Hi * 0x94D049BB133111EBUL)) * 0x9E3779B97F4A7C15UL;
        h ^= ((ports << 8) | info.Protocol) * 0xD6E8FEB86659FD93UL;
        h ^= h >> 31;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 29;
        return (uint)(h >> 32);
    }

    /// <summary>The 8-bit FlowID folded from the whole hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte FlowId(uint hash) => (byte)(hash ^ (hash >> 8) ^ (hash >> 16) ^ (hash >> 24));

    /// <summary>A 20-bit IPv6 flow label.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint FlowLabel(uint hash) => (hash >> 12) & 0xFFFFF;
}
