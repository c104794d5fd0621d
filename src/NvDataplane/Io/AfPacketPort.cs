using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Pipeline;
using static NvDataplane.Io.LinuxNative;

namespace NvDataplane.Io;

/// <summary>
/// A Linux interface seen through a raw AF_PACKET socket (<c>afpacket:IFNAME</c>): bound to one
/// interface of the calling thread's network namespace, promiscuous, non-blocking, its own
/// transmissions not looped back, frames received with recvmmsg(2) and sent with sendmmsg(2),
/// a batch per call. The interface must exist; its link state is left alone.
/// </summary>
/// <remarks>
/// TODO(live hosts): a TPACKET_V3 mmap ring (PACKET_RX_RING / PACKET_TX_RING) instead of the
/// copying recvmmsg/sendmmsg path, once this one is proven correct.
/// </remarks>
public sealed unsafe class AfPacketPort : IPacketPort
{
    /// <summary>Receive buffer asked for, so a burst between two polls is not lost.</summary>
    private const int ReceiveBufferSize = 4 * 1024 * 1024;

    private readonly LinuxFileDescriptor _socket;

    // Per-batch scratch, pinned and grown only when a larger batch is asked for: nothing per call.
    private MMsgHdr[] _rxMessages = [];
    private IoVec[] _rxVectors = [];
    private SockAddrLl[] _rxAddresses = [];
    private PacketBuffer[] _rxRented = [];
    private MMsgHdr[] _txMessages = [];
    private IoVec[] _txVectors = [];
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
            Configure(fd);
        }
        catch
        {
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

    public int Receive(Span<PacketBuffer> into, BufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (into.Length > _rxMessages.Length)
        {
            GrowReceive(into.Length);
        }

        int fd = _socket.Fd;
        int count = 0;
        long now = 0;
        while (count < into.Length)
        {
            int asked = RentBatch(pool, into.Length - count);
            if (asked == 0)
            {
                break;
            }

            int received;
            fixed (MMsgHdr* messages = _rxMessages)
            {
                received = RecvMMsg(fd, messages, (uint)asked, MSG_DONTWAIT, null);
            }

            if (received < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                ReturnRented(pool, 0, asked);
                if (errno is EAGAIN or EINTR or ENETDOWN)
                {
                    break;
                }

                throw ReceiveFailure(errno);
            }

            if (now == 0 && received > 0)
            {
                now = PortBuffers.NowNs();
            }

            for (int i = 0; i < received; i++)
            {
                var buffer = _rxRented[i];
                ref var message = ref _rxMessages[i];
                if ((message.Header.Flags & MSG_TRUNC) != 0)
                {
                    ReceiveTruncated++;
                    pool.Return(buffer);
                }
                else if (_rxAddresses[i].PacketType == PACKET_OUTGOING)
                {
                    pool.Return(buffer); // our own transmission, where PACKET_IGNORE_OUTGOING is missing
                }
                else
                {
                    buffer.Length = (int)message.Length;
                    buffer.TimestampNs = now;
                    into[count++] = buffer;
                }
            }

            ReturnRented(pool, received, asked);
            if (received < asked)
            {
                break; // drained
            }
        }

        return count;
    }

    public int Transmit(ReadOnlySpan<PacketBuffer> frames)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (frames.Length > _txMessages.Length)
        {
            GrowTransmit(frames.Length);
        }

        int fd = _socket.Fd;
        int taken = 0;
        while (taken < frames.Length)
        {
            int asked = frames.Length - taken;
            for (int i = 0; i < asked; i++)
            {
                var frame = frames[taken + i];
                _txVectors[i].Base = PortBuffers.FrameStart(frame);
                _txVectors[i].Length = (nuint)frame.Length;
                _txMessages[i].Header.Flags = 0;
            }

            int sent;
            fixed (MMsgHdr* messages = _txMessages)
            {
                sent = SendMMsg(fd, messages, (uint)asked, MSG_DONTWAIT);
            }

            if (sent > 0)
            {
                taken += sent;
                continue;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno is EAGAIN or ENOBUFS or EINTR)
            {
                break; // queue full: the caller sends the rest later
            }

            if (errno is EMSGSIZE or EINVAL or ENETDOWN)
            {
                TransmitDropped++; // this frame can never go out as it is: take it so the rest can
                taken++;
                continue;
            }

            throw TransmitFailure(errno);
        }

        return taken;
    }

    public bool WaitReadable(int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return PollReadable(_socket.Fd, timeoutMs);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _socket.Dispose(); // closing drops the promiscuous membership too
    }

    public override string ToString() => Name;

    private void Configure(int fd)
    {
        int size = ReceiveBufferSize;
        if (SetSockOpt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(int)) < 0)
        {
            _ = SetSockOpt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(int)); // capped by rmem_max; advice only
        }

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

    /// <summary>Rents up to <paramref name="wanted"/> buffers and points the receive slots at them.</summary>
    private int RentBatch(BufferPool pool, int wanted)
    {
        int rented = 0;
        while (rented < wanted)
        {
            var buffer = pool.Rent();
            if (buffer is null)
            {
                break;
            }

            _rxRented[rented] = buffer;
            _rxVectors[rented].Base = PortBuffers.ReceiveStart(buffer);
            _rxVectors[rented].Length = (nuint)buffer.Capacity;
            ref var header = ref _rxMessages[rented].Header;
            header.NameLength = (uint)sizeof(SockAddrLl);
            header.Flags = 0;
            rented++;
        }

        return rented;
    }

    private void ReturnRented(BufferPool pool, int from, int to)
    {
        for (int i = to - 1; i >= from; i--)
        {
            pool.Return(_rxRented[i]);
            _rxRented[i] = null!;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowReceive(int count)
    {
        _rxMessages = GC.AllocateArray<MMsgHdr>(count, pinned: true);
        _rxVectors = GC.AllocateArray<IoVec>(count, pinned: true);
        _rxAddresses = GC.AllocateArray<SockAddrLl>(count, pinned: true);
        _rxRented = new PacketBuffer[count];
        for (int i = 0; i < count; i++)
        {
            ref var header = ref _rxMessages[i].Header;
            header.Name = Unsafe.AsPointer(ref _rxAddresses[i]);
            header.Iov = (IoVec*)Unsafe.AsPointer(ref _rxVectors[i]);
            header.IovLength = 1;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowTransmit(int count)
    {
        _txMessages = GC.AllocateArray<MMsgHdr>(count, pinned: true);
        _txVectors = GC.AllocateArray<IoVec>(count, pinned: true);
        for (int i = 0; i < count; i++)
        {
            ref var header = ref _txMessages[i].Header;
            header.Iov = (IoVec*)Unsafe.AsPointer(ref _txVectors[i]);
            header.IovLength = 1;
        }
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
