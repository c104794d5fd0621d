namespace NvDataplane.Cli;

/// <summary>
/// The body of <c>nvdp run</c>'s forwarding thread (<c>nvdp-worker</c>). Whatever ends the
/// worker, the daemon is asked to stop and the log says why, so the main thread closes the ports
/// (TAPs left as found), logs <c>stopped</c> and exits 1 for systemd's <c>Restart=on-failure</c>,
/// where an exception left to the runtime would abort the process with a stack trace and nothing
/// closed.
/// </summary>
internal static class WorkerThread
{
    /// <summary>
    /// Runs <paramref name="work"/>, which returns <see cref="Program.ExitOk"/> when a stop ended
    /// it, or <see cref="Program.ExitFailure"/> when it could not start and has logged why, and
    /// returns the daemon's exit code. A device failing under it is <c>device_failed</c>; any other
    /// exception is a defect of nvdp's own: <c>worker_failed</c> with its type and message, then
    /// <c>worker_failed_detail</c> (level debug) with the whole exception for the report, each on
    /// one line. Every failure calls <paramref name="stop"/>. Out of memory is left to end the
    /// process: nothing can be trusted to run after it.
    /// </summary>
    public static int Run(Func<int> work, EventLog log, Action stop)
    {
        int exitCode;
        try
        {
            exitCode = work();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // A device failing under us (a TAP deleted, a NIC gone): say which, stop, exit 1.
            log.Write("error", "device_failed", ex.Message);
            exitCode = Program.ExitFailure;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The log has no field for the stack trace, so it follows as a line of its own.
            log.Write("error", "worker_failed", $"internal error in the forwarding worker, please report it: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
            log.Write("debug", "worker_failed_detail", ex.ToString().ReplaceLineEndings(" "));
            exitCode = Program.ExitFailure;
        }

        if (exitCode != Program.ExitOk)
        {
            stop();
        }

        return exitCode;
    }
}
