using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>
/// The per-frame decision of SPEC section 4, for one worker. A batch is processed against one
/// policy version (read once, lock-free); every frame ends forwarded or answered (its buffer
/// queued on the port it leaves by) or dropped under exactly one <see cref="DropReason"/> (its
/// buffer back in the pool). The caller hands each port's queue to the port once per batch.
/// </summary>
public sealed partial class Forwarder
{
    /// <summary>Frames one port's transmit queue holds per batch.</summary>
    public const int TxQueueCapacity = 1024;

    private readonly PolicyStore _store;
    private readonly BufferPool _pool;
    private readonly PacketBuffer[][] _tx;
    private readonly int[] _txCount;
    private PolicySnapshot _p;
    private MacAddress _gatewayMac;

    /// <summary>Set while the external port's echo reply goes its way: parked, it is an answer (NeighborResolver).</summary>
    private bool _answering;

    // One-entry cache of the last VSID a decapsulated frame named (valid for the current _p).
    private uint _cachedVsid;
    private VsidInfo? _cachedVsidInfo;

    // Per-chunk state of the staged batch path (VPP style: every stage runs over the whole chunk
    // so the memory loads one stage issues as prefetches have landed when the next stage reads).
    private const int Chunk = 32;
    private readonly PacketInfo[] _info = new PacketInfo[Chunk];
    private readonly PacketInfo[] _inner = new PacketInfo[Chunk];
    private readonly DecapState[] _decap = new DecapState[Chunk];
    private readonly DropReason[] _reason = new DropReason[Chunk];
    private readonly byte[] _path = new byte[Chunk];
    private readonly int[] _src = new int[Chunk];
    private readonly int[] _dst = new int[Chunk];
    private readonly ulong[] _dstData = new ulong[Chunk];
    private readonly ulong[] _srcData = new ulong[Chunk];
    private readonly uint[] _hash = new uint[Chunk];

    public Forwarder(PolicyStore store, BufferPool pool)
    {
        _store = store;
        _pool = pool;
        _p = store.Current;
        _gatewayMac = _p.Global.GatewayMac;
        int ports = _p.Ports.Length;
        _tx = new PacketBuffer[ports][];
        for (int i = 0; i < ports; i++)
        {
            _tx[i] = new PacketBuffer[TxQueueCapacity];
        }

        _txCount = new int[ports];
        Counters = new DataplaneCounters(ports);
        UseAcls(_p);
        UseDynamicRecords(_p);
    }

    public DataplaneCounters Counters { get; }

    public BufferPool Pool => _pool;

    /// <summary>The policy version the current batch runs against.</summary>
    public PolicySnapshot Policy => _p;

    /// <summary>When set, each batch tells the store which version it uses (a long-running worker; see <see cref="PolicyStore.WaitUntilSeen"/>).</summary>
    public PolicyReader? Reader { get; set; }

    public int PortCount => _tx.Length;

    /// <summary>When set, each input frame dropped is noted with its reason (a capture with drops, a trace); null on the usual path.</summary>
    internal DropRecorder? DropRecorder { get; set; }

    /// <summary>Takes the current policy version for the frames that follow (once per batch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginBatch()
    {
        var reader = Reader;
        var p = reader is null ? _store.Current : reader.Begin(_p.Version);
        // A version with another port layout needs a new worker; keep the old one until then.
        if (p.Ports.Length == _tx.Length)
        {
            if (!ReferenceEquals(p, _p))
            {
                _cachedVsidInfo = null;
                DropParked(DropReason.PolicyChanged);
                UseAcls(p);
                UseDynamicRecords(p);
                UseMigration(p);
            }

            _p = p;
            _gatewayMac = p.Global.GatewayMac;
        }

        reader?.Using(_p.Version);
    }

    /// <summary>
    /// Processes a batch received on <paramref name="port"/> in three stages over chunks of 32
    /// frames: parse and classify every frame, prefetching the lookup slot it will need; look
    /// each up, prefetching the tunnel (encap, NAT) the slot names; then decide each frame.
    /// Frames off the common path (ARP, ND, routing, errors) are decided by the same code as
    /// <see cref="Process"/>, which <c>BatchEquivalenceTests</c> holds to the same results.
    /// </summary>
    public void ProcessBatch(int port, ReadOnlySpan<PacketBuffer> batch)
    {
        BeginBatch();
        var info = _p.Ports[port];
        Counters.PortRx[port] += batch.Length;
        for (int start = 0; start < batch.Length; start += Chunk)
        {
            var chunk = batch.Slice(start, Math.Min(Chunk, batch.Length - start));
            if (info.Role == PortRole.Vm)
            {
                VmChunk(info, chunk);
            }
            else if (info.IsExternal)
            {
                ExternalChunk(info, chunk);
            }
            else
            {
                ProviderChunk(info, chunk);
            }
        }
    }

    private void VmChunk(PortInfo port, ReadOnlySpan<PacketBuffer> chunk)
    {
        var p = _p;
        var table = p.RecordIndex;
        uint vsid = port.Vsid!.Vsid;
        for (int i = 0; i < chunk.Length; i++)
        {
            _reason[i] = VmClassify(port, chunk[i].Frame, ref _info[i], out VmPath path);
            _path[i] = (byte)path;
            if (path == VmPath.Unicast)
            {
                _hash[i] = table.Prefetch(vsid, _info[i].Destination);
            }
        }

        // A VM port's frames come from one or a few CAs: look the source up once per run of
        // equal sources in the chunk. The destination's slot was prefetched above; as soon as
        // it names a remote PA, prefetch what the tunnel needs so it lands while the rest of the
        // chunk is looked up. The destination's record is never read.
        IpAddr lastSource = default;
        int lastSourceIndex = int.MinValue;
        int row = -1;
        for (int i = 0; i < chunk.Length; i++)
        {
            if (_path[i] != (byte)VmPath.Unicast)
            {
                continue;
            }

            if (lastSourceIndex == int.MinValue || _info[i].Source != lastSource)
            {
                lastSource = _info[i].Source;
                lastSourceIndex = table.Find(vsid, lastSource);
                row = lastSourceIndex >= 0 ? p.Records[lastSourceIndex].TemplateRow : -1;
            }

            _src[i] = lastSourceIndex;
            int d = _dst[i] = table.Find(vsid, _info[i].Destination, _hash[i], out ulong data);
            _dstData[i] = data;
            if (d >= 0 && row >= 0 && !ForwardingData.IsLocal(data))
            {
                ref Tunnel tunnel = ref p.Tunnels[row + ForwardingData.Index(data)];
                if (ForwardingData.IsNat(data))
                {
                    // One tunnel per NAT PA, but its template is shared per next hop (hot).
                    Prefetch(ref tunnel);
                }
                else
                {
                    // Encap tunnels are per remote host (thousands, cache-resident): read the
                    // tunnel now and prefetch its template, which is as many again.
                    int t = tunnel.Template;
                    Prefetch(ref p.Templates[t]);
                    Prefetch(ref p.TemplateBytes[t * PolicySnapshot.TemplateStride]);
                }
            }
        }

        for (int i = 0; i < chunk.Length; i++)
        {
            var buffer = chunk[i];
            var path = (VmPath)_path[i];
            DropReason r = path == VmPath.Unicast
                ? VmUnicast(port, buffer, ref _info[i], _src[i], _dst[i], _dstData[i])
                : VmSlowPath(port, buffer, ref _info[i], path, _reason[i]);
            Settle(buffer, r);
        }
    }

    private void ProviderChunk(PortInfo port, ReadOnlySpan<PacketBuffer> chunk)
    {
        var p = _p;
        var table = p.RecordIndex;
        for (int i = 0; i < chunk.Length; i++)
        {
            _reason[i] = ProviderClassify(port, chunk[i].Frame, ref _info[i], ref _inner[i], ref _decap[i], out ProviderPath path);
            _path[i] = (byte)path;
            if (path == ProviderPath.Nvgre)
            {
                _hash[i] = table.Prefetch(_decap[i].Vsid, _inner[i].Source);
            }
        }

        // Decapsulated traffic goes to a few local VMs: look each destination up once per run.
        IpAddr lastDestination = default;
        uint lastVsid = 0;
        int lastDestinationIndex = int.MinValue;
        ulong lastDestinationData = 0;
        for (int i = 0; i < chunk.Length; i++)
        {
            if (_path[i] == (byte)ProviderPath.Nvgre)
            {
                if (lastDestinationIndex == int.MinValue || _inner[i].Destination != lastDestination || _decap[i].Vsid != lastVsid)
                {
                    lastDestination = _inner[i].Destination;
                    lastVsid = _decap[i].Vsid;
                    lastDestinationIndex = table.Find(lastVsid, lastDestination, out lastDestinationData);
                }

                _dst[i] = lastDestinationIndex;
                _dstData[i] = lastDestinationData;
                int s = _src[i] = table.Find(_decap[i].Vsid, _inner[i].Source, _hash[i], out _srcData[i]);
                if (s >= 0 && !ForwardingData.IsLocal(_srcData[i]))
                {
                    Prefetch(ref p.RemotePas[ForwardingData.Index(_srcData[i])]);
                }
            }
        }

        for (int i = 0; i < chunk.Length; i++)
        {
            var buffer = chunk[i];
            var path = (ProviderPath)_path[i];
            DropReason r = path == ProviderPath.Nvgre
                ? NvgreDeliver(buffer, in _inner[i], in _decap[i], _dst[i], _dstData[i], _src[i], _srcData[i])
                : ProviderSlowPath(port, buffer, ref _info[i], in _inner[i], in _decap[i], path, _reason[i]);
            Settle(buffer, r);
        }
    }

    /// <summary>Counts a drop and takes the buffer back; forwarded and answered frames were counted when queued.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Settle(PacketBuffer buffer, DropReason reason)
    {
        if (reason != DropReason.None)
        {
            Counters.Drops[(int)reason]++;
            DropRecorder?.Record(buffer, reason);
            _pool.Return(buffer);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch<T>(ref T location)
    {
        // A hint only: prefetching an address the GC has just moved away from is harmless.
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref location));
        }
    }

    /// <summary>Decides one frame's fate. The buffer now belongs to the forwarder.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Process(int port, PacketBuffer buffer)
    {
        Counters.PortRx[port]++;
        var info = _p.Ports[port];
        Settle(buffer, info.Role == PortRole.Vm ? FromVm(info, buffer) : info.IsExternal ? FromExternal(info, buffer) : FromProvider(info, buffer));
    }

    /// <summary>The frames queued for <paramref name="port"/> since the last <see cref="CompleteTransmit"/>.</summary>
    public ReadOnlySpan<PacketBuffer> PendingTransmit(int port) => _tx[port].AsSpan(0, _txCount[port]);

    /// <summary>Returns the queued buffers of <paramref name="port"/> to the pool once the port has sent (copied) them.</summary>
    public void CompleteTransmit(int port)
    {
        var q = _tx[port];
        for (int i = 0; i < _txCount[port]; i++)
        {
            _pool.Return(q[i]);
            q[i] = null!;
        }

        _txCount[port] = 0;
    }

    /// <summary>Queues a forwarded frame.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DropReason Forward(int port, PacketBuffer buffer)
    {
        if (!Enqueue(port, buffer))
        {
            return DropReason.TxFull;
        }

        Counters.Forwarded++;
        return DropReason.None;
    }

    /// <summary>Queues an answer (the request is consumed, not dropped).</summary>
    private DropReason Answer(int port, PacketBuffer buffer)
    {
        if (!Enqueue(port, buffer))
        {
            return DropReason.TxFull;
        }

        Counters.Answered++;
        return DropReason.None;
    }

    /// <summary>Puts a frame on a port's transmit queue; false when the queue is full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Enqueue(int port, PacketBuffer buffer)
    {
        int n = _txCount[port];
        if (n == TxQueueCapacity)
        {
            return false;
        }

        _tx[port][n] = buffer;
        _txCount[port] = n + 1;
        Counters.PortTx[port]++;
        return true;
    }

    /// <summary>Room left on a port's queue this batch.</summary>
    private int TxRoom(int port) => TxQueueCapacity - _txCount[port];

    /// <summary>Queues an extra frame made from one input (a fragment); the input is counted by the caller.</summary>
    private void QueueExtra(int port, PacketBuffer buffer)
    {
        if (!Enqueue(port, buffer))
        {
            _pool.Return(buffer); // callers check the room first; this only guards the pool
        }
    }

    /// <summary>IPv4 limited broadcast, IPv4 multicast or IPv6 multicast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsFloodDestination(IpAddr a) => a.IsBroadcastOrMulticast;

    /// <summary>The record of <paramref name="ca"/> in <paramref name="vsid"/> or, failing that, in another VSID of its routing domain.</summary>
    private int FindInDomain(uint vsid, int domain, IpAddr ca) => _p.FindRecordInDomain(vsid, domain, ca);
}
