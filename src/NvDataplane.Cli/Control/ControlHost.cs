using System.CommandLine;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;
using NvDataplane.Policy.Sources;

namespace NvDataplane.Cli.Control;

/// <summary>
/// How <c>nvdp run</c> starts its control API: the file's <c>control</c> section, overridden by
/// <c>--control</c> and <c>--token-file</c>. A listener the operator asked for (file or command
/// line) must start or the daemon exits 1; the default socket is best effort, so a second daemon
/// on a host (each in its own network namespace, say) still forwards, with a warning.
/// </summary>
internal static class ControlHost
{
    public static Option<string?> ListenOption() => new("--control")
    {
        Description = $"the control API's listener, over the file's control.listen: {ControlEndpoint.Syntax} (default unix:{ControlEndpoint.DefaultSocketPath})",
    };

    public static Option<string?> TokenFileOption() => new Option<string?>("--token-file")
    {
        Description = "a file holding the bearer token every control API request must present (over control.tokenFile)",
    }.NotEmpty();

    /// <summary>What the daemon will serve, with the token read; null and the reason when the settings are bad (exit 2).</summary>
    public static (ControlSettings? Settings, string? Error) Resolve(HostConfig config, string? listen, string? tokenFile)
    {
        var control = config.Control;
        bool asked = listen is not null || config.Control != ControlConfig.Default;
        if (listen is not null)
        {
            if (!ControlEndpoint.TryParse(listen, out var endpoint, out string error))
            {
                return (null, $"--control {error}; use {ControlEndpoint.Syntax}");
            }

            control = control with { Listen = endpoint };
        }

        if (tokenFile is not null)
        {
            control = control with { TokenFile = Path.GetFullPath(tokenFile) };
        }

        if (control.Refusal() is { } refusal)
        {
            return (null, "control API: " + refusal.Replace("give a token file", "give --token-file (or control.tokenFile)", StringComparison.Ordinal));
        }

        string? token = null;
        if (control.TokenFile is { } file && !control.Listen.IsOff)
        {
            try
            {
                token = TextFile.Read(file, TextFile.TokenLimitBytes).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
            {
                return (null, $"control API token file {file} cannot be read: {e.Message}");
            }

            if (token.Length == 0)
            {
                return (null, $"control API token file {file} is empty; put the token in it (e.g. openssl rand -hex 32 > {file})");
            }
        }

        return (new ControlSettings(control, token, asked), null);
    }

    /// <summary>
    /// Starts the server (null when off). Null with <paramref name="failed"/> when a listener
    /// that was asked for cannot start (logged); the default one failing is only a warning.
    /// </summary>
    public static ControlServer? Start(ControlSettings settings, PolicyEditor editor, PortWorker worker, IReadOnlyList<IPacketPort> ports, EtcdPolicySource? source, EventLog log, out bool failed)
    {
        failed = false;
        if (settings.Config.Listen.IsOff)
        {
            return null;
        }

        var stats = new DataplaneStats(editor, [worker], ports, CpuClock.Detect(), source);
        try
        {
            return ControlServer.StartAsync(settings.Config, settings.Token, editor, stats, log).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            failed = settings.Asked;
            log.Write(failed ? "error" : "warning", failed ? "control_failed" : "control_unavailable", failed
                ? e.Message
                : $"{e.Message}; forwarding without a control API (set control.listen or --control to make it required)");
            return null;
        }
    }
}

/// <summary>The control API as it will run: the settings, the token read from its file, and whether the operator asked for it.</summary>
internal sealed record ControlSettings(ControlConfig Config, string? Token, bool Asked);
