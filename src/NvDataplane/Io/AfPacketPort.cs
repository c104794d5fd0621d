using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using static NvDataplane.Io.LinuxNative;

namespace NvDataplane.Io;

/// <summary>
/// A Linux interface seen through a raw AF_PACKET socket (<c>afpacket:IFNAME</c>): bound to one
/// interface of the calling thread's network namespace, promiscuous, non-blocking, its own
/// transmissions not looped back, qdisc bypassed. Both directions go through TPACKET_V3 rings
/// mapped into the process (the transmit ring needs Linux 4.11), so a batch costs at most one
/// system call. A received frame is copied once from the receive ring into a pool buffer, with
/// the 802.1Q tag the kernel took off put back where it was on the wire; a frame to send is
/// copied once into a transmit slot, and one send(2) per batch has the kernel take every slot
/// filled. The interface must exist; its link state is left alone.
/// </summary>
/// <remarks>
/// <para>
/// The receive ring is <see cref="BlockCount"/> blocks of <see cref="BlockSize"/> bytes (4 MiB:
/// about 3 ms of a 10 Gb/s burst, or nearly 30,000 minimum-size frames). The kernel
/// hands a block over when it is full or <see cref="RetireTimeoutMs"/> ms after it opened
/// (rounded up to a timer tick), so under light traffic a frame may wait that long; a block goes
/// back to the kernel once every frame in it is copied out. When all blocks wait for us the kernel
/// drops what arrives, and counts it: <see cref="KernelDrops"/>. Receive stops mid-block when the
/// caller's span is full or the pool is empty and goes on from there next time.
/// </para>
/// <para>
/// The transmit ring is <see cref="TxBlockCount"/> blocks cut into slots of one size, fixed at
/// open for the interface's MTU then (2 KiB, 512 slots, up to an MTU of 1982). Transmit fills
/// slots in order and stops at the first one the device still holds; a slot comes back once the
/// device is done with its frame. A frame that cannot go out as it is (shorter than an Ethernet
/// header, longer than a slot, or longer than the MTU allows: 14 bytes more, 18 for a frame with
/// an 802.1Q tag) is taken and counted in <see cref="TransmitDropped"/>. The MTU is read again
/// every <see cref="HousekeepingInterval"/> receive calls; a frame the kernel refuses in between
/// (the MTU lowered meanwhile) is skipped by the kernel (PACKET_LOSS), uncounted, rather than
/// stopping the ring. Slots the kernel could not take at once (socket buffer or device queue full)
/// stay queued, and the next Transmit or Receive asks it again; with the link down they are taken
/// back and counted as dropped.
/// </para>
/// </remarks>
public sealed unsafe class AfPacketPort : IPacketPort
{
    /// <summary>A ring block: a burst of a few hundred large or a few thousand small frames.</summary>
    private const int BlockSize = 256 * 1024;

    private const int BlockCount = 16;

    /// <summary>Asked for because tpacket_req3 needs one; TPACKET_V3 frames take what they need, up to a block.</summary>
    private const int RingFrameSize = 2048;

    private const int RetireTimeoutMs = 2;

    /// <summary>Transmit ring blocks, of <see cref="BlockSize"/> bytes each: 1 MiB, 512 slots for an MTU of 1500.</summary>
    private const int TxBlockCount = 4;

    private const int MinTxSlotSize = 2048;

    /// <summary>Receive calls between two reads of the kernel's drop count and the MTU.</summary>
    internal const int HousekeepingInterval = 4096;

    private const int ReceiveRingSize = BlockSize * BlockCount;

    /// <summary>Where the sockaddr_ll follows a frame header: TPACKET_ALIGN(sizeof(struct tpacket3_hdr)).</summary>
    private static readonly int AddressOffset = (sizeof(Tpacket3Hdr) + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1);

    /// <summary>
    /// Where a frame starts in a transmit slot: TPACKET3_HDRLEN less the sockaddr_ll, which is
    /// where tpacket_snd reads it without PACKET_TX_HAS_OFF.
    /// </summary>
    private static readonly int TxDataOffset = AddressOffset;

    private readonly LinuxFileDescriptor _socket;
    private readonly LinuxMemoryMap _ring; // the receive ring, then the transmit ring

    // Where reading stands: the block read next and, while one is open (_framesLeft > 0), the
    // offset in it of the next frame to take.
    private int _block;
    private int _framesLeft;
    private uint _frameOffset;
    private bool _errorPending;

    // The transmit ring's shape, and where filling stands: the slot filled next, and whether
    // the kernel left filled slots behind at the last request.
    private readonly int _txSlotSize;
    private readonly int _txSlotsPerBlock;
    private readonly int _txSlotCount;
    private int _txNext;
    private bool _txUnsent;

    /// <summary>The longest untagged frame the MTU lets out: MTU + 14.</summary>
    private int _txFrameLimit;

    private int _housekeepingCountdown = HousekeepingInterval;
    private long _kernelDrops;
    private bool _disposed;

    public AfPacketPort(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        Name = "afpacket:" + interfaceName;
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException($"{Name}: afpacket: ports need Linux (AF_PACKET sockets); on this system use a pcap: port");
        }

        ValidateInterfaceName(Name, interfaceName);
        InterfaceName = interfaceName;
        uint index = IfNameToIndex(interfaceName);
        if (index == 0)
        {
            throw new IOException($"{Name}: no interface {interfaceName} in this network namespace ({Describe(Marshal.GetLastPInvokeError())}); check the name with 'ip link show'");
        }

        InterfaceIndex = (int)index;

        // Protocol 0: the socket sees nothing until bind names the interface and ETH_P_ALL, so no
        // frame from another interface slips in between socket() and bind().
        int fd = Socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw OpenFailure(Name, "opening an AF_PACKET socket", Marshal.GetLastPInvokeError());
        }

        _socket = new LinuxFileDescriptor(fd);
        try
        {
            int mtu = ReadMtu();
            if (mtu < 0)
            {
                throw OpenFailure(Name, "reading the MTU of " + interfaceName + " (SIOCGIFMTU)", Marshal.GetLastPInvokeError());
            }

            _txFrameLimit = mtu + Ethernet.HeaderSize;
            _txSlotSize = Math.Clamp(AlignFrame(TxDataOffset + _txFrameLimit + Ethernet.VlanTagSize), MinTxSlotSize, BlockSize);
            _txSlotsPerBlock = BlockSize / _txSlotSize;
            _txSlotCount = _txSlotsPerBlock * TxBlockCount;
            _ring = MapRings(fd);
            Configure(fd);
        }
        catch
        {
            _ring?.Dispose();
            _socket.Dispose();
            throw;
        }
    }

    public string Name { get; }

    /// <summary>The Linux interface name.</summary>
    public string InterfaceName { get; }

    /// <summary>The interface index the socket is bound to.</summary>
    public int InterfaceIndex { get; }

    /// <summary>False on kernels before 4.20, where our own transmissions are filtered here instead.</summary>
    public bool IgnoresOutgoingInKernel { get; private set; }

    /// <summary>Frames received that were larger than the buffer and so dropped.</summary>
    public long ReceiveTruncated { get; private set; }

    /// <summary>Frames the device refused for good (taken by Transmit, not sent).</summary>
    public long TransmitDropped { get; private set; }

    /// <summary>
    /// Frames the kernel dropped since the port opened because the receive ring was full (read too
    /// slowly): the kernel's PACKET_STATISTICS, which reading resets, summed here. Reading this
    /// asks the kernel (one getsockopt); so does every <see cref="HousekeepingInterval"/>th
    /// Receive, so the kernel's 32-bit count never wraps.
    /// </summary>
    public long KernelDrops
    {
        get
        {
            if (!_disposed)
            {
                TakeKernelStatistics();
            }

            return Interlocked.Read(ref _kernelDrops);
        }
    }

    public long DeviceDrops => KernelDrops;

    public int Receive(Span<PacketBuffer> into, BufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_errorPending)
        {
            TakeSocketError();
        }

        if (_txUnsent)
        {
            RequestTransmit(); // what the kernel could not take last time, asked again even when idle
        }

        if (--_housekeepingCountdown == 0)
        {
            Housekeeping();
        }

        int count = 0;
        long now = 0;
        while (count < into.Length)
        {
            byte* block = BlockStart(_block);
            ref var header = ref ((TpacketBlockDesc*)block)->Header;
            if (_framesLeft == 0)
            {
                // Acquire: the frames are read only after the kernel's hand-over is seen.
                if ((Volatile.Read(ref header.BlockStatus) & TP_STATUS_USER) == 0)
                {
                    break; // the kernel is still filling it
                }

                _framesLeft = (int)header.PacketCount;
                _frameOffset = header.OffsetToFirstPacket;
                if (_framesLeft == 0)
                {
                    ReleaseBlock(ref header);
                    continue;
                }
            }

            var frame = (Tpacket3Hdr*)(block + _frameOffset);
            if (frame->SnapLength < frame->Length)
            {
                ReceiveTruncated++; // cut to the block size: cannot be forwarded whole
            }
            else if (!IsOwnTransmission(frame))
            {
                var buffer = pool.Rent();
                if (buffer is null)
                {
                    break; // this frame stays where it is for the next call
                }

                if (CopyFrame(frame, buffer))
                {
                    if (now == 0)
                    {
                        now = PortBuffers.NowNs();
                    }

                    buffer.TimestampNs = now;
                    into[count++] = buffer;
                }
                else
                {
                    ReceiveTruncated++;
                    pool.Return(buffer);
                }
            }

            _frameOffset += frame->NextOffset;
            if (--_framesLeft == 0)
            {
                ReleaseBlock(ref header);
            }
        }

        return count;
    }

    public int Transmit(ReadOnlySpan<PacketBuffer> frames)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int taken = 0;
        bool filled = false;
        while (taken < frames.Length)
        {
            var frame = frames[taken];
            if (!CanSend(frame))
            {
                TransmitDropped++; // this frame can never go out as it is: take it so the rest can
                taken++;
                continue;
            }

            var slot = TxSlot(_txNext);

            // Acquire: the slot is written only after the kernel's hand-back is seen.
            if ((Volatile.Read(ref slot->Status) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) != 0)
            {
                break; // the ring is full: the caller sends the rest later
            }

            frame.Frame.CopyTo(new Span<byte>((byte*)slot + TxDataOffset, frame.Length));
            slot->Length = (uint)frame.Length; // tp_next_offset stays 0, as the kernel zeroed it
            Volatile.Write(ref slot->Status, TP_STATUS_SEND_REQUEST); // release: after the frame
            _txNext = _txNext + 1 == _txSlotCount ? 0 : _txNext + 1;
            filled = true;
            taken++;
        }

        if (filled || _txUnsent)
        {
            RequestTransmit();
        }

        return taken;
    }

    public bool WaitReadable(int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_framesLeft > 0 || (Volatile.Read(ref ((TpacketBlockDesc*)BlockStart(_block))->Header.BlockStatus) & TP_STATUS_USER) != 0)
        {
            return true; // a block is ours already
        }

        short events = PollInput(_socket.Fd, timeoutMs);
        if ((events & POLLERR) != 0)
        {
            // A socket error (ENETDOWN when the link goes down) keeps poll answering at once
            // until it is read; the next Receive reads it.
            _errorPending = true;
        }

        return events != 0;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _ring.Dispose();
        _socket.Dispose(); // closing drops the promiscuous membership too
    }

    public override string ToString() => Name;

    /// <summary>Our own transmission, seen where PACKET_IGNORE_OUTGOING is missing (kernels before 4.20).</summary>
    private static bool IsOwnTransmission(Tpacket3Hdr* frame) =>
        ((SockAddrLl*)((byte*)frame + AddressOffset))->PacketType == PACKET_OUTGOING;

    private byte* BlockStart(int index) => _ring.Address + ((nint)index * BlockSize);

    /// <summary>
    /// Copies a frame out of the ring, putting back the VLAN tag the kernel took off and finishing
    /// a checksum a local sender left to offload; false when it does not fit.
    /// </summary>
    private static bool CopyFrame(Tpacket3Hdr* frame, PacketBuffer buffer)
    {
        var source = new ReadOnlySpan<byte>((byte*)frame + frame->Mac, (int)frame->SnapLength);
        bool tagged = (frame->Status & TP_STATUS_VLAN_VALID) != 0 && source.Length >= Ethernet.TypeOffset;
        int length = tagged ? source.Length + Ethernet.VlanTagSize : source.Length;
        if (length > buffer.Capacity)
        {
            return false;
        }

        var into = buffer.Data.AsSpan(PacketBuffer.Headroom, length);
        if (tagged)
        {
            ushort tpid = (frame->Status & TP_STATUS_VLAN_TPID_VALID) != 0 ? frame->Variant1.VlanTpid : Ethernet.TypeVlan;
            source[..Ethernet.TypeOffset].CopyTo(into);
            BinaryPrimitives.WriteUInt16BigEndian(into[Ethernet.TypeOffset..], tpid);
            BinaryPrimitives.WriteUInt16BigEndian(into[(Ethernet.TypeOffset + 2)..], (ushort)frame->Variant1.VlanTci);
            source[Ethernet.TypeOffset..].CopyTo(into[(Ethernet.TypeOffset + Ethernet.VlanTagSize)..]);
        }
        else
        {
            source.CopyTo(into);
        }

        if ((frame->Status & TP_STATUS_CSUMNOTREADY) != 0)
        {
            OffloadedChecksum.Complete(into); // a local sender left the TCP/UDP checksum to a NIC
        }

        buffer.Length = length;
        return true;
    }

    /// <summary>Gives the block read to the end back to the kernel and moves on to the next one.</summary>
    private void ReleaseBlock(ref TpacketHdrV1 header)
    {
        Volatile.Write(ref header.BlockStatus, TP_STATUS_KERNEL); // release: after every copy out of it
        if (++_block == BlockCount)
        {
            _block = 0;
        }
    }

    /// <summary>Asks for the TPACKET_V3 receive and transmit rings and maps both, receive ring first, in one mapping.</summary>
    private LinuxMemoryMap MapRings(int fd)
    {
        int version = TPACKET_V3;
        if (SetSockOpt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(int)) < 0)
        {
            throw OpenFailure(Name, "asking for TPACKET_V3 (PACKET_VERSION)", Marshal.GetLastPInvokeError());
        }

        // Without it a frame the kernel refuses stays at the head of the transmit ring and
        // every frame behind it waits for good; it must be set before the rings exist.
        int skipRefused = 1;
        if (SetSockOpt(fd, SOL_PACKET, PACKET_LOSS, &skipRefused, sizeof(int)) < 0)
        {
            throw OpenFailure(Name, "setting PACKET_LOSS", Marshal.GetLastPInvokeError());
        }

        var receive = new TpacketReq3
        {
            BlockSize = BlockSize,
            BlockCount = BlockCount,
            FrameSize = RingFrameSize,
            FrameCount = BlockSize / RingFrameSize * BlockCount,
            RetireTimeoutMs = RetireTimeoutMs,
        };
        if (SetSockOpt(fd, SOL_PACKET, PACKET_RX_RING, &receive, (uint)sizeof(TpacketReq3)) < 0)
        {
            throw OpenFailure(Name, $"setting up a {BlockCount} x {BlockSize / 1024} KiB receive ring (PACKET_RX_RING)", Marshal.GetLastPInvokeError());
        }

        var transmit = new TpacketReq3
        {
            BlockSize = BlockSize,
            BlockCount = TxBlockCount,
            FrameSize = (uint)_txSlotSize,
            FrameCount = (uint)_txSlotCount,
        };
        if (SetSockOpt(fd, SOL_PACKET, PACKET_TX_RING, &transmit, (uint)sizeof(TpacketReq3)) < 0)
        {
            throw OpenFailure(Name, $"setting up a transmit ring of {_txSlotCount} x {_txSlotSize} bytes (PACKET_TX_RING with TPACKET_V3 needs Linux 4.11 or later)", Marshal.GetLastPInvokeError());
        }

        return LinuxMemoryMap.MapShared(fd, (nuint)ReceiveRingSize + ((nuint)BlockSize * TxBlockCount), out int errno)
            ?? throw OpenFailure(Name, "mapping the rings (mmap)", errno);
    }

    private void Configure(int fd)
    {
        int on = 1;
        IgnoresOutgoingInKernel = SetSockOpt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof(int)) == 0;
        if (SetSockOpt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &on, sizeof(int)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != ENOPROTOOPT)
            {
                throw OpenFailure(Name, "setting PACKET_QDISC_BYPASS", errno);
            }
        }

        var address = new SockAddrLl
        {
            Family = AF_PACKET,
            Protocol = HostToNetwork(ETH_P_ALL),
            IfIndex = InterfaceIndex,
        };
        if (Bind(fd, &address, (uint)sizeof(SockAddrLl)) < 0)
        {
            throw OpenFailure(Name, "binding to interface " + InterfaceName, Marshal.GetLastPInvokeError());
        }

        var membership = new PacketMreq { IfIndex = InterfaceIndex, Type = PACKET_MR_PROMISC };
        if (SetSockOpt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, (uint)sizeof(PacketMreq)) < 0)
        {
            throw OpenFailure(Name, "making the interface promiscuous (PACKET_ADD_MEMBERSHIP)", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Reads (and so clears) the socket error poll reported: a link gone down is waited out, anything else thrown.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void TakeSocketError()
    {
        _errorPending = false;
        int error = 0;
        uint size = sizeof(int);
        if (GetSockOpt(_socket.Fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0)
        {
            error = Marshal.GetLastPInvokeError();
        }

        if (error is not (0 or ENETDOWN or EINTR or EAGAIN))
        {
            throw ReceiveFailure(error);
        }
    }

    /// <summary>send(2) with no data: the kernel takes the filled slots, in order, until one is not filled or it cannot take more.</summary>
    private void RequestTransmit()
    {
        if (Send(_socket.Fd, null, 0, MSG_DONTWAIT) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is not (EAGAIN or ENOBUFS or EINTR))
            {
                TakeBackUnsent(errno); // else what is left goes at the next request
            }
        }

        // The kernel takes slots in order: the last one filled still waiting means it stopped early.
        _txUnsent = Volatile.Read(ref TxSlot(PreviousSlot(_txNext))->Status) == TP_STATUS_SEND_REQUEST;
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
            throw TransmitFailure(errno);
        }

        for (int i = 0; i < _txSlotCount; i++)
        {
            int previous = PreviousSlot(_txNext);
            var slot = TxSlot(previous);
            if (Volatile.Read(ref slot->Status) != TP_STATUS_SEND_REQUEST)
            {
                break;
            }

            slot->Status = TP_STATUS_AVAILABLE;
            _txNext = previous;
            TransmitDropped++;
        }
    }

    private Tpacket3Hdr* TxSlot(int index) =>
        (Tpacket3Hdr*)(_ring.Address + ReceiveRingSize
            + ((nint)(index / _txSlotsPerBlock) * BlockSize) + ((nint)(index % _txSlotsPerBlock) * _txSlotSize));

    private int PreviousSlot(int index) => (index == 0 ? _txSlotCount : index) - 1;

    /// <summary>What the kernel would refuse, checked here so it is counted: see the class remarks.</summary>
    private bool CanSend(PacketBuffer frame)
    {
        int length = frame.Length;
        return length >= Ethernet.HeaderSize
            && length <= _txSlotSize - TxDataOffset
            && (length <= _txFrameLimit
                || (length <= _txFrameLimit + Ethernet.VlanTagSize && Ethernet.ReadType(frame.Frame) == Ethernet.TypeVlan));
    }

    private static int AlignFrame(int size) => (size + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1);

    /// <summary>Every <see cref="HousekeepingInterval"/> receive calls: the kernel's drop count, and the MTU again.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Housekeeping()
    {
        _housekeepingCountdown = HousekeepingInterval;
        TakeKernelStatistics();
        int mtu = ReadMtu();
        if (mtu >= 0)
        {
            _txFrameLimit = mtu + Ethernet.HeaderSize;
        }
    }

    /// <summary>Adds the receive-ring drops the kernel counted since it was last asked (asking resets them).</summary>
    private void TakeKernelStatistics()
    {
        var statistics = default(TpacketStatsV3);
        uint size = (uint)sizeof(TpacketStatsV3);
        if (GetSockOpt(_socket.Fd, SOL_PACKET, PACKET_STATISTICS, &statistics, &size) == 0)
        {
            Interlocked.Add(ref _kernelDrops, statistics.Drops);
        }
    }

    /// <summary>The interface's MTU, or -1 (errno set) when it cannot be read.</summary>
    private int ReadMtu()
    {
        var request = MakeIfReq(InterfaceName);
        return Ioctl(_socket.Fd, SIOCGIFMTU, &request) == 0 ? request.Mtu : -1;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IOException ReceiveFailure(int errno) => errno is ENXIO or ENODEV
        ? new($"{Name}: interface {InterfaceName} went away ({Describe(errno)})")
        : new($"{Name}: receiving failed: {Describe(errno)}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IOException TransmitFailure(int errno) => errno is ENXIO or ENODEV
        ? new($"{Name}: interface {InterfaceName} went away ({Describe(errno)})")
        : new($"{Name}: transmitting failed: {Describe(errno)}");
}
