using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Pipeline;
using static NvDataplane.Io.LinuxNative;

namespace NvDataplane.Io;

/// <summary>
/// A Linux TAP device (<c>tap:NAME</c>): Ethernet frames without a packet-information header,
/// one frame per read(2) or write(2) on a non-blocking /dev/net/tun descriptor.
/// The TAP is created in the calling thread's network namespace if absent, and brought up.
/// On dispose a TAP this port created disappears (it is not persistent); a TAP that was found
/// is left as found (brought down again if this port brought it up).
/// </summary>
public sealed unsafe class TapPort : IPacketPort
{
    private const string TunPath = "/dev/net/tun";

    private readonly LinuxFileDescriptor _tun;
    private readonly LinuxFileDescriptor? _control; // kept only to restore a found TAP's flags
    private readonly short _foundFlags;
    private bool _disposed;

    public TapPort(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        Name = "tap:" + interfaceName;
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException($"{Name}: tap: ports need Linux (/dev/net/tun); on this system use a pcap: port");
        }

        ValidateInterfaceName(Name, interfaceName);
        InterfaceName = interfaceName;
        CreatedInterface = IfNameToIndex(interfaceName) == 0;

        int fd = Open(TunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                ENOENT or ENODEV or ENXIO => new IOException(
                    $"{Name}: {TunPath} is missing ({Describe(errno)}); load the tun module (modprobe tun) or create the node (mknod {TunPath} c 10 200)"),
                _ => OpenFailure(Name, "opening " + TunPath, errno),
            };
        }

        _tun = new LinuxFileDescriptor(fd);
        try
        {
            var request = MakeIfReq(interfaceName);
            request.Flags = IFF_TAP | IFF_NO_PI;
            if (Ioctl(fd, TUNSETIFF, &request) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw errno switch
                {
                    // Deleting a TAP another process holds would take that process's port away.
                    EBUSY => new IOException(
                        $"{Name}: TAP {interfaceName} is in use by another process ({Describe(errno)}); stop that process or pick another name"),
                    EINVAL => new IOException(
                        $"{Name}: interface {interfaceName} exists but is not a TAP this port can attach to: another kind of interface, a TUN or a multi-queue TAP ({Describe(errno)}); "
                        + $"pick another name, or delete it (ip link del {interfaceName}) if no process uses it"),
                    _ => OpenFailure(Name, "creating or attaching the TAP (TUNSETIFF)", errno),
                };
            }

            _control = BringUp(out _foundFlags);
        }
        catch
        {
            _tun.Dispose();
            throw;
        }
    }

    public string Name { get; }

    /// <summary>The Linux interface name.</summary>
    public string InterfaceName { get; }

    /// <summary>True when this port created the TAP (it disappears on dispose).</summary>
    public bool CreatedInterface { get; }

    /// <summary>Frames read that were larger than the buffer and so dropped (rxTooLarge).</summary>
    public long ReceiveTruncated { get; private set; }

    /// <summary>Frames the device refused for good (taken by Transmit, not sent).</summary>
    public long TransmitDropped { get; private set; }

    public int Receive(Span<PacketBuffer> into, BufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int fd = _tun.Fd;
        int count = 0;
        long now = 0;

        // One byte past the buffer: a read returns min(frame, room), so only a frame that spills
        // into it is known to be too large (else it would be cut short and sent on as it is).
        byte spare = 0;
        var vectors = stackalloc IoVec[2];
        vectors[1] = new IoVec { Base = &spare, Length = 1 };
        while (count < into.Length)
        {
            var buffer = pool.Rent();
            if (buffer is null)
            {
                break;
            }

            vectors[0] = new IoVec { Base = PortBuffers.ReceiveStart(buffer), Length = (nuint)buffer.Capacity };
            nint size = Readv(fd, vectors, 2);
            if (size < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                pool.Return(buffer);
                if (errno is EAGAIN or EINTR)
                {
                    break;
                }

                throw ReadFailure(errno);
            }

            if (size > buffer.Capacity)
            {
                pool.Return(buffer);
                ReceiveTruncated++;
                continue;
            }

            if (now == 0)
            {
                now = PortBuffers.NowNs();
            }

            buffer.Length = (int)size;
            buffer.TimestampNs = now;
            into[count++] = buffer;
        }

        return count;
    }

    public int Transmit(ReadOnlySpan<PacketBuffer> frames)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int fd = _tun.Fd;
        for (int i = 0; i < frames.Length; i++)
        {
            var frame = frames[i];
            nint written = Write(fd, PortBuffers.FrameStart(frame), (nuint)frame.Length);
            if (written < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is EAGAIN or ENOBUFS or EINTR)
                {
                    return i;
                }

                if (errno is EINVAL or EMSGSIZE or EIO or ENETDOWN)
                {
                    TransmitDropped++;
                    continue;
                }

                throw WriteFailure(errno);
            }
        }

        return frames.Length;
    }

    public bool WaitReadable(int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return PollReadable(_tun.Fd, timeoutMs);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_control is not null)
        {
            // A TAP we found down goes back down; ignore failure, the device may be gone already.
            var request = MakeIfReq(InterfaceName);
            request.Flags = _foundFlags;
            _ = Ioctl(_control.Fd, SIOCSIFFLAGS, &request);
            _control.Dispose();
        }

        _tun.Dispose();
    }

    public override string ToString() => Name;

    /// <summary>
    /// Sets IFF_UP through an AF_INET datagram socket (made in the same namespace). Returns that
    /// socket when the TAP was found down, so dispose can put it back; otherwise closes it.
    /// </summary>
    private LinuxFileDescriptor? BringUp(out short foundFlags)
    {
        int fd = Socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw OpenFailure(Name, "opening a control socket", Marshal.GetLastPInvokeError());
        }

        var control = new LinuxFileDescriptor(fd);
        try
        {
            var request = MakeIfReq(InterfaceName);
            if (Ioctl(fd, SIOCGIFFLAGS, &request) < 0)
            {
                throw OpenFailure(Name, "reading the link flags (SIOCGIFFLAGS)", Marshal.GetLastPInvokeError());
            }

            foundFlags = request.Flags;
            if ((request.Flags & IFF_UP) != 0)
            {
                control.Dispose();
                return null;
            }

            request.Flags |= IFF_UP;
            if (Ioctl(fd, SIOCSIFFLAGS, &request) < 0)
            {
                throw OpenFailure(Name, "bringing the link up (SIOCSIFFLAGS)", Marshal.GetLastPInvokeError());
            }

            if (CreatedInterface)
            {
                control.Dispose();
                return null;
            }

            return control;
        }
        catch
        {
            control.Dispose();
            throw;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IOException ReadFailure(int errno) => new($"{Name}: reading a frame failed: {Describe(errno)}");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IOException WriteFailure(int errno) => new($"{Name}: writing a frame failed: {Describe(errno)}");
}
