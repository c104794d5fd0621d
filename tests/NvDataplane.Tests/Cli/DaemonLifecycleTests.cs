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

    [Test]
    public void A_sigterm_while_a_sighup_reload_is_reading_the_file_stops_cleanly_and_nothing_is_reloaded_after_stopped()
    {
        string json = File.ReadAllText(Config);
        StartDaemon();
        Assert.That(WaitForLog("started:"), Is.True, "the daemon started: " + Log);

        // The file becomes a FIFO: the reload SIGHUP starts reads it until the test closes it.
        File.Delete(Config);
        Assert.That(TestProcess.Run("mkfifo", [Config]).Exit, Is.Zero);
        var writer = Task.Run(() => new FileStream(Config, FileMode.Open, FileAccess.Write));
        Signal("HUP");
        Assert.That(writer.Wait(TimeSpan.FromSeconds(20)), Is.True, "the reload opened the file: " + Log);
        using (var fifo = writer.Result)
        {
            Signal("TERM");
            Assert.That(WaitForLog("stopped:"), Is.True, "the daemon stops while the reload waits: " + Log);
            try
            {
                fifo.Write(Encoding.UTF8.GetBytes(json));
                fifo.Flush();
            }
            catch (IOException)
            {
                // The daemon is gone already: the reader went with it.
            }
        }

        Assert.That(_daemon!.WaitForExit(StopLimit), Is.True, "exited after SIGTERM: " + Log);
        _daemon.WaitForExit();
        Assert.That(_daemon.ExitCode, Is.Zero, "clean exit: " + Log);
        string afterStopped = Log[Log.IndexOf("stopped:", StringComparison.Ordinal)..];
        Assert.That(afterStopped, Does.Not.Contain("policy_reloaded"), "nothing reloaded after stopped: " + Log);
        Assert.That(Log, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void A_sigterm_with_a_half_sent_control_request_open_stops_within_seconds()
    {
        StartDaemon();
        Assert.That(WaitForLog("started:"), Is.True, "the daemon started: " + Log);
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(Socket));
        client.Send(Encoding.ASCII.GetBytes("GET /v1/stats HTTP/1.1\r\nHost: nvdp\r\n"));
        AssertStopsCleanly();
    }

    [Test]
    public void A_sigterm_during_a_capture_ends_it_with_a_complete_file_and_stops_within_seconds()
    {
        StartDaemon();
        Assert.That(WaitForLog("started:"), Is.True, "the daemon started: " + Log);
        string file = Path.Combine(_dir!.Path, "red1.pcapng");
        var capture = Task.Run(() => Nvdp("capture", "--port", "red1", "--count", "1000", "--timeout", "300", "-w", file));
        Assert.That(TestWait.Until(() => File.Exists(file) || capture.IsCompleted), Is.True, "the capture began");
        Assert.That(capture.IsCompleted, Is.False, "the capture runs: " + (capture.IsCompleted ? capture.Result.Err : ""));
        AssertStopsCleanly();
        Assert.That(capture.Wait(StopLimit), Is.True, "the capture ended with the daemon");
        Assert.That(capture.Result.Code, Is.Zero, capture.Result.Err);

        // pcapng: every block ends with its length; the last one is the interface statistics.
        byte[] bytes = File.ReadAllBytes(file);
        int last = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(bytes.Length - 4));
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - last)), Is.EqualTo(5u), "the file closes with an Interface Statistics Block");
    }

    [Test]
    public void A_sighup_and_a_sigterm_during_startup_close_what_was_opened_and_restore_a_tap_found_down()
    {
        // The VM's TAP exists, down; the control socket's path holds a listener whose queue is
        // full, so the daemon's probe of it waits there, with its ports open, until the test lets go.
        _namespace!.Ip("tuntap", "add", "mode", "tap", "name", "cr" + Suffix);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var queued = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(Socket));
            listener.Listen(0);
            queued.Connect(new UnixDomainSocketEndPoint(Socket));
            StartDaemon();
            Assert.That(WaitForLog($"port red1 on tap:cr{Suffix}"), Is.True, "the TAPs are open: " + Log);
            Assert.That(_namespace.Ip("link", "show", "cr" + Suffix), Does.Contain(",UP"), "the daemon brought the TAP it found up");
            Signal("HUP");
            Signal("TERM");
            Assert.That(WaitForLog("stopping:"), Is.True, "SIGTERM is taken during startup: " + Log);
            Assert.That(_daemon!.HasExited, Is.False, "the daemon is still starting: " + Log);
        }
        finally
        {
            queued.Dispose();
            listener.Dispose();
        }

        Assert.That(_daemon.WaitForExit(StopLimit), Is.True, "exited once startup could go on: " + Log);
        _daemon.WaitForExit();
        Assert.That(_daemon.ExitCode, Is.Zero, "a clean stop: " + Log);
        Assert.That(Log, Does.Contain("ports_closed").And.Not.Contain("started:"), "nothing forwarded, the ports closed: " + Log);
        Assert.That(_namespace.Ip("link", "show", "cr" + Suffix), Does.Not.Contain(",UP"), "the TAP found down is down again");
    }

    [Test]
    public void A_regular_file_at_the_control_socket_path_is_refused_and_left_as_it_was()
    {
        File.WriteAllText(Socket, "not a socket");
        StartDaemon();
        Assert.That(_daemon!.WaitForExit(TimeSpan.FromSeconds(30)), Is.True, "the daemon refused to start: " + Log);
        _daemon.WaitForExit();
        Assert.That(_daemon.ExitCode, Is.EqualTo(1), Log);
        Assert.That(Log, Does.Contain("control_failed").And.Contain("is not a socket"), Log);
        Assert.That(Log, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(File.ReadAllText(Socket), Is.EqualTo("not a socket"), "the file is left as it was");
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
