using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace NvDataplane.Io;

/// <summary>
/// The libc calls, constants and structures the Linux ports use. Layouts are the LP64 ones
/// (x86_64, arm64); <c>LinuxNativeLayoutTests</c> pins every size. Constants are the generic
/// Linux values (x86_64, arm64, riscv64); mips, sparc and powerpc differ and are not supported.
/// </summary>
internal static unsafe partial class LinuxNative
{
    private const string Libc = "libc";

    // errno
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int EMSGSIZE = 90;
    public const int ENOPROTOOPT = 92;
    public const int ENETDOWN = 100;
    public const int ENOBUFS = 105;
    public const int EBADFD = 77;

    // open(2), socket(2)
    public const int O_RDWR = 0x2;
    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = O_NONBLOCK;
    public const int SOCK_CLOEXEC = O_CLOEXEC;
    public const int AF_INET = 2;
    public const int AF_PACKET = 17;
    public const int MSG_DONTWAIT = 0x40;

    // mmap(2)
    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;

    // <linux/if_ether.h>, <linux/if_packet.h>
    public const ushort ETH_P_ALL = 0x0003;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int SOL_PACKET = 263;
    public const int PACKET_ADD_MEMBERSHIP = 1;
    public const int PACKET_RX_RING = 5;
    public const int PACKET_STATISTICS = 6;
    public const int PACKET_VERSION = 10;
    public const int PACKET_TX_RING = 13;
    public const int PACKET_LOSS = 14;
    public const int PACKET_VNET_HDR = 15;
    public const int PACKET_QDISC_BYPASS = 20;
    public const int PACKET_IGNORE_OUTGOING = 23;
    public const ushort PACKET_MR_PROMISC = 1;
    public const byte PACKET_OUTGOING = 4;
    public const int TPACKET_V3 = 2;
    public const uint TP_STATUS_KERNEL = 0;
    public const uint TP_STATUS_USER = 1 << 0;
    public const uint TP_STATUS_AVAILABLE = 0;
    public const uint TP_STATUS_SEND_REQUEST = 1 << 0;
    public const uint TP_STATUS_SENDING = 1 << 1;
    public const uint TP_STATUS_CSUMNOTREADY = 1 << 3;
    public const uint TP_STATUS_VLAN_VALID = 1 << 4;
    public const uint TP_STATUS_VLAN_TPID_VALID = 1 << 6;

    /// <summary>Ring frames and the sockaddr_ll after each header sit on 16-byte boundaries.</summary>
    public const int TPACKET_ALIGNMENT = 16;

    // <linux/if_tun.h>, <linux/sockios.h>, <net/if.h>
    public const nuint TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;
    public const nuint SIOCGIFFLAGS = 0x8913;
    public const nuint SIOCSIFFLAGS = 0x8914;
    public const nuint SIOCGIFMTU = 0x8921;
    public const nuint SIOCGIFINDEX = 0x8933;
    public const short IFF_UP = 0x1;

    /// <summary>IFNAMSIZ less the terminating NUL.</summary>
    public const int MaxInterfaceNameSize = 15;

    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;

    private static readonly SearchValues<char> InvalidNameChars = SearchValues.Create("/: \t\n\r\v\f");

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>sched_setaffinity(2); pid 0 is the calling thread.</summary>
    [LibraryImport(Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static partial int SchedSetAffinity(int pid, nuint size, ref ulong mask);

    [LibraryImport(Libc, EntryPoint = "readv", SetLastError = true)]
    public static partial nint Readv(int fd, IoVec* vectors, int count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Libc, EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, void* address, uint addressSize);

    [LibraryImport(Libc, EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, uint valueSize);

    [LibraryImport(Libc, EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, void* value, uint* valueSize);

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(void* address, nuint length);

    [LibraryImport(Libc, EntryPoint = "if_nametoindex", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint IfNameToIndex(string name);

    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, void* buffer, nuint size, int flags);

    // statx(2): <linux/stat.h>. struct statx has one layout on every architecture.
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_INO = 0x100;
    public const int StatxSize = 256;
    public const int StatxModeOffset = 28;
    public const int S_IFMT = 0xF000;
    public const int S_IFSOCK = 0xC000;
    public const int StatxInoOffset = 32;
    public const int StatxDevMajorOffset = 136;
    public const int StatxDevMinorOffset = 140;

    /// <summary>statx(2); flags 0 follows symbolic links. <paramref name="buffer"/> holds <see cref="StatxSize"/> bytes.</summary>
    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>poll(2) for input on one descriptor; an interrupted wait counts as nothing waiting.</summary>
    public static bool PollReadable(int fd, int timeoutMs) => PollInput(fd, timeoutMs) != 0;

    /// <summary>
    /// poll(2) for input on one descriptor: the events that came (POLLIN, POLLERR, ...), 0 when
    /// the wait ended with none or was interrupted.
    /// </summary>
    public static short PollInput(int fd, int timeoutMs)
    {
        var entry = new PollFd { Fd = fd, Events = POLLIN };
        int ready = Poll(&entry, 1, timeoutMs);
        if (ready < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno == EINTR ? (short)0 : throw new IOException("poll failed: " + Describe(errno));
        }

        return ready > 0 ? entry.ReturnedEvents : (short)0;
    }

    /// <summary>
    /// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): where the sockaddr_ll follows a received
    /// frame's header, and where a transmit slot's data starts (TPACKET3_HDRLEN less the
    /// sockaddr_ll, as tpacket_snd reads it without PACKET_TX_HAS_OFF).
    /// </summary>
    public static int Tpacket3HeaderSize => TpacketAlign(sizeof(Tpacket3Hdr));

    /// <summary>sizeof(struct virtio_net_hdr): what PACKET_VNET_HDR puts ahead of each frame, both ways.</summary>
    public const int VirtioNetHeaderSize = 10;

    /// <summary>TPACKET_ALIGN: rounded up to the ring's 16-byte alignment.</summary>
    public static int TpacketAlign(int size) => (size + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1);

    /// <summary>Host to network order for a 16-bit protocol number.</summary>
    public static ushort HostToNetwork(ushort value) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    /// <summary>The reason text for an errno, e.g. "Operation not permitted".</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno) + " (errno " + errno + ")";

    /// <summary>
    /// Checks a Linux interface name as the kernel's dev_valid_name does; the message says what
    /// would be valid.
    /// </summary>
    public static void ValidateInterfaceName(string device, string name)
    {
        int size = Encoding.UTF8.GetByteCount(name);
        if (size == 0 || size > MaxInterfaceNameSize)
        {
            throw new IOException($"{device}: interface name '{name}' is {size} bytes; Linux interface names are 1 to {MaxInterfaceNameSize} bytes");
        }

        if (name is "." or ".." || name.AsSpan().ContainsAny(InvalidNameChars))
        {
            throw new IOException($"{device}: interface name '{name}' is not valid; it must not be '.' or '..' or contain '/', ':' or whitespace");
        }
    }

    /// <summary>Copies a validated interface name into an <see cref="IfReq"/>.</summary>
    public static IfReq MakeIfReq(string name)
    {
        var request = default(IfReq);
        Span<byte> field = new(request.Name, MaxInterfaceNameSize + 1);
        Encoding.UTF8.GetBytes(name, field);
        return request;
    }

    /// <summary>
    /// The exception for a failed call while opening a port: permission problems become
    /// <see cref="UnauthorizedAccessException"/> saying how to get the privilege, the rest
    /// <see cref="IOException"/> naming the device and the call.
    /// </summary>
    public static Exception OpenFailure(string device, string what, int errno) => errno is EPERM or EACCES
        ? new UnauthorizedAccessException($"{device}: {what} was refused: {Describe(errno)}; run as root or grant CAP_NET_ADMIN")
        : new IOException($"{device}: {what} failed: {Describe(errno)}");

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    /// <summary>struct ifreq: the name, then a 24-byte union of which we use the flags and the MTU.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public struct IfReq
    {
        [FieldOffset(0)]
        public fixed byte Name[16];

        [FieldOffset(16)]
        public short Flags;

        [FieldOffset(16)]
        public int Mtu;

        [FieldOffset(16)]
        public int IfIndex;
    }

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>struct sockaddr_ll.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrLl
    {
        public ushort Family;
        public ushort Protocol; // network order
        public int IfIndex;
        public ushort HaType;
        public byte PacketType;
        public byte HaLength;
        public fixed byte Address[8];
    }

    /// <summary>struct packet_mreq.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PacketMreq
    {
        public int IfIndex;
        public ushort Type;
        public ushort AddressLength;
        public fixed byte Address[8];
    }

    /// <summary>
    /// struct tpacket_req3: the shape of a TPACKET_V3 ring asked for with PACKET_RX_RING or
    /// PACKET_TX_RING (a transmit ring leaves the last three fields 0).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TpacketReq3
    {
        public uint BlockSize;
        public uint BlockCount;
        public uint FrameSize;
        public uint FrameCount;
        public uint RetireTimeoutMs;
        public uint PrivateSize;
        public uint FeatureRequest;
    }

    /// <summary>struct tpacket_block_desc with its only header variant, struct tpacket_hdr_v1: the head of each ring block.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TpacketBlockDesc
    {
        public uint Version;
        public uint OffsetToPrivate;
        public TpacketHdrV1 Header;
    }

    /// <summary>struct tpacket_hdr_v1: who owns the block (<see cref="BlockStatus"/>) and where its frames are.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TpacketHdrV1
    {
        public uint BlockStatus;
        public uint PacketCount;
        public uint OffsetToFirstPacket;
        public uint BlockLength;
        public ulong SequenceNumber;
        public uint FirstPacketSeconds; // struct tpacket_bd_ts ts_first_pkt
        public uint FirstPacketNanoseconds;
        public uint LastPacketSeconds; // struct tpacket_bd_ts ts_last_pkt
        public uint LastPacketNanoseconds;
    }

    /// <summary>
    /// struct tpacket3_hdr: one received frame in a TPACKET_V3 block, the frame itself
    /// <see cref="Mac"/> bytes in; or one transmit-ring slot, where only <see cref="Length"/>,
    /// <see cref="Status"/> and a 0 <see cref="NextOffset"/> count.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Tpacket3Hdr
    {
        public uint NextOffset;
        public uint Seconds;
        public uint Nanoseconds;
        public uint SnapLength;
        public uint Length;
        public uint Status;
        public ushort Mac;
        public ushort Net;
        public TpacketHdrVariant1 Variant1;
        public fixed byte Padding[8];
    }

    /// <summary>struct tpacket_hdr_variant1: the receive hash and the VLAN tag the kernel took off the frame.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TpacketHdrVariant1
    {
        public uint RxHash;
        public uint VlanTci;
        public ushort VlanTpid;
        public ushort Padding;
    }

    /// <summary>struct tpacket_stats_v3: what PACKET_STATISTICS reports, and resets, for a TPACKET_V3 socket.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TpacketStatsV3
    {
        public uint Packets; // received and dropped
        public uint Drops;
        public uint FreezeQueueCount;
    }
}
