using System.Diagnostics;

namespace NvDataplane.Tests;

/// <summary>Runs an external program (ip, tshark, python3, nvdp) for a test and collects what it printed.</summary>
public static class TestProcess
{
    /// <summary>A guard against a hung program, not a timing assertion.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs <paramref name="file"/> to completion (killed after <paramref name="timeout"/>, exit -1).</summary>
    public static (int Exit, string Output, string Error) Run(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start " + file);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? DefaultTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, output.GetAwaiter().GetResult(), "timed out; " + error.GetAwaiter().GetResult());
        }

        return (process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    /// <summary>Kills <paramref name="process"/> and what it started when it still runs (a test that failed).</summary>
    public static void Kill(Process? process)
    {
        try
        {
            if (process is { HasExited: false })
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }
}
