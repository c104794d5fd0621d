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

    public Forwarder(PolicyStore store, BufferPool pool)
    {
        _store = store;
        _pool = pool;
        _p = store.Current;
        int ports = _p.Ports.Length;
        _tx = new PacketBuffer[ports][];
        for (int i = 0; i < ports; i++)
        {
            _tx[i] = new PacketBuffer[TxQueueCapacity];
        }

        _txCount = new int[ports];
        Counters = new DataplaneCounters(ports);
    }

    public DataplaneCounters Counters { get; }

    public BufferPool Pool => _pool;

    /// <summary>The policy version the current batch runs against.</summary>
    public PolicySnapshot Policy => _p;

    public int PortCount => _tx.Length;

    /// <summary>Takes the current policy version for the frames that follow (once per batch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginBatch()
    {
        var p = _store.Current;
        // A version with another port layout needs a new worker; keep the old one until then.
        if (p.Ports.Length == _tx.Length)
        {
            _p = p;
        }
    }

    /// <summary>Processes a batch received on <paramref name="port"/>.</summary>
    public void ProcessBatch(int port, ReadOnlySpan<PacketBuffer> batch)
    {
        BeginBatch();
        for (int i = 0; i < batch.Length; i++)
        {
            Process(port, batch[i]);
        }
    }

    /// <summary>Decides one frame's fate. The buffer now belongs to the forwarder.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Process(int port, PacketBuffer buffer)
    {
        var counters = Counters;
        counters.PortRx[port]++;
        var info = _p.Ports[port];
        DropReason reason = info.Role == PortRole.Vm ? FromVm(info, buffer) : FromProvider(info, buffer);
        if (reason != DropReason.None)
        {
            counters.Drops[(int)reason]++;
            _pool.Return(buffer);
        }
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
        int n = _txCount[port];
        if (n == TxQueueCapacity)
        {
            return DropReason.TxFull;
        }

        _tx[port][n] = buffer;
        _txCount[port] = n + 1;
        Counters.PortTx[port]++;
        Counters.Forwarded++;
        return DropReason.None;
    }

    /// <summary>Queues an answer (the request is consumed, not dropped).</summary>
    private DropReason Answer(int port, PacketBuffer buffer)
    {
        int n = _txCount[port];
        if (n == TxQueueCapacity)
        {
            return DropReason.TxFull;
        }

        _tx[port][n] = buffer;
        _txCount[port] = n + 1;
        Counters.PortTx[port]++;
        Counters.Answered++;
        return DropReason.None;
    }

    /// <summary>Room left on a port's queue this batch.</summary>
    private int TxRoom(int port) => TxQueueCapacity - _txCount[port];

    /// <summary>Queues an extra frame made from one input (a fragment); the input is counted by the caller.</summary>
    private void QueueExtra(int port, PacketBuffer buffer)
    {
        _tx[port][_txCount[port]++] = buffer;
        Counters.PortTx[port]++;
    }

    /// <summary>IPv4 limited broadcast, IPv4 multicast or IPv6 multicast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsFloodDestination(IpAddr a) =>
        a.IsV4 ? a.V4 == 0xFFFF_FFFF || (a.V4 >> 28) == 0xE : (a.Hi >> 56) == 0xFF;

    /// <summary>The record of <paramref name="ca"/> in <paramref name="vsid"/> or, failing that, in another VSID of its routing domain.</summary>
    private int FindInDomain(uint vsid, int domain, IpAddr ca)
    {
        int r = _p.RecordIndex.Find(vsid, ca);
        if (r >= 0 || domain < 0)
        {
            return r;
        }

        foreach (uint v in _p.Domains[domain].Vsids)
        {
            if (v != vsid && (r = _p.RecordIndex.Find(v, ca)) >= 0)
            {
                return r;
            }
        }

        return -1;
    }
}
