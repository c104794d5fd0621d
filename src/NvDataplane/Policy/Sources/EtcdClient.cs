using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace NvDataplane.Policy.Sources;

/// <summary>
/// A small etcd v3 client over the JSON gRPC gateway (etcd 3.4+: <c>POST /v3/kv/range</c>,
/// <c>/v3/kv/put</c>, <c>/v3/kv/deleterange</c>, <c>/v3/kv/compaction</c>, and <c>/v3/watch</c>,
/// whose response is a stream of JSON objects). Keys and values travel base64-encoded, 64-bit
/// numbers as strings. Written by hand with HttpClient and System.Text.Json because the NuGet
/// client (dotnet-etcd) brings in gRPC and protobuf for the five calls nvdp makes.
/// </summary>
/// <remarks>
/// Several endpoints (the members of one cluster) are tried in turn: a call that cannot reach
/// its member moves the client to the next one for the calls after it; retrying is the caller's
/// choice. Connections have TCP keep-alive (a peer gone silent is found in about 10 s) and a
/// connect timeout, unary calls a request timeout; the watch asks the member to end it when the
/// member has lost its leader (the <c>hasleader</c> metadata etcdctl sends), so a member cut off
/// from its cluster by a partition does not hold a watch that no longer sees writes, and while a
/// watch is open its member is probed (<see cref="WatchProbeInterval"/>), so a member whose
/// process hangs while its kernel still answers keep-alives does not hold it either.
/// </remarks>
public sealed class EtcdClient : IDisposable
{
    private const int MaxMessageSize = 256 << 20;

    /// <summary>gRPC Unavailable, etcd's status for "no leader" and a member stopping.</summary>
    private const int UnavailableCode = 14;

    /// <summary>
    /// How often the member serving an open watch is asked to read one key. A watch on a prefix
    /// nobody writes is silent, so silence is no sign of trouble; and a member whose process
    /// hangs (SIGSTOP, a deadlock, swapped out) keeps its connections open while its kernel
    /// answers TCP keep-alives, so only a request the process must answer itself finds it.
    /// With <see cref="WatchProbeTimeout"/>, a hung member loses the watch within 8 s (keep-alive
    /// finds a dead peer in about 11 s), for one request of a few hundred bytes per watch every 5 s.
    /// </summary>
    internal static readonly TimeSpan WatchProbeInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a probe waits for its answer. The probe is a serializable read of one key, which
    /// the member answers from its own store with no consensus round and no disk write (well
    /// under a millisecond when it is alive, whatever its leader or disk are doing); 3 s, the
    /// connect timeout, is three of etcd's default election timeouts, room for a loaded machine.
    /// </summary>
    internal static readonly TimeSpan WatchProbeTimeout = TimeSpan.FromSeconds(3);

    private readonly IReadOnlyList<Uri> _endpoints;
    private readonly HttpClient _http;
    private readonly TimeSpan _requestTimeout;
    private readonly TimeSpan _probeInterval;
    private int _current;
    private long _probesAnswered;

    public EtcdClient(IReadOnlyList<Uri> endpoints, TimeSpan? requestTimeout = null)
        : this(endpoints, requestTimeout, WatchProbeInterval)
    {
    }

    /// <summary>A client whose watches probe their member every <paramref name="probeInterval"/> (tests: quicker than the daemon's).</summary>
    internal EtcdClient(IReadOnlyList<Uri> endpoints, TimeSpan? requestTimeout, TimeSpan probeInterval)
    {
        ArgumentOutOfRangeException.ThrowIfZero(endpoints.Count);
        _endpoints = endpoints;
        _requestTimeout = requestTimeout ?? TimeSpan.FromSeconds(5);
        _probeInterval = probeInterval;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false, // the members are addressed directly, whatever http_proxy says
            ConnectTimeout = TimeSpan.FromSeconds(3),
            ConnectCallback = ConnectAsync,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The member the next call goes to.</summary>
    public Uri Endpoint => _endpoints[Volatile.Read(ref _current) % _endpoints.Count];

    /// <summary>Probes of watched members that were answered (<see cref="WatchProbeInterval"/>).</summary>
    internal long ProbesAnswered => Interlocked.Read(ref _probesAnswered);

    /// <summary>The end of the range of every key that starts with <paramref name="prefix"/> (etcd's prefix end).</summary>
    public static byte[] PrefixEnd(byte[] prefix)
    {
        var end = (byte[])prefix.Clone();
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return end[..(i + 1)];
            }
        }

        return [0]; // every key
    }

    /// <summary>Keys in [<paramref name="key"/>, <paramref name="rangeEnd"/>) at <paramref name="revision"/> (0: the latest), at most <paramref name="limit"/> (0: all).</summary>
    public async Task<EtcdRange> RangeAsync(byte[] key, byte[] rangeEnd, long revision, long limit, CancellationToken cancel)
    {
        using var json = await PostAsync("v3/kv/range", w =>
        {
            w.WriteBase64String("key", key);
            w.WriteBase64String("range_end", rangeEnd);
            w.WriteString("revision", Number(revision));
            w.WriteString("limit", Number(limit));
        }, cancel).ConfigureAwait(false);
        var root = json.RootElement;
        var kvs = new List<EtcdKeyValue>();
        if (root.TryGetProperty("kvs", out var items))
        {
            foreach (var kv in items.EnumerateArray())
            {
                kvs.Add(ReadKeyValue(kv));
            }
        }

        return new EtcdRange(HeaderRevision(root), kvs, root.TryGetProperty("more", out var more) && more.ValueKind == JsonValueKind.True);
    }

    /// <summary>Writes one key; returns the revision of the write.</summary>
    public Task<long> PutAsync(string key, string value, CancellationToken cancel = default) =>
        PutAsync(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value), cancel);

    /// <summary>Writes one key as bytes (etcd's keys are bytes, not necessarily text); returns the revision of the write.</summary>
    public async Task<long> PutAsync(byte[] key, byte[] value, CancellationToken cancel = default)
    {
        using var json = await PostAsync("v3/kv/put", w =>
        {
            w.WriteBase64String("key", key);
            w.WriteBase64String("value", value);
        }, cancel).ConfigureAwait(false);
        return HeaderRevision(json.RootElement);
    }

    /// <summary>Deletes one key; returns the revision of the delete.</summary>
    public Task<long> DeleteAsync(string key, CancellationToken cancel = default) => DeleteAsync(Encoding.UTF8.GetBytes(key), cancel);

    /// <summary>Deletes one key given as bytes; returns the revision of the delete.</summary>
    public async Task<long> DeleteAsync(byte[] key, CancellationToken cancel = default)
    {
        using var json = await PostAsync("v3/kv/deleterange", w => w.WriteBase64String("key", key), cancel).ConfigureAwait(false);
        return HeaderRevision(json.RootElement);
    }

    /// <summary>Forgets every revision before <paramref name="revision"/>; watches and reads from older ones fail as compacted.</summary>
    public async Task CompactAsync(long revision, CancellationToken cancel = default)
    {
        using var _ = await PostAsync("v3/kv/compaction", w =>
        {
            w.WriteString("revision", Number(revision));
            w.WriteBoolean("physical", true);
        }, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Watches [<paramref name="key"/>, <paramref name="rangeEnd"/>) from <paramref name="startRevision"/>,
    /// one response per message of the stream, until the stream ends, fails (an exception) or
    /// <paramref name="cancel"/> fires. A response with <see cref="EtcdWatchResponse.Canceled"/>
    /// is the last: its <see cref="EtcdWatchResponse.CompactRevision"/> is set when
    /// <paramref name="startRevision"/> was compacted. While it is open, its member is probed
    /// (<see cref="ProbeAsync"/>): one that does not answer ends it with an
    /// <see cref="EtcdUnreachableException"/>, as a connection that breaks does.
    /// </summary>
    public async IAsyncEnumerable<EtcdWatchResponse> WatchAsync(byte[] key, byte[] rangeEnd, long startRevision, [EnumeratorCancellation] CancellationToken cancel)
    {
        var endpoint = Endpoint;
        using var request = Request(endpoint, "v3/watch", w =>
        {
            w.WriteStartObject("create_request");
            w.WriteBase64String("key", key);
            w.WriteBase64String("range_end", rangeEnd);
            w.WriteString("start_revision", Number(startRevision));
            w.WriteBoolean("progress_notify", true);
            w.WriteEndObject();
        });
        request.Headers.Add("Grpc-Metadata-hasleader", "true");
        HttpResponseMessage response;
        using (var headers = CancellationTokenSource.CreateLinkedTokenSource(cancel))
        {
            headers.CancelAfter(_requestTimeout);
            response = await Send(endpoint, request, HttpCompletionOption.ResponseHeadersRead, _requestTimeout, headers.Token, cancel).ConfigureAwait(false);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                using var error = await ReadJson(response, cancel).ConfigureAwait(false);
                throw Failed(endpoint, error.RootElement, response.StatusCode);
            }

            // The probe cancels `watching` (and so the read in progress) when the member does not answer it.
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var probe = ProbeAsync(endpoint, key, watching);
            try
            {
                var stream = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    var buffer = new byte[64 << 10];
                    int filled = 0;
                    while (true)
                    {
                        if (filled == buffer.Length)
                        {
                            if (buffer.Length >= MaxMessageSize)
                            {
                                throw new EtcdException($"a watch message from {endpoint} is larger than {MaxMessageSize >> 20} MiB", null);
                            }

                            Array.Resize(ref buffer, buffer.Length * 2);
                        }

                        int read = await ReadStream(endpoint, stream, buffer.AsMemory(filled), probe, watching, cancel).ConfigureAwait(false);
                        if (read == 0)
                        {
                            yield break; // the member ended the stream
                        }

                        filled += read;
                        int start = 0;
                        while (NextMessage(buffer.AsSpan(start, filled - start)) is int size and > 0)
                        {
                            using (var message = JsonDocument.Parse(buffer.AsMemory(start, size)))
                            {
                                yield return ReadWatchMessage(endpoint, message.RootElement, response.StatusCode);
                            }

                            start += size;
                        }

                        buffer.AsSpan(start, filled - start).CopyTo(buffer);
                        filled -= start;
                    }
                }
            }
            finally
            {
                watching.Cancel();
                await probe.ConfigureAwait(false); // never throws; ends at once once canceled
            }
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Reads the watch stream; a connection that breaks under it, or a member that did not answer
    /// its probe, ends the watch as unreachable and makes the next call go to the next member.
    /// </summary>
    private async ValueTask<int> ReadStream(Uri endpoint, Stream stream, Memory<byte> into, Task<EtcdUnreachableException?> probe, CancellationTokenSource watching, CancellationToken cancel)
    {
        try
        {
            return await stream.ReadAsync(into, watching.Token).ConfigureAwait(false);
        }
        catch (Exception e) when ((e is IOException || watching.IsCancellationRequested) && !cancel.IsCancellationRequested)
        {
            // While a read waits, only the probe cancels `watching`, and only to say the member is hung.
            if (watching.IsCancellationRequested && await probe.ConfigureAwait(false) is { } hung)
            {
                throw hung;
            }

            MoveOff(endpoint);
            throw new EtcdUnreachableException($"the watch on {endpoint} broke: {e.Message}", e);
        }
    }

    /// <summary>
    /// While a watch is open, reads one key from its member every <see cref="_probeInterval"/>:
    /// the watch's own key (within what the host may read), keys only, serializable (from the
    /// member's store: no consensus round, so it does not depend on the leader, which the watch's
    /// <c>hasleader</c> looks after). A member that cannot be reached or does not answer within
    /// <see cref="WatchProbeTimeout"/> is hung: the watch is canceled and this returns why; one
    /// that answers, even with an error, is alive. Null when the watch ended first. Never throws.
    /// </summary>
    private async Task<EtcdUnreachableException?> ProbeAsync(Uri endpoint, byte[] key, CancellationTokenSource watching)
    {
        var stop = watching.Token;
        try
        {
            while (true)
            {
                await Task.Delay(_probeInterval, stop).ConfigureAwait(false);
                try
                {
                    using var _ = await PostAsync(endpoint, "v3/kv/range", w =>
                    {
                        w.WriteBase64String("key", key);
                        w.WriteString("limit", "1");
                        w.WriteBoolean("keys_only", true);
                        w.WriteBoolean("serializable", true);
                    }, WatchProbeTimeout, stop).ConfigureAwait(false);
                }
                catch (EtcdException e) when (e is not EtcdUnreachableException)
                {
                    // It answered: not hung.
                }

                Interlocked.Increment(ref _probesAnswered);
            }
        }
        catch (EtcdUnreachableException e) when (!stop.IsCancellationRequested)
        {
            // PostAsync has moved the client off the member; the watch says why it ended.
            var hung = new EtcdUnreachableException(string.Create(CultureInfo.InvariantCulture,
                $"the watch on {endpoint} was given up: {e.Message} (a read of one key, asked every {_probeInterval.TotalSeconds:0.#} s while a watch is open)"), e);
            watching.Cancel();
            return hung;
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            return null; // the watch ended (or the client is stopping)
        }
    }

    /// <summary>The size of the first complete JSON value in <paramref name="data"/> (whitespace before it included); 0 when it is not all there yet.</summary>
    private static int NextMessage(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data, isFinalBlock: false, state: default);
        try
        {
            return reader.Read() && reader.TrySkip() ? (int)reader.BytesConsumed : 0;
        }
        catch (JsonException e)
        {
            throw new EtcdException("the watch stream is not JSON: " + e.Message, null);
        }
    }

    private EtcdWatchResponse ReadWatchMessage(Uri endpoint, JsonElement message, HttpStatusCode status)
    {
        if (!message.TryGetProperty("result", out var result))
        {
            throw message.TryGetProperty("error", out var error) ? Failed(endpoint, error, status) : new EtcdException("a watch message has neither result nor error: " + message.GetRawText(), null);
        }

        var events = new List<EtcdEvent>();
        if (result.TryGetProperty("events", out var items))
        {
            foreach (var e in items.EnumerateArray())
            {
                bool delete = e.TryGetProperty("type", out var type) && type.GetString() == "DELETE";
                var kv = ReadKeyValue(e.GetProperty("kv"));
                events.Add(new EtcdEvent(delete, kv.Key, delete ? null : kv.Value, kv.ModRevision));
            }
        }

        return new EtcdWatchResponse(
            HeaderRevision(result),
            result.TryGetProperty("created", out var created) && created.ValueKind == JsonValueKind.True,
            result.TryGetProperty("canceled", out var canceled) && canceled.ValueKind == JsonValueKind.True,
            Long(result, "compact_revision"),
            result.TryGetProperty("cancel_reason", out var reason) ? reason.GetString() : null,
            events);
    }

    private static EtcdKeyValue ReadKeyValue(JsonElement kv) => new(
        kv.TryGetProperty("key", out var k) ? k.GetBytesFromBase64() : [],
        kv.TryGetProperty("value", out var v) ? v.GetBytesFromBase64() : [],
        Long(kv, "mod_revision"));

    private static long HeaderRevision(JsonElement root) =>
        root.TryGetProperty("header", out var header) ? Long(header, "revision") : 0;

    /// <summary>A 64-bit field, which the gateway writes as a string; 0 when absent (proto3 leaves zeros out).</summary>
    private static long Long(JsonElement obj, string name) =>
        !obj.TryGetProperty(name, out var v) ? 0
        : v.ValueKind == JsonValueKind.String ? long.Parse(v.GetString()!, NumberStyles.Integer, CultureInfo.InvariantCulture)
        : v.GetInt64();

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    private Task<JsonDocument> PostAsync(string path, Action<Utf8JsonWriter> body, CancellationToken cancel) =>
        PostAsync(Endpoint, path, body, _requestTimeout, cancel);

    private async Task<JsonDocument> PostAsync(Uri endpoint, string path, Action<Utf8JsonWriter> body, TimeSpan timeLimit, CancellationToken cancel)
    {
        using var request = Request(endpoint, path, body);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(timeLimit);
        using var response = await Send(endpoint, request, HttpCompletionOption.ResponseContentRead, timeLimit, timeout.Token, cancel).ConfigureAwait(false);
        var json = await ReadJson(response, timeout.Token).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode || json.RootElement.TryGetProperty("error", out _))
        {
            using (json)
            {
                throw Failed(endpoint, json.RootElement, response.StatusCode);
            }
        }

        return json;
    }

    private static HttpRequestMessage Request(Uri endpoint, string path, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, path))
        {
            Content = new ByteArrayContent(buffer.WrittenSpan.ToArray()) { Headers = { { "Content-Type", "application/json" } } },
        };
    }

    /// <summary>Sends; a member that cannot be reached (or does not answer in time) makes the next call go to the next member.</summary>
    private async Task<HttpResponseMessage> Send(Uri endpoint, HttpRequestMessage request, HttpCompletionOption completion, TimeSpan timeLimit, CancellationToken timeout, CancellationToken cancel)
    {
        try
        {
            return await _http.SendAsync(request, completion, timeout).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            MoveOff(endpoint);
            throw new EtcdUnreachableException($"{endpoint} cannot be reached: {Reason(e)}", e);
        }
        catch (OperationCanceledException e) when (!cancel.IsCancellationRequested)
        {
            MoveOff(endpoint);
            throw new EtcdUnreachableException($"{endpoint} did not answer within {timeLimit.TotalSeconds:0.#} s", e);
        }
    }

    /// <summary>Sends the calls after this one to the next member (after a watch its member ended, say).</summary>
    public void NextEndpoint() => Interlocked.Increment(ref _current);

    /// <summary>
    /// Sends the calls after this one to the member after <paramref name="endpoint"/>, unless the
    /// client has already moved off it: two failures of one member at once (its watch breaking
    /// as its probe fails) move past it once, not past the healthy member after it too.
    /// </summary>
    internal void MoveOff(Uri endpoint)
    {
        int current = Volatile.Read(ref _current);
        if (_endpoints[current % _endpoints.Count] == endpoint)
        {
            Interlocked.CompareExchange(ref _current, current + 1, current);
        }
    }

    /// <summary>
    /// The member's error; one that says the member cannot serve now (gRPC Unavailable: no leader,
    /// shutting down) also sends the next call to the next member.
    /// </summary>
    private EtcdException Failed(Uri endpoint, JsonElement error, HttpStatusCode status)
    {
        var e = Error(error, status);
        if (e.Code == UnavailableCode)
        {
            MoveOff(endpoint);
        }

        return new EtcdException($"{endpoint} answered: {e.Message}", e.Code);
    }

    private static async Task<JsonDocument> ReadJson(HttpResponseMessage response, CancellationToken cancel)
    {
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            string text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).ReplaceLineEndings(" ");
            throw new EtcdException($"HTTP {(int)response.StatusCode} with a body that is not JSON: {text}", null);
        }
    }

    /// <summary>The gateway's error object (<c>{"error": "...", "message": "...", "code": N}</c>, or the watch stream's nested form).</summary>
    private static EtcdException Error(JsonElement error, HttpStatusCode status)
    {
        string message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()!
            : error.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()!
            : $"HTTP {(int)status}";
        int? code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32()
            : error.TryGetProperty("grpc_code", out var g) && g.ValueKind == JsonValueKind.Number ? g.GetInt32()
            : null;
        return new EtcdException(message, code);
    }

    private static string Reason(HttpRequestException e) =>
        e.InnerException is SocketException s ? s.Message : e.Message;

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancel)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 5);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 2);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            await socket.ConnectAsync(context.DnsEndPoint, cancel).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>One key and its value as etcd holds it at <paramref name="ModRevision"/> (the revision of its last write).</summary>
public sealed record EtcdKeyValue(byte[] Key, byte[] Value, long ModRevision);

/// <summary>A range read at store <paramref name="Revision"/>; <paramref name="More"/> when a limit cut it short.</summary>
public sealed record EtcdRange(long Revision, IReadOnlyList<EtcdKeyValue> Kvs, bool More);

/// <summary>A put (with its value) or a delete of one key, written at <paramref name="ModRevision"/>.</summary>
public sealed record EtcdEvent(bool IsDelete, byte[] Key, byte[]? Value, long ModRevision);

/// <summary>One message of a watch stream.</summary>
/// <param name="Revision">The store revision when the message was sent (header).</param>
/// <param name="Created">The first message: the watch is in place.</param>
/// <param name="Canceled">The member ended the watch; the last message.</param>
/// <param name="CompactRevision">With <paramref name="Canceled"/>: the start revision was compacted up to this one.</param>
/// <param name="CancelReason">Why the member ended the watch, when it says.</param>
/// <param name="Events">The writes, in revision order; none in created, canceled and progress messages.</param>
public sealed record EtcdWatchResponse(long Revision, bool Created, bool Canceled, long CompactRevision, string? CancelReason, IReadOnlyList<EtcdEvent> Events);

/// <summary>etcd answered with an error (<paramref name="code"/>: its gRPC status, when given).</summary>
public class EtcdException(string message, int? code, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The gRPC status etcd answers for a revision that was compacted (OutOfRange).</summary>
    private const int CompactedCode = 11;

    public int? Code { get; } = code;

    /// <summary>The revision asked for was compacted: only a full read helps.</summary>
    public bool IsCompacted => Code == CompactedCode && Message.Contains("compacted", StringComparison.Ordinal);
}

/// <summary>The member could not be reached or did not answer in time.</summary>
public sealed class EtcdUnreachableException(string message, Exception inner) : EtcdException(message, null, inner);
