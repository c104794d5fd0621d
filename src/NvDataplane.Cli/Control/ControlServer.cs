using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NvDataplane.Io;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// The control API's HTTP server: Kestrel on a Unix socket (mode 0660) or a TCP address, minimal
/// API endpoints (<see cref="ControlApi"/>), a bearer token when one is configured, RFC 7807
/// answers for every error, and no logging per request: ASP.NET's own log reaches the
/// <see cref="EventLog"/> only for errors. It runs on the thread pool, apart from the worker; it
/// reads counters and publishes policy versions, and never takes a lock the worker takes.
/// </summary>
internal sealed class ControlServer : IAsyncDisposable, IDisposable
{
    /// <summary>
    /// How long a stop lets requests in progress finish before their connections are cut: the
    /// daemon has 2 s to stop (a capture ends at once when the daemon stops, and says so in its file).
    /// </summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(1);

    private readonly WebApplication _app;
    private readonly Meter _meter;
    private readonly string? _socketPath;

    private ControlServer(WebApplication app, Meter meter, string? socketPath, string endpoint)
    {
        _app = app;
        _meter = meter;
        _socketPath = socketPath;
        Endpoint = endpoint;
    }

    /// <summary>Where it listens, as <c>unix:PATH</c> or <c>tcp:ADDRESS:PORT</c> (the port bound when 0 was asked for).</summary>
    public string Endpoint { get; }

    /// <summary>Listens on <paramref name="config"/>'s endpoint (not off) and serves until disposed.</summary>
    /// <param name="token">The bearer token every request must present, or null for none.</param>
    /// <exception cref="IOException">The endpoint cannot be listened on (in use, no permission); the message says what to do.</exception>
    public static async Task<ControlServer> StartAsync(ControlConfig config, string? token, PolicyEditor editor, DataplaneStats stats, EventLog log)
    {
        var listen = config.Listen;
        if (listen.SocketPath is { } path)
        {
            PrepareSocketPath(path);
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "nvdp" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = config.MaxRequestBytes;
            if (listen.SocketPath is { } socket)
            {
                kestrel.ListenUnixSocket(socket);
            }
            else
            {
                kestrel.Listen(listen.Tcp!);
            }
        });
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Logging.AddProvider(new EventLogLoggerProvider(log));

        var app = builder.Build();
        var api = new ControlApi(editor, stats);
        app.Use(ErrorsAsProblems(api, log));
        if (token is not null)
        {
            app.Use(RequireToken(Encoding.UTF8.GetBytes(token)));
        }

        app.Use(RefuseBrowsers(checkHost: listen.Tcp is not null && token is null));

        api.Map(app);
        try
        {
            await app.StartAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
        {
            await app.DisposeAsync();
            throw new IOException($"the control API cannot listen on {listen}: {e.Message}", e);
        }

        string endpoint = listen.ToString();
        if (listen.SocketPath is { } created && !OperatingSystem.IsWindows())
        {
            // rw for the owner and the group: who may change the policy is who is in the socket's group.
            File.SetUnixFileMode(created, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        }
        else if (app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() is { } bound
            && Uri.TryCreate(bound, UriKind.Absolute, out var uri))
        {
            endpoint = "tcp:" + new IPEndPoint(listen.Tcp!.Address, uri.Port);
        }

        var meter = DataplaneMetrics.CreateMeter(stats);
        log.Write("info", "control_listening", $"control API on {endpoint}"
            + (listen.SocketPath is null ? "" : " (mode 0660)")
            + (token is null ? ", no token" : ", bearer token required"));
        return new ControlServer(app, meter, listen.SocketPath, endpoint);
    }

    /// <summary>Stops listening (requests in progress have <see cref="StopTimeout"/> to finish), then removes the socket file.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        _meter.Dispose();
        using (var timeout = new CancellationTokenSource(StopTimeout))
        {
            await _app.StopAsync(timeout.Token);
        }

        await _app.DisposeAsync();
        if (_socketPath is not null)
        {
            File.Delete(_socketPath);
        }
    }

    /// <summary>
    /// Makes the socket's folder, and takes the path over from a daemon that died without
    /// removing it; a path another process still answers on is refused, and so is anything at
    /// the path that is not a socket (a file, a folder, a link), which is left as it is.
    /// </summary>
    private static void PrepareSocketPath(string path)
    {
        if (Path.GetDirectoryName(path) is { Length: > 0 } folder)
        {
            Directory.CreateDirectory(folder);
        }

        if (!File.Exists(path) && !Directory.Exists(path) && new FileInfo(path).LinkTarget is null)
        {
            return;
        }

        if (FileIdentity.IsSocket(path) == false)
        {
            throw new IOException($"{path} is not a socket, and nvdp removes only a socket a daemon left; move it away, or give the control API another path with --control unix:PATH or control.listen");
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path); // nobody answers: left by a daemon that died
            return;
        }

        throw new IOException($"another process (a running nvdp?) serves {path}; stop it, or give this daemon its own socket with --control unix:PATH or control.listen");
    }

    /// <summary>Outermost: exceptions, 404 and 405 become problem details; nothing is logged per request.</summary>
    private static Func<HttpContext, RequestDelegate, Task> ErrorsAsProblems(ControlApi api, EventLog log) => async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            // Kestrel's own refusals: 413 for a body over the limit, 400 for a body cut short.
            string detail = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"the body is larger than {context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes (control.maxRequestBytes); send fewer changes per request"
                : e.Message;
            await Problem.WriteAsync(context, e.StatusCode, detail);
            return;
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            log.Write("error", "control_error", $"{context.Request.Method} {context.Request.Path}: {e.GetType().Name}: {e.Message}");
            await Problem.WriteAsync(context, StatusCodes.Status500InternalServerError, "the request failed inside nvdp; the daemon's log says why");
            return;
        }

        int status = context.Response.StatusCode;
        if (context.Response.HasStarted || status is not (StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed))
        {
            return;
        }

        string path = context.Request.Path.Value ?? "";
        if (api.Routes.TryGetValue(path, out var methods))
        {
            context.Response.Headers.Allow = string.Join(", ", methods);
            await Problem.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, $"{context.Request.Method} is not allowed on {path}; use {string.Join(", ", methods)}");
        }
        else
        {
            await Problem.WriteAsync(context, StatusCodes.Status404NotFound, $"there is no {path}; the API has {string.Join(", ", api.Routes.Keys)}");
        }
    };

    /// <summary>
    /// Refuses what a web browser on the host could send: a page it opens could POST to a
    /// loopback listener (a form or a text/plain body needs no CORS preflight), or, through DNS
    /// rebinding, talk to it under the page's own name. So no request may carry an Origin header
    /// (nvdp and scripts send none), a body must be <c>application/json</c> (which a browser
    /// sends to another origin only after a preflight nvdp never grants), and a TCP listener
    /// without a token (<paramref name="checkHost"/>) takes only a Host that is an address or
    /// <c>localhost</c>.
    /// </summary>
    private static Func<HttpContext, RequestDelegate, Task> RefuseBrowsers(bool checkHost) => (context, next) =>
    {
        var request = context.Request;
        if (request.Headers.Origin.Count != 0)
        {
            return Problem.WriteAsync(context, StatusCodes.Status403Forbidden, $"a request from a web page (Origin {request.Headers.Origin}) is refused: the control API takes nvdp and scripts, not browsers");
        }

        string host = request.Host.Host;
        if (checkHost && !IPAddress.TryParse(host.Trim('[', ']'), out _) && !host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return Problem.WriteAsync(context, StatusCodes.Status403Forbidden, $"the Host header names {host}: address this daemon as 127.0.0.1 (or its listen address), not by a name that could be anyone's");
        }

        bool hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count != 0;
        if (hasBody && !IsJson(request.ContentType))
        {
            return Problem.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, $"the body is sent as {request.ContentType ?? "nothing named"}; send it as Content-Type: application/json");
        }

        return next(context);
    };

    private static bool IsJson(string? contentType) =>
        contentType is not null && contentType.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase);

    /// <summary>Every request presents <c>Authorization: Bearer TOKEN</c> (compared in constant time) or gets 401.</summary>
    private static Func<HttpContext, RequestDelegate, Task> RequireToken(byte[] token) => (context, next) =>
    {
        string? header = context.Request.Headers.Authorization;
        if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()), token))
        {
            return next(context);
        }

        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"nvdp\"";
        return Problem.WriteAsync(context, StatusCodes.Status401Unauthorized, header is null
            ? "this daemon needs a bearer token: send Authorization: Bearer TOKEN (nvdp: --token-file)"
            : "the bearer token is not this daemon's");
    };

    /// <summary>ASP.NET's errors (never per-request information) as <c>control_error</c> events.</summary>
    private sealed class EventLogLoggerProvider(EventLog log) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(log, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(EventLog log, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    log.Write("error", "control_error", $"{category}: {formatter(state, exception)}" + (exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})"));
                }
            }
        }
    }
}
