using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Nvgre;

/// <summary>
/// Pushes the outer headers of an <see cref="EncapTemplate"/> into a frame's headroom and patches
/// the per-packet fields: outer length, TOS / traffic class, IPv4 checksum (from the template's
/// precomputed partial sum), IPv6 flow label, and the GRE key (VSID &lt;&lt; 8 | FlowID).
/// </summary>
public static class NvgreEncapsulator
{
    /// <summary>
    /// Encapsulates the inner frame (<paramref name="innerLength"/> bytes at the buffer's offset:
    /// inner Ethernet + IP packet) and leaves the buffer holding the outer frame.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Push(PacketBuffer buffer, int innerLength, in EncapTemplate t, byte[] templateBytes, uint vsid, byte tos, uint flowHash)
    {
        int start = buffer.Offset - t.Length;
        ref byte dst = ref MemoryMarshal.GetArrayDataReference(buffer.Data);
        ref byte src = ref MemoryMarshal.GetArrayDataReference(templateBytes);
        // The template sits right-aligned in its slot: copy the whole slot so it ends where the
        // inner frame starts (the bytes before the template land in headroom nobody reads).
        Unsafe.CopyBlockUnaligned(ref Unsafe.Add(ref dst, buffer.Offset - PolicySnapshot.TemplateStride), ref Unsafe.Add(ref src, t.SlotOffset), PolicySnapshot.TemplateStride);
        Span<byte> ip = buffer.Data.AsSpan(start + t.IpOffset);
        if (t.OuterV6)
        {
            uint word0 = 0x6000_0000u | ((uint)tos << 20) | FlowHash.FlowLabel(flowHash);
            BinaryPrimitives.WriteUInt32BigEndian(ip, word0);
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv6.PayloadLengthOffset..], (ushort)(Gre.NvgreSize + innerLength));
        }
        else
        {
            int total = Ipv4.MinHeaderSize + Gre.NvgreSize + innerLength;
            ip[Ipv4.TosOffset] = tos;
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.TotalLengthOffset..], (ushort)total);
            ulong sum = t.PartialIpv4Sum + (uint)total + tos; // TOS is the low byte of the first 16-bit word
            BinaryPrimitives.WriteUInt16BigEndian(ip[Ipv4.ChecksumOffset..], (ushort)~Checksum.Fold(sum));
        }

        BinaryPrimitives.WriteUInt32BigEndian(buffer.Data.AsSpan(start + t.Length - 4), (vsid << 8) | FlowHash.FlowId(flowHash));
        buffer.Offset = start;
        buffer.Length = innerLength + t.Length;
    }
}
