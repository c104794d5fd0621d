using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Diagnostics;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Policy.Sources;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp run</c>: opens every port's device, forwards on a poll-mode worker until SIGINT or
/// SIGTERM (exit 0, also during startup), reloads the configuration on SIGHUP (a bad file keeps
/// the old policy and says why; one received during startup is done once the daemon runs), and
/// tells systemd READY=1 through NOTIFY_SOCKET once every port is open.
/// </summary>
internal static class RunCommand
{
    public static Command Build(TextWriter stderr)
    {
        var config = new Option<string>("--config", "-c") { Description = "the configuration file (JSON, SPEC section 2)", Required = true }.NotEmpty();
        var logFormat = new Option<string>("--log-format") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var control = ControlHost.ListenOption();
        var tokenFile = ControlHost.TokenFileOption();
        var workerCpu = new Option<int?>("--worker-cpu")
        {
            Description = "pin the worker to this CPU and keep every other thread of nvdp (control API, policy editor, the runtime's JIT and GC) off it, as OVS's pmd-cpu-mask and VPP's corelist-workers do (Linux)",
        };
        var cmd = new Command("run", "the daemon: forward between the configured devices until SIGINT/SIGTERM; SIGHUP reloads") { config, logFormat, control, tokenFile, workerCpu };
        cmd.SetAction(parse => Run(parse.GetValue(config)!, new EventLog(stderr, parse.GetValue(logFormat) == "json"), parse.GetValue(control), parse.GetValue(tokenFile), parse.GetValue(workerCpu)));
        return cmd;
    }

    private static int Run(string path, EventLog log, string? controlListen, string? controlTokenFile, int? workerCpu)
    {
        // Taken over before anything is opened: a stop during startup closes what was opened (exit 0).
        using var signals = new DaemonSignals(log);
        if (workerCpu is { } cpu && WorkerCpuProblem(cpu) is { } cpuProblem)
        {
            log.Write("error", "usage", cpuProblem);
            return Program.ExitUsage;
        }

        // Read once: the text validated here is the text the policy editor starts from.
        var result = ConfigLoader.LoadFile(path, out string json);
        if (result.Config is not { } config)
        {
            foreach (var problem in result.Problems)
            {
                log.Write("error", "config_invalid", $"{path}: {problem}");
            }

            return Program.ExitUsage;
        }

        // Every port without a device, each with its JSON path, as validation says its problems.
        var deviceless = config.Ports.Select((p, i) => (p, i)).Where(x => x.p.Device is null).ToList();
        foreach (var (port, i) in deviceless)
        {
            log.Write("error", "config_invalid", $"{path}: $.ports[{i}].device: port {port.Name} has no device, which nvdp run needs; use afpacket:IFNAME, tap:NAME or pcap:NAME");
        }

        if (deviceless.Count > 0)
        {
            return Program.ExitUsage;
        }

        var (control, controlError) = ControlHost.Resolve(config, controlListen, controlTokenFile);
        if (control is null)
        {
            log.Write("error", "config_invalid", controlError!);
            return Program.ExitUsage;
        }

        var ports = new List<IPacketPort>();
        try
        {
            foreach (var port in config.Ports)
            {
                if (signals.Stopping.IsCancellationRequested)
                {
                    return StoppedStarting(log);
                }

                try
                {
                    ports.Add(PacketPorts.Open(port.Device!));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException or NotSupportedException or ArgumentException)
                {
                    log.Write("error", "port_open_failed", $"port {port.Name} ({port.Device}): {ex.Message}");
                    return Program.ExitFailure;
                }

                log.Write("info", "port_opened", $"port {port.Name} on {port.Device}");
            }

            return Forward(path, json, config, ports, log, control, workerCpu, signals);
        }
        finally
        {
            foreach (var p in ports)
            {
                p.Dispose();
            }

            if (ports.Count > 0)
            {
                log.Write("info", "ports_closed", $"{ports.Count} ports closed");
            }
        }
    }

    /// <summary>Why <paramref name="cpu"/> cannot be the worker's CPU here; null when it can.</summary>
    private static string? WorkerCpuProblem(int cpu)
    {
        int cpus = Environment.ProcessorCount;
        if (!OperatingSystem.IsLinux())
        {
            return "--worker-cpu pins threads with sched_setaffinity, which only Linux has; leave it out here";
        }

        if (cpus < 2)
        {
            return $"--worker-cpu {cpu}: this machine has {cpus} CPU; pinning needs one for the worker and one for everything else";
        }

        return cpu < 0 || cpu >= Math.Min(cpus, 64)
            ? $"--worker-cpu {cpu} is not a CPU here; use 0..{Math.Min(cpus, 64) - 1}"
            : null;
    }

    /// <summary>
    /// Pins the calling thread (the worker) to <paramref name="cpu"/> and, once a second, every
    /// other thread of the process to the other CPUs: threads inherit their creator's CPUs, and the
    /// runtime makes some afresh (its JIT worker), so one pass is not enough. Null when the worker
    /// could not be pinned.
    /// </summary>
    private static IDisposable? PinWorker(int cpu, EventLog log)
    {
        if (!CpuAffinity.PinCurrentThread([cpu]))
        {
            log.Write("error", "worker_pin_failed", $"cannot pin the worker to CPU {cpu} (sched_setaffinity refused; is the CPU outside this process's cpuset?)");
            return null;
        }

        var others = Enumerable.Range(0, Math.Min(Environment.ProcessorCount, 64)).Where(c => c != cpu).ToArray();
        log.Write("info", "worker_pinned", $"worker on CPU {cpu}, every other thread on CPUs {string.Join(",", others)}");
        return CpuAffinity.KeepOtherThreadsOn(others, TimeSpan.FromSeconds(1));
    }

    /// <summary>
    /// The worker thread's work: pinned to <paramref name="workerCpu"/> when one is given (exit 1,
    /// logged, when it cannot be), then forwarding until <paramref name="stop"/>.
    /// </summary>
    private static int PinAndForward(PortWorker worker, int? workerCpu, EventLog log, CancellationToken stop)
    {
        using var pinning = workerCpu is { } cpu ? PinWorker(cpu, log) : null;
        if (workerCpu is not null && pinning is null)
        {
            return Program.ExitFailure;
        }

        worker.Run(stop);
        return Program.ExitOk;
    }

    private static int StoppedStarting(EventLog log)
    {
        log.Write("info", "stopped", "stopped while starting, before forwarding");
        return Program.ExitOk;
    }

    private static int Forward(string path, string json, HostConfig config, List<IPacketPort> ports, EventLog log, ControlSettings control, int? workerCpu, DaemonSignals signals)
    {
        var store = new PolicyStore(PolicySnapshot.Build(config));
        using var editor = PolicyEditor.FromText(store, json);
        using var source = config.PolicySource is { } from ? new EtcdPolicySource(from, editor, log.Write) : null;
        var worker = new PortWorker(store, ports);
        using var server = ControlHost.Start(control, editor, worker, ports, source, log, out bool controlFailed);
        if (controlFailed)
        {
            return Program.ExitFailure;
        }

        if (signals.Stopping.IsCancellationRequested)
        {
            return StoppedStarting(log);
        }

        signals.ReloadWith(() => Reload(path, editor, source));
        int exitCode = Program.ExitOk;
        var thread = new Thread(() => exitCode = WorkerThread.Run(() => PinAndForward(worker, workerCpu, log, signals.Stopping), log, signals.Stop))
        { IsBackground = true, Name = "nvdp-worker" };
        thread.Start();
        try
        {
            log.Write("info", "started", $"host {config.HostName}: {ports.Count} ports, {config.LookupRecords.Count} lookup records");
            source?.Start();
            SdNotify("READY=1", log);
            var tooLargeReported = new bool[ports.Count];
            var mtuReported = new int[ports.Count];
            while (!signals.Stopping.WaitHandle.WaitOne(LearnedReportIntervalMs))
            {
                ReportLearned(worker.Forwarder.Learned, log);
                ReportTooLarge(config, ports, tooLargeReported, log);
                ReportMtuBelowConfig(config, ports, mtuReported, log);
            }
        }
        finally
        {
            // Whatever ends this, the worker is done before its ports are disposed, and no reload
            // runs on into the disposed editor or is logged after "stopped".
            signals.Stop();
            thread.Join();
            signals.EndReloads(ReloadWaitAtStop);
        }

        ReportLearned(worker.Forwarder.Learned, log);
        var c = worker.Forwarder.Counters;

        // ", PORT what" for every port whose count is not zero.
        string PerPort(Func<int, long> count, Func<long, string> what) =>
            string.Concat(config.Ports.Select((p, i) => (p.Name, N: count(i))).Where(x => x.N != 0).Select(x => $", {x.Name} {what(x.N)}"));

        log.Write("info", "stopped", $"rx {c.TotalRx}, forwarded {c.Forwarded}, answered {c.Answered}, dropped {c.TotalDrops}"
            + string.Concat(DropReasons.All.Where(r => c.Drop(r) != 0).Select(r => $", {DropReasons.Name(r)} {c.Drop(r)}"))
            + PerPort(i => worker.TxRefused[i], n => $"refused {n} frames (device queue full)")
            + string.Concat(worker.Forwarder.AclCounters.Read().Where(h => h.Value != 0).Select(h => $", acl {h.Key} {h.Value}"))
            + (worker.Forwarder.Learned.Learned == 0 ? "" : $", learned {worker.Forwarder.Learned.Learned} CAs (refused {worker.Forwarder.Learned.Refused} with the table or the VSID's share full, expired {worker.Forwarder.Learned.Expired})")
            + string.Concat(c.Migration.All().Where(m => m.Value != 0).Select(m => $", migration {m.Name} {m.Value}"))
            + PerPort(i => ports[i].DeviceDrops, n => $"lost {n} frames in the device (ring full)")
            + PerPort(i => ports[i].ReceiveTruncated, n => $"dropped {n} frames too large to receive")
            + PerPort(i => ports[i].TransmitDropped, n => $"could not send {n} frames (too large, a runt, or the link down)")
            + "; " + worker.Times.Describe());
        return exitCode;
    }

    /// <summary>How long a stop waits for a SIGHUP reload in progress before abandoning it (the whole stop has 2 s).</summary>
    private static readonly TimeSpan ReloadWaitAtStop = TimeSpan.FromSeconds(1);

    /// <summary>How often the main thread logs the CAs the worker learned (the worker never logs).</summary>
    private const int LearnedReportIntervalMs = 250;

    /// <summary>One <c>record_learned</c> event per CA learned since the last call, shown as the Dynamic record it is.</summary>
    internal static void ReportLearned(LearnedBindings learned, EventLog log)
    {
        foreach (var b in learned.TakeNew())
        {
            log.Write("info", "record_learned", $"Dynamic record: virtual subnet {b.Vsid}, customer address {b.CustomerAddress}, MAC {b.MacAddress}, provider address {b.ProviderAddress}");
        }
    }

    /// <summary>
    /// Warns when a provider or external port's device has a smaller MTU than the port's
    /// configured <c>mtu</c>: the dataplane answers larger packets with ICMP errors only above the
    /// configured figure, so those in between are lost in the device with nothing sent back (a
    /// path-MTU black hole). Said once per MTU value; <paramref name="reported"/> keeps it.
    /// </summary>
    internal static void ReportMtuBelowConfig(HostConfig config, IReadOnlyList<IPacketPort> ports, int[] reported, EventLog log)
    {
        for (int i = 0; i < ports.Count; i++)
        {
            var port = config.Ports[i];
            int mtu = ports[i].DeviceMtu;
            if (port.Role is not (PortRole.Provider or PortRole.External) || mtu <= 0 || mtu >= port.Mtu)
            {
                reported[i] = 0;
                continue;
            }

            if (reported[i] == mtu)
            {
                continue;
            }

            reported[i] = mtu;
            log.Write("warning", "port_mtu_below_config", $"port {port.Name} ({ports[i].Name}): the device's MTU is {mtu}, below the port's mtu {port.Mtu}: "
                + $"packets of {mtu + 1}..{port.Mtu} bytes are lost in the device (counted as could not send) where senders should get ICMP fragmentation needed / packet too big; "
                + $"set the port's mtu to {mtu} or raise the device's");
        }
    }

    /// <summary>
    /// Says once per port, when it first happens, that frames too large for a buffer arrived and
    /// were dropped, and what usually sends them; rxTooLarge in the stats counts every one.
    /// </summary>
    internal static void ReportTooLarge(HostConfig config, IReadOnlyList<IPacketPort> ports, bool[] reported, EventLog log)
    {
        for (int i = 0; i < ports.Count; i++)
        {
            long count = ports[i].ReceiveTruncated;
            if (count == 0 || reported[i])
            {
                continue;
            }

            reported[i] = true;
            log.Write("warning", "port_rx_too_large", $"port {config.Ports[i].Name} ({ports[i].Name}): {count} frame(s) too large for a buffer were dropped "
                + "(jumbo frames of 9,216 bytes fit): an MTU over 9,216 where they come from, or a local kernel's segmentation offload this port cannot cut "
                + "(UFO, a VLAN tag held apart): lower that MTU or turn those offloads off where the frames are sent "
                + "(ethtool -K IFNAME tso off gso off), or give the VM a tap: port. rxTooLarge in nvdp stats counts them");
        }
    }

    /// <summary>
    /// Validates the file off to the side; swaps it in only when it is good and keeps the same
    /// ports. Returns the event to log (<see cref="DaemonSignals"/> logs it unless the daemon stopped meanwhile).
    /// </summary>
    private static (string Level, string Event, string Message) Reload(string path, PolicyEditor editor, EtcdPolicySource? source)
    {
        if (!ConfigLoader.TryReadFile(path, out string json, out var unreadable))
        {
            return ("warning", "reload_rejected", $"{unreadable!.Message}, keeping policy version {editor.Store.Current.Version}");
        }

        var result = source?.Reload(json) ?? editor.Reload(json); // with etcd, its sections stay etcd's
        return result.Applied
            ? ("info", "policy_reloaded", $"{path}: policy version {result.Version}, {editor.Store.Current.Config.LookupRecords.Count} lookup records")
            : ("warning", "reload_rejected", $"{path}: {result.Problems.Count} problem(s), keeping policy version {editor.Store.Current.Version}: "
                + string.Join("; ", result.Problems));
    }

    /// <summary>sd_notify(3): one datagram to $NOTIFY_SOCKET (a path, or @name for the abstract namespace); a failure is a warning.</summary>
    private static void SdNotify(string state, EventLog log)
    {
        string? socketPath = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(socketPath))
        {
            return;
        }

        try
        {
            // Non-blocking: a receiver whose queue is full (nobody reads it) must not hold up the daemon.
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
            string name = socketPath[0] == '@' ? "\0" + socketPath[1..] : socketPath;
            socket.Connect(new UnixDomainSocketEndPoint(name));
            socket.Send(Encoding.ASCII.GetBytes(state));
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            // ArgumentException: a path longer than sun_path's 108 bytes.
            log.Write("warning", "notify_failed", $"NOTIFY_SOCKET {socketPath}: {ex.Message}");
        }
    }
}

/// <summary>Lifecycle events (never packets) on stderr, as text or one JSON object per line.</summary>
internal sealed class EventLog(TextWriter output, bool json)
{
    private readonly Lock _gate = new();

    public void Write(string level, string evt, string message)
    {
        string ts = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        string line = json
            ? JsonSerializer.Serialize(new { ts, level, @event = evt, message })
            : $"{ts} {level,-7} {evt}: {message}";
        lock (_gate)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }
}
