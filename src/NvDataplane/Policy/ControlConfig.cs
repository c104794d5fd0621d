using System.Globalization;
using System.Net;

namespace NvDataplane.Policy;

/// <summary>
/// The <c>control</c> section: where <c>nvdp run</c> serves its control API, the bearer token
/// clients must present, and the largest request body it reads. Read once at start; a reload
/// keeps the server as it is. <c>nvdp run --control</c> / <c>--token-file</c> override it.
/// </summary>
public sealed record ControlConfig(ControlEndpoint Listen, string? TokenFile, long MaxRequestBytes)
{
    /// <summary>64 MiB: a batch of a few hundred thousand lookup records.</summary>
    public const long DefaultMaxRequestBytes = 64L << 20;

    public const long MinRequestBytes = 1024;

    /// <summary>
    /// 128 MiB: the most one JSON document can be parsed from here (System.Text.Json keeps 12
    /// bytes per value in one array, and a body of 1 GiB could hold more values than an array
    /// holds).
    /// </summary>
    public const long MaxMaxRequestBytes = 128L << 20;

    public static readonly ControlConfig Default = new(ControlEndpoint.Default, null, DefaultMaxRequestBytes);

    /// <summary>Null when the settings are safe; else why not (a non-loopback TCP listener without a token).</summary>
    public string? Refusal() =>
        Listen.Tcp is { } tcp && !IPAddress.IsLoopback(tcp.Address) && TokenFile is null
            ? $"{Listen} is not a loopback address: anyone who reaches it could change the policy; give a token file so that clients must present its bearer token, or listen on unix:PATH, 127.0.0.1 or ::1"
            : null;
}

/// <summary>A control API listener: <c>unix:PATH</c>, <c>tcp:ADDRESS:PORT</c> (<c>tcp:[::1]:PORT</c> for IPv6) or <c>off</c>.</summary>
public sealed record ControlEndpoint
{
    public const string DefaultSocketPath = "/run/nvdp/nvdp.sock";

    public const string Syntax = "unix:PATH (e.g. unix:/run/nvdp/nvdp.sock), tcp:ADDRESS:PORT (e.g. tcp:127.0.0.1:9900, tcp:[::1]:9900) or off";

    public static readonly ControlEndpoint Default = new(DefaultSocketPath, null);

    public static readonly ControlEndpoint Off = new(null, null);

    private ControlEndpoint(string? socketPath, IPEndPoint? tcp)
    {
        SocketPath = socketPath;
        Tcp = tcp;
    }

    /// <summary>The Unix socket's path, or null.</summary>
    public string? SocketPath { get; }

    /// <summary>The TCP address and port, or null.</summary>
    public IPEndPoint? Tcp { get; }

    public bool IsOff => SocketPath is null && Tcp is null;

    public static bool TryParse(string? text, out ControlEndpoint endpoint, out string error)
    {
        endpoint = Off;
        error = "";
        text = text?.Trim() ?? "";
        if (text.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text["unix:".Length..];
            if (path.Length == 0 || !Path.IsPathFullyQualified(path))
            {
                error = $"\"{text}\" needs an absolute socket path after unix:";
                return false;
            }

            endpoint = new ControlEndpoint(path, null);
            return true;
        }

        if (text.StartsWith("tcp:", StringComparison.Ordinal))
        {
            string rest = text["tcp:".Length..];
            int colon = rest.LastIndexOf(':');
            string host = colon > 0 ? rest[..colon] : "";
            if (host.StartsWith('[') && host.EndsWith(']'))
            {
                host = host[1..^1];
            }
            else if (host.Contains(':', StringComparison.Ordinal))
            {
                host = ""; // an IPv6 address must be bracketed, or the port cannot be told apart
            }

            if (IPAddress.TryParse(host, out var address)
                && int.TryParse(rest.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port)
                && port is >= 0 and <= 65535)
            {
                endpoint = new ControlEndpoint(null, new IPEndPoint(address, port));
                return true;
            }

            error = $"\"{text}\" needs an IP address and a port 0..65535 (0: any free port) after tcp:";
            return false;
        }

        error = $"\"{text}\" is not a listener";
        return false;
    }

    public override string ToString() => (SocketPath, Tcp) switch
    {
        ({ } path, _) => "unix:" + path,
        (_, { } tcp) => "tcp:" + tcp,
        _ => "off",
    };
}
