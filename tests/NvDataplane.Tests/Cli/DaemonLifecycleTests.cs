using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using NvDataplane.Cli;
using NvDataplane.Tests.Io;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// How <c>nvdp run</c> starts and stops when its surroundings misbehave: a NOTIFY_SOCKET that
/// cannot be used, signals during startup or during a reload, control requests still open at
/// SIGTERM, something else at the control socket's path. A real daemon with TAP ports in a
/// network namespace of the test's own (fxd-…), deleted in TearDown. The only times asserted are
/// generous upper bounds on a stop that takes a fraction of them when it is clean. Needs root.
/// </summary>
[NonParallelizable]
public class DaemonLifecycleTests
{
    /// <summary>A clean stop takes well under this; the faults it guards against take 30 s or forever.</summary>
    private static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(10);

    private NetworkNamespace? _namespace;
    private TempDir? _dir;
    private Process? _daemon;
    private readonly StringBuilder _log = new();

    private static string NvdpPath => Path.Combine(AppContext.BaseDirectory, "nvdp");

    private string Suffix => _namespace!.Name[^6..];

    private string Config => Path.Combine(_dir!.Path, "hv1.json");

    private string Socket => Path.Combine(_dir!.Path, "nvdp.sock");

    private string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    [SetUp]
    public void CreateNamespace()
    {
        _namespace = NetworkNamespace.Create("fxd-");
        _dir = new TempDir();
        _log.Clear();
        File.WriteAllText(Config, ControlApiHost.Config
            .Replace("\"role\": \"provider\",", $"\"role\": \"provider\", \"device\": \"tap:cp{Suffix}\",", StringComparison.Ordinal)
            .Replace("\"role\": \"vm\",", $"\"role\": \"vm\", \"device\": \"tap:cr{Suffix}\",", StringComparison.Ordinal));
    }

    [TearDown]
    public void CleanUp()
    {
        TestProcess.Kill(_daemon);
        _daemon?.Dispose();
        _namespace?.Dispose();
        _dir?.Dispose();
        _daemon = null;
        _namespace = null;
        _dir = null;
    }

    [Test]
    public void A_notify_socket_path_too_long_for_a_socket_is_a_warning_and_the_daemon_runs_on()
    {
        StartDaemon("/run/" + new string('n', 120) + "/notify.sock");
        Assert.That(WaitForLog("started:"), Is.True, "the daemon started: " + Log);
        Assert.That(WaitForLog("notify_failed"), Is.True, "the unusable NOTIFY_SOCKET is a warning: " + Log);
        Assert.That(Nvdp("stats").Code, Is.Zero, "the daemon still answers: " + Log);
        AssertStopsCleanly();
        Assert.That(Log, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void A_notify_socket_whose_receiver_does_not_read_does_not_hold_up_sigterm()
    {
        // systemd's socket, its queue full because nothing reads it.
        string notifyPath = Path.Combine(_dir!.Path, "notify.sock");
        using var receiver = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        receiver.Bind(new UnixDomainSocketEndPoint(notifyPath));
        using var filler = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
        filler.Connect(new UnixDomainSocketEndPoint(notifyPath));
        int queued = 0;
        while (queued < 100_000 && TrySend(filler))
        {
            queued++;
        }

        Assert.That(queued, Is.LessThan(100_000), "the receiver's queue filled up");
        StartDaemon(notifyPath);
        Assert.That(WaitForLog("started:"), Is.True, "the daemon started: " + Log);
        Assert.That(WaitForLog("notify_failed"), Is.True, "a NOTIFY_SOCKET that takes nothing is a warning: " + Log);
        AssertStopsCleanly();
    }

    private static bool TrySend(Socket socket)
    {
        try
        {
            socket.Send("READY=1"u8);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
        {
            return false;
        }
    }

    private void StartDaemon(string? notifySocket = null)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "netns", "exec", _namespace!.Name, NvdpPath, "run", "--config", Config, "--control", "unix:" + Socket })
        {
            start.ArgumentList.Add(a);
        }

        if (notifySocket is not null)
        {
            start.Environment["NOTIFY_SOCKET"] = notifySocket;
        }

        _daemon = Process.Start(start)!;
        DataReceivedEventHandler append = (_, e) =>
        {
            lock (_log)
            {
                _log.AppendLine(e.Data);
            }
        };
        _daemon.ErrorDataReceived += append;
        _daemon.OutputDataReceived += append;
        _daemon.BeginErrorReadLine();
        _daemon.BeginOutputReadLine();
    }

    /// <summary>Whether the daemon logs <paramref name="text"/>; false as soon as it has exited without.</summary>
    private bool WaitForLog(string text)
    {
        TestWait.Until(() => Log.Contains(text, StringComparison.Ordinal) || _daemon!.HasExited);
        if (_daemon!.HasExited)
        {
            _daemon.WaitForExit(); // the output is read to its end
        }

        return Log.Contains(text, StringComparison.Ordinal);
    }

    private void Signal(string name) =>
        Assert.That(TestProcess.Run("kill", ["-" + name, _daemon!.Id.ToString(CultureInfo.InvariantCulture)]).Exit, Is.Zero, "kill -" + name);

    private void AssertStopsCleanly()
    {
        Assert.That(_daemon!.HasExited, Is.False, "the daemon still runs: " + Log);
        Signal("TERM");
        Assert.That(_daemon.WaitForExit(StopLimit), Is.True, $"stopped within {StopLimit.TotalSeconds} s of SIGTERM: " + Log);
        _daemon.WaitForExit(); // the output is read to its end
        Assert.That(_daemon.ExitCode, Is.Zero, "clean exit: " + Log);
        Assert.That(Log, Does.Contain("stopped:"));
    }

    private (int Code, string Out, string Err) Nvdp(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run([.. args, "--server", "unix:" + Socket], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
