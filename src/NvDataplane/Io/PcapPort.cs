using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NvDataplane.Pipeline;

namespace NvDataplane.Io;

/// <summary>
/// A device opened through libpcap (<c>pcap:NAME</c>): Debian's libpcap0.8 on Linux, Npcap's
/// wpcap on Windows, for hosts without AF_PACKET. Live capture in immediate mode, promiscuous,
/// incoming direction only (so our own transmissions are not read back), non-blocking;
/// frames are sent with pcap_inject. Called through <c>LibraryImport</c>; no wrapper library.
/// </summary>
public sealed unsafe partial class PcapPort : IPacketPort
{
    private const int PcapErrbufSize = 256;
    private const int PcapDirectionIn = 1;

    /// <summary>The longest frame taken whole: a 9,216-byte jumbo frame, what a pool buffer holds.</summary>
    private const int SnapLength = 9216;

    private const int BufferBytes = 16 * 1024 * 1024;
    private const int PcapError = -1;
    private const int PcapErrorNoSuchDevice = -5;
    private const int DltEn10Mb = 1;
    private const int PcapErrorPermDenied = -8;
    private const string Library = "pcap";

    private nint _handle;

    static PcapPort() => NativeLibrary.SetDllImportResolver(typeof(PcapPort).Assembly, Resolve);

    public PcapPort(string deviceName)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        Name = "pcap:" + deviceName;
        byte* errbuf = stackalloc byte[PcapErrbufSize];
        nint handle;
        try
        {
            handle = PcapCreate(deviceName, errbuf);
        }
        catch (DllNotFoundException)
        {
            throw new IOException($"{Name}: libpcap is not installed (Debian: apt-get install libpcap0.8; Windows: install Npcap)");
        }

        if (handle == 0)
        {
            throw new IOException($"{Name}: {Marshal.PtrToStringUTF8((nint)errbuf)}");
        }

        _handle = handle;
        // In immediate mode libpcap gives every frame a ring slot of snaplen bytes: with 65535 its
        // default 2 MiB held about 30 frames. A jumbo-frame snaplen and a 16 MiB buffer hold ~1,700.
        if (PcapSetSnaplen(handle, SnapLength) != 0 || PcapSetBufferSize(handle, BufferBytes) != 0
            || PcapSetPromisc(handle, 1) != 0 || PcapSetImmediateMode(handle, 1) != 0)
        {
            Dispose();
            throw new IOException($"{Name}: libpcap refused the capture options (snaplen, buffer size, promiscuous, immediate mode)");
        }

        int status = PcapActivate(handle);
        if (status < 0)
        {
            string why = Marshal.PtrToStringUTF8(PcapGetErr(handle)) ?? "";
            Dispose();
            throw status switch
            {
                PcapErrorNoSuchDevice => new IOException($"{Name}: no interface {deviceName} ({why})"),
                PcapErrorPermDenied => new UnauthorizedAccessException($"{Name}: permission denied ({why}); run as root or grant CAP_NET_RAW"),
                _ => new IOException($"{Name}: pcap_activate failed ({status}: {why})"),
            };
        }

        int linkType = PcapDatalink(handle);
        if (linkType != DltEn10Mb)
        {
            Dispose();
            throw new IOException($"{Name}: {deviceName} is not an Ethernet device (libpcap link type {linkType}, not DLT_EN10MB); name one Ethernet interface (pcap:any and tunnel or loopback devices cannot carry these frames)");
        }

        // Where the platform cannot filter by direction our own frames are read back; they fail
        // the source checks (foreign source MAC, or not for this host) and are counted as drops.
        DirectionFiltered = PcapSetDirection(handle, PcapDirectionIn) == 0;
        if (PcapSetNonBlock(handle, 1, errbuf) < 0)
        {
            Dispose();
            throw new IOException($"{Name}: {Marshal.PtrToStringUTF8((nint)errbuf)}");
        }

        SelectableFd = PcapGetSelectableFd(handle);
    }

    public string Name { get; }

    /// <summary>Whether libpcap hides the frames this port sends from its own receive side.</summary>
    public bool DirectionFiltered { get; }

    /// <summary>The descriptor poll(2) can wait on (-1 where libpcap has none, e.g. on Windows).</summary>
    public int SelectableFd { get; }

    /// <summary>Frames too large for a pool buffer, dropped on receive.</summary>
    public long ReceiveTruncated { get; private set; }

    /// <summary>Frames libpcap refused to send.</summary>
    public long TransmitDropped { get; private set; }

    /// <summary>
    /// Frames the capture lost since the port opened because libpcap's buffer was full (read too
    /// slowly): pcap_stats' ps_drop, a 32-bit count. Reading this asks libpcap.
    /// </summary>
    public long DeviceDrops
    {
        get
        {
            var statistics = default(PcapStatistics);
            return _handle != 0 && PcapStats(_handle, &statistics) == 0 ? statistics.Dropped : 0;
        }
    }

    public int Receive(Span<PacketBuffer> into, BufferPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        int count = 0;
        while (count < into.Length)
        {
            int r = PcapNextEx(_handle, out var header, out byte* data);
            if (r != 1)
            {
                if (r == PcapError)
                {
                    throw ReceiveFailure(); // the device went away (libpcap: "The interface disappeared"), or worse
                }

                break; // 0: nothing waiting now; -2 (PCAP_ERROR_BREAK): pcap_breakloop, not an error
            }

            int length = (int)header->CapLen;
            if (header->CapLen < header->Len)
            {
                ReceiveTruncated++; // longer than the snap length: cannot be forwarded whole
                continue;
            }

            var buffer = pool.Rent();
            if (buffer is null)
            {
                break;
            }

            if (length > buffer.Capacity)
            {
                pool.Return(buffer);
                ReceiveTruncated++;
                continue;
            }

            new ReadOnlySpan<byte>(data, length).CopyTo(buffer.Data.AsSpan(PacketBuffer.Headroom));
            buffer.Offset = PacketBuffer.Headroom;
            buffer.Length = length;
            buffer.TimestampNs = (header->Seconds * 1_000_000_000L) + (header->Microseconds * 1000L);
            into[count++] = buffer;
        }

        return count;
    }

    public int Transmit(ReadOnlySpan<PacketBuffer> frames)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        for (int i = 0; i < frames.Length; i++)
        {
            fixed (byte* p = &frames[i].Data[frames[i].Offset])
            {
                if (PcapInject(_handle, p, (nuint)frames[i].Length) < 0)
                {
                    if (OperatingSystem.IsLinux() && Marshal.GetLastPInvokeError() is LinuxNative.ENXIO or LinuxNative.ENODEV)
                    {
                        throw new IOException($"{Name}: the device went away: {Marshal.PtrToStringUTF8(PcapGetErr(_handle))}");
                    }

                    TransmitDropped++; // taken and counted, so one bad frame never stalls the queue
                }
            }
        }

        return frames.Length;
    }

    public bool WaitReadable(int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        if (SelectableFd < 0)
        {
            Thread.Sleep(Math.Max(0, timeoutMs));
            return true;
        }

        return LinuxNative.PollReadable(SelectableFd, timeoutMs);
    }

    public void Dispose()
    {
        if (_handle != 0)
        {
            PcapClose(_handle);
            _handle = 0;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private IOException ReceiveFailure() => new($"{Name}: receiving failed: {Marshal.PtrToStringUTF8(PcapGetErr(_handle))}");

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library)
        {
            return 0;
        }

        foreach (string candidate in new[] { "libpcap.so.0.8", "libpcap.so.1", "libpcap.so", "wpcap", "libpcap.dylib" })
        {
            if (NativeLibrary.TryLoad(candidate, assembly, path, out nint handle))
            {
                return handle;
            }
        }

        return 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PcapPacketHeader
    {
        public long Seconds; // struct timeval on 64-bit Linux
        public long Microseconds;
        public uint CapLen;
        public uint Len;
    }

    /// <summary>struct pcap_stat, with room for the three counts Windows adds after these.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PcapStatistics
    {
        public uint Received;
        public uint Dropped;
        public uint InterfaceDropped;
        public fixed uint WindowsOnly[3];
    }

    [LibraryImport(Library, EntryPoint = "pcap_create", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint PcapCreate(string source, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_set_snaplen")]
    private static partial int PcapSetSnaplen(nint p, int snaplen);

    [LibraryImport(Library, EntryPoint = "pcap_set_buffer_size")]
    private static partial int PcapSetBufferSize(nint p, int bytes);

    [LibraryImport(Library, EntryPoint = "pcap_set_promisc")]
    private static partial int PcapSetPromisc(nint p, int promisc);

    [LibraryImport(Library, EntryPoint = "pcap_set_immediate_mode")]
    private static partial int PcapSetImmediateMode(nint p, int immediate);

    [LibraryImport(Library, EntryPoint = "pcap_activate")]
    private static partial int PcapActivate(nint p);

    [LibraryImport(Library, EntryPoint = "pcap_datalink")]
    private static partial int PcapDatalink(nint p);

    [LibraryImport(Library, EntryPoint = "pcap_setdirection")]
    private static partial int PcapSetDirection(nint p, int direction);

    [LibraryImport(Library, EntryPoint = "pcap_setnonblock")]
    private static partial int PcapSetNonBlock(nint p, int nonblock, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_get_selectable_fd")]
    private static partial int PcapGetSelectableFd(nint p);

    [LibraryImport(Library, EntryPoint = "pcap_geterr")]
    private static partial nint PcapGetErr(nint p);

    [LibraryImport(Library, EntryPoint = "pcap_next_ex")]
    private static partial int PcapNextEx(nint p, out PcapPacketHeader* header, out byte* data);

    [LibraryImport(Library, EntryPoint = "pcap_inject", SetLastError = true)]
    private static partial int PcapInject(nint p, byte* buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "pcap_stats")]
    private static partial int PcapStats(nint p, PcapStatistics* statistics);

    [LibraryImport(Library, EntryPoint = "pcap_close")]
    private static partial void PcapClose(nint p);
}
