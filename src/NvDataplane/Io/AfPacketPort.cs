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
/// transmissions not looped back, qdisc bypassed. Frames arrive in a TPACKET_V3 receive ring
/// mapped into the process, so a batch costs no system call: each frame is copied once from the
/// ring into a pool buffer, with the 802.1Q tag the kernel took off put back where it was on the
/// wire. Each frame comes with a virtio_net_hdr (PACKET_VNET_HDR): a frame a local kernel left
/// unsegmented (TSO/USO through a veth) is cut into the frames it stands for (<see cref="GsoSegmenter"/>), each into a buffer of its own, across
/// calls when they do not all fit. Frames leave through a transmit ring on the same socket, mapped
/// behind the receive ring (<see cref="AfPacketTransmitRing"/>): one copy into a slot per frame,
/// one send(2) per batch. The interface must exist; its link
/// state is left alone. An interface deleted under the port (made again or not) is a receive
/// failure (<see cref="IOException"/>) within <see cref="HousekeepingIntervalMs"/>; a link down is waited out.
/// </summary>
/// <remarks>
/// The ring is <see cref="BlockCount"/> blocks of <see cref="BlockSize"/> bytes (8 MiB: about 6 ms
/// of a 10 Gb/s burst, or nearly 60,000 minimum-size frames). The kernel
/// hands a block over when it is full or <see cref="RetireTimeoutMs"/> ms after it opened
/// (rounded up to a timer tick), so under light traffic a frame may wait that long, and a block
/// may carry only a few frames: many blocks keep the ring from filling with nearly empty blocks
/// when the worker is held up (64 blocks ride out a stall of 128 ms at any rate the blocks do not
/// fill at, where 16 rode out 32 ms and lost frames of a 20,000 frames/s stream); a block goes
/// back to the kernel once every frame in it is copied out. When all blocks wait for us the kernel
/// drops what arrives, and counts it: <see cref="KernelDrops"/>. Receive stops mid-block when the
/// caller's span is full or the pool is empty and goes on from there next time.
/// </remarks>
public sealed unsafe class AfPacketPort : IPacketPort
{
    /// <summary>A ring block: a burst of a few hundred large or a few thousand small frames.</summary>
    private const int BlockSize = 128 * 1024;

    private const int BlockCount = 64;

    /// <summary>Asked for because tpacket_req3 needs one; TPACKET_V3 frames take what they need, up to a block.</summary>
    private const int RingFrameSize = 2048;

    private const int RetireTimeoutMs = 2;

    private const int ReceiveRingSize = BlockSize * BlockCount;

    /// <summary>
    /// Milliseconds between two looks at the interface (still there?), the kernel's drop count and
    /// the MTU, made by the first receive call after (one clock read per call, of the coarse
    /// clock), busy or idle alike.
    /// </summary>
    internal const int HousekeepingIntervalMs = 200;

    /// <summary>Where the sockaddr_ll follows a frame header.</summary>
    private static readonly int AddressOffset = Tpacket3HeaderSize;

    private readonly LinuxFileDescriptor _socket;
    private readonly LinuxMemoryMap _ring; // the receive ring, then the transmit ring
    private readonly AfPacketTransmitRing _transmit;

    // Where reading stands: the block read next and, while one is open (_framesLeft > 0), the
    // offset in it of the next frame to take.
    private int _block;
    private int _framesLeft;
    private uint _frameOffset;
    private bool _errorPending;

    // The next segment of a local kernel's unsegmented frame being cut, when a call ended
    // halfway through it.
    private int _segmentNext;

    private long _nextHousekeeping = Environment.TickCount64 + HousekeepingIntervalMs;
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
            _ring = MapRings(fd, out _transmit);
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
    public long TransmitDropped => _transmit.Dropped;

    public int DeviceMtu => _transmit.Mtu;

    /// <summary>
    /// Frames the kernel dropped since the port opened because the receive ring was full (read too
    /// slowly): the kernel's PACKET_STATISTICS, which reading resets, summed here. Reading this
    /// asks the kernel (one getsockopt); so does a Receive every
    /// <see cref="HousekeepingIntervalMs"/> ms, so the kernel's 32-bit count never wraps.
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

        _transmit.SendUnsent(); // what the kernel could not take last time, asked again even when idle
        if (Environment.TickCount64 >= _nextHousekeeping)
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
            else if (VnetGsoType(frame) != GsoSegmenter.GsoNone)
            {
                if (!TakeSegments(frame, into, ref count, pool, ref now))
                {
                    break; // out of room: the rest of this frame's segments come next time
                }
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
                    Deliver(buffer, into, ref count, ref now);
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
        return _transmit.Transmit(frames);
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

    /// <summary>The virtio_net_hdr the kernel wrote right before the frame.</summary>
    private static byte* VnetHeader(Tpacket3Hdr* frame) => (byte*)frame + frame->Mac - VirtioNetHeaderSize;

    /// <summary>The gso_type of the frame's virtio_net_hdr.</summary>
    private static byte VnetGsoType(Tpacket3Hdr* frame) => VnetHeader(frame)[1];

    /// <summary>
    /// Cuts a frame a local kernel left unsegmented into the frames it stands for
    /// (<see cref="GsoSegmenter"/>), as many as there is room for; false when it stopped for
    /// room (the caller's span or the pool), to go on from <see cref="_segmentNext"/> next time.
    /// A frame that cannot be cut is dropped and counted in <see cref="ReceiveTruncated"/>.
    /// </summary>
    private bool TakeSegments(Tpacket3Hdr* frame, Span<PacketBuffer> into, ref int count, BufferPool pool, ref long now)
    {
        byte* vnet = VnetHeader(frame);
        int gsoSize = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(vnet + 4, 2));
        var source = new ReadOnlySpan<byte>((byte*)frame + frame->Mac, (int)frame->SnapLength);
        if ((frame->Status & TP_STATUS_VLAN_VALID) != 0 || !GsoSegmenter.TryPlan(source, vnet[1], gsoSize, out var plan))
        {
            ReceiveTruncated++; // tagged by offload, or not TCP or UDP segmentation: nothing here cuts it
            _segmentNext = 0;
            return true;
        }

        while (_segmentNext < plan.Segments)
        {
            if (count == into.Length || pool.Rent() is not { } buffer)
            {
                return false;
            }

            if (!GsoSegmenter.WriteSegment(source, plan, _segmentNext, buffer))
            {
                pool.Return(buffer);
                ReceiveTruncated++; // a segment larger than a buffer: the rest of the frame is lost
                break;
            }

            Deliver(buffer, into, ref count, ref now);
            _segmentNext++;
        }

        _segmentNext = 0;
        return true;
    }

    /// <summary>Stamps a received frame with the batch's clock (read once, at its first frame) and hands it over.</summary>
    private static void Deliver(PacketBuffer buffer, Span<PacketBuffer> into, ref int count, ref long now)
    {
        if (now == 0)
        {
            now = PortBuffers.NowNs();
        }

        buffer.TimestampNs = now;
        into[count++] = buffer;
    }

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

    /// <summary>
    /// Asks for TPACKET_V3, virtio_net_hdrs and PACKET_LOSS, which must come before any ring,
    /// then the receive ring and the transmit ring, and maps both, receive ring first, in one
    /// mapping.
    /// </summary>
    private LinuxMemoryMap MapRings(int fd, out AfPacketTransmitRing transmit)
    {
        int version = TPACKET_V3;
        if (SetSockOpt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(int)) < 0)
        {
            throw OpenFailure(Name, "asking for TPACKET_V3 (PACKET_VERSION)", Marshal.GetLastPInvokeError());
        }

        // Received, a frame a local kernel left unsegmented comes with its segment size, to be
        // cut here; sent, each slot says the whole frame is header (AfPacketTransmitRing).
        int on = 1;
        if (SetSockOpt(fd, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(int)) < 0)
        {
            throw OpenFailure(Name, "asking for virtio_net_hdr (PACKET_VNET_HDR)", Marshal.GetLastPInvokeError());
        }

        // Without it a frame the kernel refuses stays at the head of the transmit ring and every
        // frame behind it waits for good.
        if (SetSockOpt(fd, SOL_PACKET, PACKET_LOSS, &on, sizeof(int)) < 0)
        {
            throw OpenFailure(Name, "setting PACKET_LOSS", Marshal.GetLastPInvokeError());
        }

        var request = new TpacketReq3
        {
            BlockSize = BlockSize,
            BlockCount = BlockCount,
            FrameSize = RingFrameSize,
            FrameCount = BlockSize / RingFrameSize * BlockCount,
            RetireTimeoutMs = RetireTimeoutMs,
        };
        if (SetSockOpt(fd, SOL_PACKET, PACKET_RX_RING, &request, (uint)sizeof(TpacketReq3)) < 0)
        {
            throw OpenFailure(Name, $"setting up a {BlockCount} x {BlockSize / 1024} KiB receive ring (PACKET_RX_RING)", Marshal.GetLastPInvokeError());
        }

        transmit = new AfPacketTransmitRing(Name, InterfaceName, fd);
        var mapping = LinuxMemoryMap.MapShared(fd, (nuint)ReceiveRingSize + (nuint)transmit.MappedSize, out int errno)
            ?? throw OpenFailure(Name, "mapping the rings (mmap)", errno);
        transmit.Attach(mapping.Address + ReceiveRingSize);
        return mapping;
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

    /// <summary>
    /// Reads (and so clears) the socket error poll reported: a link gone down is waited out, anything
    /// else thrown. The kernel says ENETDOWN for a deleted interface too, so that has the interface
    /// looked at again in this very call (<see cref="Housekeeping"/>).
    /// </summary>
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

        if (error == ENETDOWN)
        {
            _nextHousekeeping = 0;
        }
    }

    /// <summary>
    /// Every <see cref="HousekeepingIntervalMs"/> ms: whether the interface is still the one bound
    /// at open, the kernel's drop count, and the MTU again.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Housekeeping()
    {
        _nextHousekeeping = Environment.TickCount64 + HousekeepingIntervalMs;
        CheckInterfaceIsBound();
        TakeKernelStatistics();
        _transmit.ReadMtuAgain();
    }

    /// <summary>
    /// Throws when the interface is no longer the one the socket is bound to: deleted (its name
    /// names nothing), or deleted and made again (its name names a new index, which this socket
    /// never sees). A link that is only down still has its index and is waited out.
    /// </summary>
    private void CheckInterfaceIsBound()
    {
        var request = MakeIfReq(InterfaceName);
        if (Ioctl(_socket.Fd, SIOCGIFINDEX, &request) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == ENODEV)
            {
                throw new IOException($"{Name}: interface {InterfaceName} went away (deleted); restart once it is back");
            }
        }
        else if (request.IfIndex != InterfaceIndex)
        {
            throw new IOException($"{Name}: interface {InterfaceName} was deleted and made again (index {InterfaceIndex}, now {request.IfIndex}); restart to use the new one");
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

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IOException ReceiveFailure(int errno) => errno is ENXIO or ENODEV
        ? new($"{Name}: interface {InterfaceName} went away ({Describe(errno)})")
        : new($"{Name}: receiving failed: {Describe(errno)}");
}
