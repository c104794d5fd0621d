using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace NvDataplane.Tests.Io;

/// <summary>
/// A network namespace made for one test (<c>nvdpt-</c> and 8 hex digits) and deleted on dispose,
/// whatever the outcome, with a dedicated thread that has entered it: ports opened through
/// <see cref="Run{T}"/> are bound to the namespace, so no frame reaches the host's interfaces.
/// Tests that need one are ignored unless the process is root on Linux with iproute2.
/// </summary>
public sealed partial class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private static readonly string? IpPath =
        new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.FirstOrDefault(File.Exists);

    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread _thread;
    private bool _deleted;

    private NetworkNamespace(string name)
    {
        Name = name;
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _thread = new Thread(() => Serve(entered)) { IsBackground = true, Name = "netns " + name };
        _thread.Start();
        if (!entered.Task.Wait(CommandTimeout))
        {
            throw new TimeoutException("the thread did not enter " + name);
        }
    }

    public string Name { get; }

    /// <summary>Creates a namespace named <paramref name="prefix"/> and 8 hex digits, or ignores the test where that is not possible here.</summary>
    public static NetworkNamespace Create(string prefix = "nvdpt-")
    {
        RequireRootAndIp();
        string name = prefix + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
        var (exit, _, error) = RunProcess(IpPath!, ["netns", "add", name]);
        if (exit != 0)
        {
            Assert.Ignore($"cannot create a network namespace here: {error.Trim()}");
        }

        try
        {
            return new NetworkNamespace(name);
        }
        catch
        {
            RunProcess(IpPath!, ["netns", "del", name]);
            throw;
        }
    }

    public static void RequireRootAndIp()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("Linux network namespaces only");
        }

        if (!Environment.IsPrivilegedProcess)
        {
            Assert.Ignore("needs root (network namespaces, TAP and AF_PACKET)");
        }

        if (IpPath is null)
        {
            Assert.Ignore("needs iproute2 ('ip')");
        }
    }

    /// <summary>Runs <c>ip ARGS</c> inside the namespace and fails the test if it fails.</summary>
    public string Ip(params string[] args)
    {
        var (exit, output, error) = Exec([IpPath!, .. args]);
        Assert.That(exit, Is.Zero, $"ip {string.Join(' ', args)} in {Name}: {error}");
        return output;
    }

    /// <summary>Runs a command inside the namespace (ip netns exec) with a time limit.</summary>
    public (int Exit, string Output, string Error) Exec(params string[] command) =>
        RunProcess(IpPath!, ["netns", "exec", Name, .. command]);

    /// <summary>Runs <paramref name="work"/> on the thread inside the namespace.</summary>
    public T Run<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task.WaitAsync(TimeSpan.FromSeconds(20)).GetAwaiter().GetResult();
    }

    public void Run(Action work) => Run(() =>
    {
        work();
        return 0;
    });

    public void Dispose()
    {
        if (_deleted)
        {
            return;
        }

        _deleted = true;
        _work.CompleteAdding();
        _thread.Join(CommandTimeout);
        _work.Dispose();
        RunProcess(IpPath!, ["netns", "del", Name]);
    }

    private static (int Exit, string Output, string Error) RunProcess(string file, IEnumerable<string> args) =>
        TestProcess.Run(file, args, CommandTimeout);

    private void Serve(TaskCompletionSource entered)
    {
        try
        {
            using var handle = File.OpenHandle("/var/run/netns/" + Name);
            if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
            {
                throw new IOException($"setns into {Name} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        catch (Exception e)
        {
            entered.SetException(e);
            return;
        }

        entered.SetResult();
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int namespaceType);
}
