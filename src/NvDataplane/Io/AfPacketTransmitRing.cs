using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using static NvDataplane.Io.LinuxNative;

namespace NvDataplane.Io;

/// <summary>
/// The transmit side of an <c>afpacket:</c> port: a TPACKET_V3 transmit ring (Linux 4.11 or
/// later) on the port's socket, mapped behind its receive ring. A frame is copied once into a
/// slot, and one send(2) per batch has the kernel take every slot filled.
/// </summary>
/// <remarks>
/// <para>
/// Every slot starts with a virtio_net_hdr (the socket has PACKET_VNET_HDR) that asks for nothing
/// but says the whole frame is header (hdr_len): the kernel then copies the frame into the socket
/// buffer it sends, as sendmmsg(2) does, instead of hanging the slot's pages off it. Hung pages
/// look like a zero-copy send to the kernel, and a veth copies those again, a page allocated per
/// frame (skb_copy_ubufs): that made a plain transmit ring dearer per frame than sendmmsg(2) over
/// a veth, where this one is cheaper (measured: see the README, "Over real devices").
/// </para>
/// <para>
/// The ring is blocks cut into slots of one size, fixed at open: room for the largest frame a pool
/// buffer holds (<see cref="BufferPool.DefaultDataSize"/>: a 9,216-byte jumbo frame and more), or
/// for the interface's MTU then if that is larger, and as many blocks as make
/// <see cref="MinSlotCount"/> slots, <see cref="MaxBlockCount"/> at most (2.4 MiB for 9,344-byte slots). So an MTU raised while the
/// port runs lets larger frames out as soon as it is read again. Transmit fills slots in order
/// and stops at the first one the device still holds; a slot comes back once the device is done
/// with its frame. A frame that cannot go out as it is (shorter than an Ethernet header, longer
/// than a slot, or longer than the MTU allows: 14 bytes more, 18 for a frame with an 802.1Q tag)
/// is taken and counted in <see cref="Dropped"/>. With a virtio_net_hdr the kernel leaves the
/// MTU to the sender, so the owner reads the MTU again every 200 ms (<see cref="ReadMtuAgain"/>,
/// <see cref="AfPacketPort.HousekeepingIntervalMs"/>); a frame sent between a lowered MTU and
/// that read leaves as it is. Slots the kernel could not
/// take at once (socket buffer or device queue full) stay queued, and the next
/// <see cref="Transmit"/> or <see cref="SendUnsent"/> asks it again; with the link down they are
/// taken back and counted as dropped.
/// </para>
/// </remarks>
internal sealed unsafe class AfPacketTransmitRing
{
    private const int BlockSize = 128 * 1024;

    /// <summary>Frames the ring holds at least: what a batch or a few need when the device is slow to hand slots back.</summary>
    private const int MinSlotCount = 256;

    /// <summary>Blocks at most (4 MiB): with slots for an MTU of 16,000 or more the ring holds fewer than <see cref="MinSlotCount"/>.</summary>
    private const int MaxBlockCount = 32;

    /// <summary>Where the virtio_net_hdr starts in a slot, the frame right behind it.</summary>
    private static readonly int DataOffset = Tpacket3HeaderSize;

    private readonly string _name;
    private readonly string _interfaceName;
    private readonly int _fd;
    private byte* _ring;
    private readonly int _slotSize;
    private readonly int _slotsPerBlock;
    private readonly int _blockCount;
    private readonly int _slotCount;

    // Where filling stands: the slot filled next, and whether the kernel left filled slots
    // behind at the last request.
    private int _next;
    private bool _unsent;

    /// <summary>The longest untagged frame the MTU lets out: MTU + 14.</summary>
    private int _frameLimit;

    /// <summary>
    /// Asks for the ring on the socket (TPACKET_V3, PACKET_VNET_HDR and PACKET_LOSS already set,
    /// no ring mapped yet), its slots sized for the interface's MTU now. <see cref="Attach"/> then takes
    /// the ring where the socket's mapping put it.
    /// </summary>
    /// <param name="name">The port's name, for messages.</param>
    public AfPacketTransmitRing(string name, string interfaceName, int fd)
    {
        _name = name;
        _interfaceName = interfaceName;
        _fd = fd;
        int mtu = ReadMtu();
        if (mtu < 0)
        {
            throw OpenFailure(name, "reading the MTU of " + interfaceName + " (SIOCGIFMTU)", Marshal.GetLastPInvokeError());
        }

        _frameLimit = mtu + Ethernet.HeaderSize;
        Mtu = mtu;
        int largestFrame = Math.Max(BufferPool.DefaultDataSize, mtu + Ethernet.HeaderSize + Ethernet.VlanTagSize);
        _slotSize = Math.Min(TpacketAlign(DataOffset + VirtioNetHeaderSize + largestFrame), BlockSize);
        _slotsPerBlock = BlockSize / _slotSize;
        _blockCount = Math.Min((MinSlotCount + _slotsPerBlock - 1) / _slotsPerBlock, MaxBlockCount);
        _slotCount = _slotsPerBlock * _blockCount;
        RequestRing();
    }

    /// <summary>Bytes the ring takes in the socket's mapping, after the receive ring.</summary>
    public int MappedSize => BlockSize * _blockCount;

    /// <summary>Takes the ring where the socket's mapping holds it: <see cref="MappedSize"/> bytes.</summary>
    public void Attach(byte* ring) => _ring = ring;

    /// <summary>Frames refused for good (taken by <see cref="Transmit"/>, not sent).</summary>
    public long Dropped { get; private set; }

    /// <summary>Fills slots with as many frames as are free and asks the kernel to send them; returns the frames taken.</summary>
    public int Transmit(ReadOnlySpan<PacketBuffer> frames)
    {
        int taken = 0;
        bool filled = false;
        while (taken < frames.Length)
        {
            var frame = frames[taken];
            if (!CanSend(frame))
            {
                Dropped++; // this frame can never go out as it is: take it so the rest can
                taken++;
                continue;
            }

            var slot = Slot(_next);

            // Acquire: the slot is written only after the kernel's hand-back is seen.
            if ((Volatile.Read(ref slot->Status) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) != 0)
            {
                break; // the ring is full: the caller sends the rest later
            }

            // virtio_net_hdr, little-endian: no flags, no GSO, hdr_len the whole frame, no checksum to do.
            byte* header = (byte*)slot + DataOffset;
            *(ulong*)header = 0;
            *(ushort*)(header + 8) = 0;
            BinaryPrimitives.WriteUInt16LittleEndian(new Span<byte>(header + 2, 2), (ushort)frame.Length);
            frame.Frame.CopyTo(new Span<byte>(header + VirtioNetHeaderSize, frame.Length));
            slot->Length = (uint)(VirtioNetHeaderSize + frame.Length); // tp_next_offset stays 0, as the kernel zeroed it
            Volatile.Write(ref slot->Status, TP_STATUS_SEND_REQUEST); // release: after the frame
            _next = _next + 1 == _slotCount ? 0 : _next + 1;
            filled = true;
            taken++;
        }

        if (filled || _unsent)
        {
            RequestTransmit();
        }

        return taken;
    }

    /// <summary>Asks the kernel again for the slots it could not take at the last request, if any.</summary>
    public void SendUnsent()
    {
        if (_unsent)
        {
            RequestTransmit();
        }
    }

    /// <summary>The interface's MTU as last read.</summary>
    public int Mtu { get; private set; }

    /// <summary>Reads the interface's MTU again, for the frames sent from now on.</summary>
    public void ReadMtuAgain()
    {
        int mtu = ReadMtu();
        if (mtu >= 0)
        {
            _frameLimit = mtu + Ethernet.HeaderSize;
            Mtu = mtu;
        }
    }

    /// <summary>send(2) with no data: the kernel takes the filled slots, in order, until one is not filled or it cannot take more.</summary>
    private void RequestTransmit()
    {
        if (Send(_fd, null, 0, MSG_DONTWAIT) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is not (EAGAIN or ENOBUFS or EINTR))
            {
                TakeBackUnsent(errno); // else what is left goes at the next request
            }
        }

        // The kernel takes slots in order: the last one filled still waiting means it stopped early.
        _unsent = Volatile.Read(ref Slot(PreviousSlot(_next))->Status) == TP_STATUS_SEND_REQUEST;
    }

    /// <summary>
    /// With the link down, takes back the slots the kernel did not take and counts them as
    /// dropped; the kernel's next slot is the oldest of them, so filling goes back to it. Any
    /// other failure is thrown.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TakeBackUnsent(int errno)
    {
        if (errno != ENETDOWN)
        {
            throw errno is ENXIO or ENODEV
                ? new IOException($"{_name}: interface {_interfaceName} went away ({Describe(errno)})")
                : new IOException($"{_name}: transmitting failed: {Describe(errno)}");
        }

        for (int i = 0; i < _slotCount; i++)
        {
            int previous = PreviousSlot(_next);
            var slot = Slot(previous);
            if (Volatile.Read(ref slot->Status) != TP_STATUS_SEND_REQUEST)
            {
                break;
            }

            slot->Status = TP_STATUS_AVAILABLE;
            _next = previous;
            Dropped++;
        }
    }

    private Tpacket3Hdr* Slot(int index) =>
        (Tpacket3Hdr*)(_ring + ((nint)(index / _slotsPerBlock) * BlockSize) + ((nint)(index % _slotsPerBlock) * _slotSize));

    private int PreviousSlot(int index) => (index == 0 ? _slotCount : index) - 1;

    /// <summary>What the device could never send as it is: see the class remarks.</summary>
    private bool CanSend(PacketBuffer frame)
    {
        int length = frame.Length;
        return length >= Ethernet.HeaderSize
            && length <= _slotSize - DataOffset - VirtioNetHeaderSize
            && (length <= _frameLimit
                || (length <= _frameLimit + Ethernet.VlanTagSize && Ethernet.ReadType(frame.Frame) == Ethernet.TypeVlan));
    }

    /// <summary>The ring itself; the socket has PACKET_LOSS already, which must come before any ring.</summary>
    private void RequestRing()
    {
        var request = new TpacketReq3
        {
            BlockSize = BlockSize,
            BlockCount = (uint)_blockCount,
            FrameSize = (uint)_slotSize,
            FrameCount = (uint)_slotCount,
        };
        if (SetSockOpt(_fd, SOL_PACKET, PACKET_TX_RING, &request, (uint)sizeof(TpacketReq3)) < 0)
        {
            throw OpenFailure(_name, $"setting up a transmit ring of {_slotCount} x {_slotSize} bytes (PACKET_TX_RING with TPACKET_V3 needs Linux 4.11 or later)", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>The interface's MTU, or -1 (errno set) when it cannot be read.</summary>
    private int ReadMtu()
    {
        var request = MakeIfReq(_interfaceName);
        return Ioctl(_fd, SIOCGIFMTU, &request) == 0 ? request.Mtu : -1;
    }
}
