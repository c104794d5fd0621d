using System.Runtime.InteropServices;

namespace NvDataplane.Cli;

/// <summary>
/// The signals of <c>nvdp run</c>, taken over before anything is opened: SIGINT and SIGTERM ask
/// for a stop (<see cref="Stopping"/>) however far startup has come, so what was opened is closed
/// again; SIGHUP reloads once <see cref="ReloadWith"/> has said how, and one received before is
/// kept for then. One reload runs at a time; <see cref="EndReloads"/> waits briefly for it at stop
/// and otherwise abandons it, so no reload touches the policy editor once it is disposed and none
/// is logged after <c>stopped</c>.
/// </summary>
internal sealed class DaemonSignals : IDisposable
{
    private readonly EventLog _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _reloading = new(); // held for the whole of a reload
    private readonly Lock _state = new();     // held only to read or set the fields below
    private readonly PosixSignalRegistration[] _registrations;
    private Func<(string Level, string Event, string Message)>? _reload;
    private bool _reloadPending;
    private bool _reloadsEnded;

    public DaemonSignals(EventLog log)
    {
        _log = log;
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnStop),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnStop),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnReload),
        ];
    }

    /// <summary>Cancelled by SIGINT, SIGTERM or <see cref="Stop"/>.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Asks for a stop without a signal (a worker whose device failed).</summary>
    public void Stop() => _stop.Cancel();

    /// <summary>
    /// From now on SIGHUP runs <paramref name="reload"/> and logs what it returns; a SIGHUP
    /// received during startup runs it now, on the thread pool.
    /// </summary>
    public void ReloadWith(Func<(string Level, string Event, string Message)> reload)
    {
        bool pending;
        lock (_state)
        {
            _reload = reload;
            pending = _reloadPending;
            _reloadPending = false;
        }

        if (pending)
        {
            ThreadPool.QueueUserWorkItem(_ => Reload());
        }
    }

    /// <summary>
    /// No reload starts after this. One in progress is waited for up to <paramref name="wait"/>,
    /// then abandoned: what it says is not logged and a disposed editor under it is not an error.
    /// </summary>
    public void EndReloads(TimeSpan wait)
    {
        lock (_state)
        {
            _reload = null;
        }

        bool finished = _reloading.TryEnter(wait);
        lock (_state)
        {
            _reloadsEnded = true;
        }

        if (finished)
        {
            _reloading.Exit();
        }
        else
        {
            _log.Write("warning", "reload_abandoned", $"a SIGHUP reload still running after {wait.TotalSeconds:0.#} s is abandoned; the policy is whatever it has applied");
        }
    }

    public void Dispose()
    {
        foreach (var r in _registrations)
        {
            r.Dispose();
        }

        // Not _stop: a handler may still be running; an undisposed token source holds nothing.
    }

    private void OnStop(PosixSignalContext context)
    {
        context.Cancel = true;
        _log.Write("info", "stopping", $"{context.Signal} received");
        _stop.Cancel();
    }

    private void OnReload(PosixSignalContext context)
    {
        context.Cancel = true;
        lock (_state)
        {
            if (_reload is null && !_reloadsEnded)
            {
                _reloadPending = true; // still starting: reload once the policy editor runs
                return;
            }
        }

        Reload();
    }

    private void Reload()
    {
        lock (_reloading)
        {
            Func<(string, string, string)>? reload;
            lock (_state)
            {
                reload = _reload;
            }

            if (reload is null)
            {
                return; // stopping
            }

            (string level, string evt, string message) said;
            try
            {
                said = reload();
            }
            catch (ObjectDisposedException) when (Volatile.Read(ref _reloadsEnded))
            {
                return; // abandoned at stop: the editor went away under it
            }

            lock (_state)
            {
                if (!_reloadsEnded)
                {
                    _log.Write(said.level, said.evt, said.message);
                }
            }
        }
    }
}
