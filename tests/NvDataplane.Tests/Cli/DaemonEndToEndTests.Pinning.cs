using System.Globalization;

namespace NvDataplane.Tests.Cli;

public partial class DaemonEndToEndTests
{
    [Test]
    public void With_worker_cpu_the_worker_has_its_cpu_to_itself_and_tenants_still_reach_each_other()
    {
        Assume.That(Environment.ProcessorCount, Is.GreaterThanOrEqualTo(2), "pinning needs a CPU for the worker and one for the rest");
        int cpu = Environment.ProcessorCount - 1;
        using var temp = new TempDir();
        var t = TwoHosts(temp.Path, null, hv1Args: ["--worker-cpu", cpu.ToString(CultureInfo.InvariantCulture)]);
        Assert.That(WaitFor(() => t.Log1.ToString().Contains("\"worker_pinned\"", StringComparison.Ordinal)), Is.True, "hv1 says it pinned its worker: " + t.Log1);

        // `ip netns exec` execs nvdp in place: the process is the daemon. Every thread but the
        // worker leaves the worker's CPU within the re-pinning interval (the runtime makes some later).
        string tasks = $"/proc/{_daemons[0].Id}/task";
        string cpuText = cpu.ToString(CultureInfo.InvariantCulture);
        (string Name, string Cpus)[] Threads() => [.. Directory.EnumerateDirectories(tasks).Select(d =>
        {
            try
            {
                string name = File.ReadAllText(Path.Combine(d, "comm")).Trim();
                string cpus = File.ReadLines(Path.Combine(d, "status")).First(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)).Split(':')[1].Trim();
                return (name, cpus);
            }
            catch (IOException)
            {
                return ("(gone)", "");
            }
        })];
        bool Pinned() => Threads().All(th => th.Name == "(gone)" || (th.Name == "nvdp-worker" ? th.Cpus == cpuText : !Cpus(th.Cpus).Contains(cpu)));
        Assert.That(WaitFor(Pinned), Is.True, "threads and their CPUs: " + string.Join(", ", Threads().Select(th => $"{th.Name} {th.Cpus}")));
        Assert.That(Threads().Count(th => th.Name == "nvdp-worker"), Is.EqualTo(1));

        Assert.That(Ping(t.Red1, "10.1.1.8"), Is.Zero, "Red-1 → Red-2 across hosts, through the pinned worker");
        Assert.That(Ping(t.Blue1, "10.1.1.8"), Is.Zero, "Blue-1 → Blue-2");
    }

    [Test]
    public void A_worker_cpu_the_machine_does_not_have_is_refused_before_any_device_is_opened()
    {
        using var temp = new TempDir();
        string config = Path.Combine(temp.Path, "none.json");
        var run = StartBackground(Path.Combine(AppContext.BaseDirectory, "nvdp"), "run", "--config", config, "--worker-cpu", "4096");
        Assert.That(run.Process.WaitForExit(20_000), Is.True);
        Assert.That(run.Process.ExitCode, Is.EqualTo(2));
        run.Process.WaitForExit(); // the output is read to its end
        Assert.That(run.Log.ToString(), Does.Contain("--worker-cpu 4096 is not a CPU here; use 0.."));
    }

    /// <summary>The CPUs of a Cpus_allowed_list such as "0-3,5".</summary>
    private static HashSet<int> Cpus(string list) =>
    [
        .. list.Split(',', StringSplitOptions.RemoveEmptyEntries).SelectMany(part =>
        {
            var ends = part.Split('-');
            int from = int.Parse(ends[0], CultureInfo.InvariantCulture), to = int.Parse(ends[^1], CultureInfo.InvariantCulture);
            return Enumerable.Range(from, to - from + 1);
        }),
    ];
}
