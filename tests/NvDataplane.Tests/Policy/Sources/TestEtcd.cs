using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NvDataplane.Policy.Sources;

namespace NvDataplane.Tests.Policy.Sources;

/// <summary>
/// A one-member etcd (Debian's etcd-server, installed by .ci/setup-deps) on 127.0.0.1 with
/// free ports and a data directory of its own, killed and removed on dispose whatever the test's
/// outcome; or one member of a cluster of such (<see cref="StartCluster"/>). Where etcd is
/// missing the test is ignored, except under CI, where it fails.
/// </summary>
public sealed class TestEtcd : IDisposable
{
    private const string EtcdPath = "/usr/bin/etcd";
    private readonly TempDir _data = new();
    private readonly StringBuilder _output = new();
    private readonly string _name;
    private string _initialCluster;
    private Process? _process;

    private TestEtcd(string name)
    {
        _name = name;
        ClientPort = FreePort();
        PeerPort = FreePort();
        _initialCluster = $"{name}={PeerUrl}";
    }

    public int ClientPort { get; private set; }

    public int PeerPort { get; private set; }

    public Uri Endpoint => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{ClientPort}/"));

    private string PeerUrl => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{PeerPort}");

    /// <summary>What etcd printed, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts etcd, or ignores the test (fails it under CI) when etcd is not installed.</summary>
    public static TestEtcd Start()
    {
        RequireEtcd();
        var etcd = new TestEtcd("t");
        try
        {
            etcd.Run();
            return etcd;
        }
        catch
        {
            etcd.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A cluster of <paramref name="size"/> members, each a <see cref="TestEtcd"/> to dispose; all
    /// are started before any is waited for, since a member answers only once a majority runs.
    /// </summary>
    public static TestEtcd[] StartCluster(int size)
    {
        RequireEtcd();
        var members = Enumerable.Range(0, size).Select(i => new TestEtcd("t" + i.ToString(CultureInfo.InvariantCulture))).ToArray();
        string cluster = string.Join(',', members.Select(m => $"{m._name}={m.PeerUrl}"));
        try
        {
            foreach (var m in members)
            {
                m._initialCluster = cluster;
                m.Launch();
            }

            foreach (var m in members)
            {
                m.WaitReady();
            }

            return members;
        }
        catch
        {
            foreach (var m in members)
            {
                m.Dispose();
            }

            throw;
        }
    }

    /// <summary>The <c>policySource</c> URL naming every one of <paramref name="members"/>, in that order, for <paramref name="prefix"/>.</summary>
    public static string Url(IEnumerable<TestEtcd> members, string prefix) =>
        "etcd://" + string.Join(',', members.Select(m => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{m.ClientPort}"))) + prefix;

    private static void RequireEtcd()
    {
        if (!File.Exists(EtcdPath))
        {
            string why = "etcd is not installed (Debian's etcd-server; .ci/setup-deps installs it)";
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail(why);
            }

            Assert.Ignore(why);
        }
    }

    /// <summary>A client of this member, for the test's own writes.</summary>
    public EtcdClient Client() => new([Endpoint]);

    /// <summary>The <c>policySource</c> URL for <paramref name="prefix"/> (e.g. <c>/nvdp</c>) through <paramref name="port"/> (default: etcd's own).</summary>
    public string Url(string prefix, int? port = null) =>
        string.Create(CultureInfo.InvariantCulture, $"etcd://127.0.0.1:{port ?? ClientPort}{prefix}");

    /// <summary>SIGKILL, as a crash or a power cut would stop it.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit();
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>
    /// SIGSTOP: the process hangs while its kernel keeps its connections open, accepts new ones
    /// and answers TCP keep-alives. <see cref="Resume"/> it in a finally: a stopped etcd left
    /// behind holds its ports until it is killed.
    /// </summary>
    public void Pause() => Signal("-STOP");

    /// <summary>SIGCONT: a paused etcd runs again (nothing happens to one that runs).</summary>
    public void Resume() => Signal("-CONT");

    /// <summary>Whether this member is its cluster's leader now (its own view, from <c>/v3/maintenance/status</c>).</summary>
    public bool IsLeader()
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var content = new StringContent("{}", Encoding.UTF8, "application/json");
        using var response = http.PostAsync(new Uri(Endpoint, "v3/maintenance/status"), content).GetAwaiter().GetResult();
        using var status = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        return status.RootElement.GetProperty("header").GetProperty("member_id").GetString() == status.RootElement.GetProperty("leader").GetString();
    }

    /// <summary>SIGTERM: etcd ends its streams and stops as an administrator's restart would.</summary>
    public void Stop()
    {
        if (_process is { HasExited: false } p)
        {
            Signal("-TERM");
            if (!p.WaitForExit(30_000))
            {
                p.Kill();
            }

            p.WaitForExit();
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>Starts it again on the same data and ports.</summary>
    public void Restart()
    {
        Kill();
        Run();
    }

    public void Dispose()
    {
        Kill();
        _data.Dispose();
    }

    private void Signal(string signal)
    {
        if (_process is { HasExited: false } p)
        {
            TestProcess.Run("kill", [signal, p.Id.ToString(CultureInfo.InvariantCulture)]);
        }
    }

    private void Run()
    {
        Launch();
        WaitReady();
    }

    private void Launch()
    {
        string client = Url("").Replace("etcd://", "http://", StringComparison.Ordinal);
        string peer = PeerUrl;
        var start = new ProcessStartInfo(EtcdPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--name", _name, "--data-dir", Path.Combine(_data.Path, "member"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", _initialCluster, "--log-level", "warn",
        })
        {
            start.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private void WaitReady()
    {
        var process = _process!;
        using var probe = Client();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                Assert.Fail($"etcd exited with {process.ExitCode}: {Output}");
            }

            try
            {
                probe.RangeAsync([0], [0], 0, 1, CancellationToken.None).GetAwaiter().GetResult();
                return;
            }
            catch (EtcdException)
            {
                Thread.Sleep(100);
            }
        }

        Assert.Fail("etcd did not answer within 30 s: " + Output);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// A TCP relay on 127.0.0.1 in front of etcd that the test can cut (every connection dropped,
/// new ones refused) and mend: the network between a host and etcd failing while etcd itself
/// goes on taking writes.
/// </summary>
public sealed class CuttableProxy : IDisposable
{
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private TcpListener? _listener;

    public CuttableProxy(int targetPort)
    {
        _target = targetPort;
        Port = TestEtcd.FreePort();
        Mend();
    }

    public int Port { get; }

    /// <summary>Drops every relayed connection and stops listening (connects are refused).</summary>
    public void Cut()
    {
        lock (_open)
        {
            _listener?.Stop();
            _listener = null;
            foreach (var c in _open)
            {
                c.Dispose();
            }

            _open.Clear();
        }
    }

    /// <summary>Listens again.</summary>
    public void Mend()
    {
        lock (_open)
        {
            var listener = new TcpListener(IPAddress.Loopback, Port);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            _listener = listener;
            _ = Task.Run(() => Accept(listener));
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        Cut();
        _stop.Dispose();
    }

    private async Task Accept(TcpListener listener)
    {
        while (true)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _target);
            }
            catch (SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_open)
            {
                if (_listener != listener)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    return;
                }

                _open.Add(inbound);
                _open.Add(outbound);
            }

            _ = Pump(inbound, outbound);
            _ = Pump(outbound, inbound);
        }
    }

    private static async Task Pump(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }

        from.Dispose();
        to.Dispose();
    }
}
