using System.Net;
using System.Text;
using NvDataplane.Cli;
using NvDataplane.Cli.Control;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Tests.Pipeline;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// The control API served in-process on a temporary Unix socket (or TCP port), over a real
/// policy editor and a <see cref="PortWorker"/> whose ports are in memory: a test drives the
/// worker one round at a time and sees what each port sent. Everything is removed on dispose.
/// </summary>
internal sealed class ControlApiHost : IDisposable
{
    public const string Config = """
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A", "mtu": 1500 },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerNeighbors": [
            { "address": "192.168.1.11", "macAddress": "02-00-00-00-01-0B" },
            { "address": "192.168.1.12", "macAddress": "02-00-00-00-01-0C" }
          ],
          "lookupRecords": [
            { "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" },
            { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" }
          ],
          "customerRoutes": [
            { "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.1.1.0/24", "nextHop": "0.0.0.0" }
          ]
        }
        """;

    private readonly TempDir _dir = new();
    private readonly ControlServer _server;

    /// <param name="listen">unix (a socket in a temporary folder) or a tcp: endpoint.</param>
    public ControlApiHost(string listen = "unix", string? token = null, long maxRequestBytes = ControlConfig.DefaultMaxRequestBytes)
    {
        var loaded = ConfigLoader.Load(Config);
        Assert.That(loaded.Problems, Is.Empty);
        Store = new PolicyStore(PolicySnapshot.Build(loaded.Config!));
        Editor = PolicyEditor.FromText(Store, Config);
        Provider = new QueuePort("pnic0", int.MaxValue);
        Vm = new QueuePort("red1", int.MaxValue);
        Worker = new PortWorker(Store, [Provider, Vm], bufferCount: 256);
        Stats = new DataplaneStats(Editor, [Worker], [Provider, Vm], new CpuClock(2000, "test"));
        SocketPath = Path.Combine(_dir.Path, "nvdp.sock");
        Assert.That(ControlEndpoint.TryParse(listen == "unix" ? "unix:" + SocketPath : listen, out var endpoint, out string error), Is.True, error);
        Log = new StringWriter();
        _server = ControlServer.StartAsync(new ControlConfig(endpoint, null, maxRequestBytes), token, Editor, Stats, new EventLog(Log, json: false)).GetAwaiter().GetResult();
        var (client, problem) = ControlClient.Create(_server.Endpoint, token);
        Assert.That(client, Is.Not.Null, problem);
        Client = client!;
    }

    public PolicyStore Store { get; }

    public PolicyEditor Editor { get; }

    public PortWorker Worker { get; }

    public QueuePort Provider { get; }

    public QueuePort Vm { get; }

    public DataplaneStats Stats { get; }

    public string SocketPath { get; }

    public StringWriter Log { get; }

    public ControlClient Client { get; }

    public string Endpoint => _server.Endpoint;

    /// <summary>
    /// A UDP frame from Red-1 (10.1.1.7) to <paramref name="destination"/> (to the gateway MAC, so
    /// routed, unless another MAC is given), taken in by the worker; returns what the provider
    /// port sent for it, or null.
    /// </summary>
    public byte[]? SendFromRed(string destination, string destinationMac = "00-15-5D-FF-FF-FF")
    {
        Vm.Inbound.Enqueue(Concat(
            Eth(destinationMac, "00-15-5D-00-00-01", 0x0800),
            Ipv4Of("10.1.1.7", destination, 17, UdpOf(1024, 4789, new byte[22]))));
        int sent = Provider.Sent.Count;
        Assert.That(Worker.RunOnce(), Is.EqualTo(1));
        return Provider.Sent.Count > sent ? Provider.Sent[^1] : null;
    }

    /// <summary>The outer IPv4 destination of an NVGRE frame the provider port sent.</summary>
    public static string OuterDestination(byte[] frame) => new IPAddress(frame.AsSpan(14 + 16, 4)).ToString();

    public (HttpStatusCode Status, string Body, HttpResponseMessage Response) Request(HttpMethod method, string path, string? body = null, string? contentType = "application/json")
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = contentType is null ? null : new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }

        var response = Client.Http.Send(request);
        using var reader = new StreamReader(response.Content.ReadAsStream());
        return (response.StatusCode, reader.ReadToEnd(), response);
    }

    public void Dispose()
    {
        Client.Dispose();
        _server.Dispose();
        Editor.Dispose();
        _dir.Dispose();
    }
}
