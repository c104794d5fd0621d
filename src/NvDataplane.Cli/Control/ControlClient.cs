using NvDataplane.Io;
using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// The CLI side of the control API: one HTTP/1.1 client over the daemon's Unix socket or TCP
/// address, and the one place that turns its answers into output and exit codes (SPEC section 3):
/// a daemon that cannot be reached is one line and exit 1, a refused change is one line per
/// problem and exit 2, any other refusal (4xx) its detail and exit 2, a failure (5xx) exit 1.
/// </summary>
internal sealed class ControlClient : IDisposable
{
    public const string DefaultServer = "unix:" + ControlEndpoint.DefaultSocketPath;

    private readonly HttpClient _http;

    /// <summary>The underlying client (tests read headers through it).</summary>
    public HttpClient Http => _http;

    private ControlClient(HttpClient http, string server)
    {
        _http = http;
        Server = server;
    }

    public string Server { get; }

    /// <summary>A client for <c>unix:PATH</c>, <c>http://ADDRESS:PORT</c> or <c>tcp:ADDRESS:PORT</c>; null and why for anything else.</summary>
    public static (ControlClient? Client, string? Error) Create(string server, string? token)
    {
        HttpClient http;
        if (server.StartsWith("unix:", StringComparison.Ordinal) && server.Length > "unix:".Length)
        {
            string path = server["unix:".Length..];
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancel) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            http = new HttpClient(handler) { BaseAddress = new Uri("http://nvdp") };
        }
        else if (ControlEndpoint.TryParse(server, out var tcp, out _) && tcp.Tcp is { } endpoint)
        {
            http = new HttpClient { BaseAddress = new Uri("http://" + endpoint) };
        }
        else if (Uri.TryCreate(server, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp)
        {
            http = new HttpClient { BaseAddress = uri };
        }
        else
        {
            return (null, $"--server {server}: use unix:PATH (default {DefaultServer}), http://127.0.0.1:PORT or tcp:ADDRESS:PORT");
        }

        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return (new ControlClient(http, server), null);
    }

    /// <summary>Sends one request; the status and body, or null with the reason the daemon could not be reached.</summary>
    public (int Status, string Body)? Send(HttpMethod method, string pathAndQuery, string? json, out string? unreachable)
    {
        unreachable = null;
        using var request = new HttpRequestMessage(method, pathAndQuery);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        try
        {
            using var response = _http.Send(request);
            using var reader = new StreamReader(response.Content.ReadAsStream(), Encoding.UTF8);
            return ((int)response.StatusCode, reader.ReadToEnd());
        }
        catch (Exception e) when (Unreachable(e) is { } why)
        {
            unreachable = why;
            return null;
        }
    }

    /// <summary>
    /// A GET whose 2xx body (a capture) is copied into <paramref name="open"/>'s stream as it
    /// arrives, however long that takes; any other answer is read as text. Null and why when the
    /// daemon could not be reached.
    /// </summary>
    public (int Status, string Body)? Download(string pathAndQuery, Func<Stream> open, out string? unreachable)
    {
        unreachable = null;
        using var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        try
        {
            // Headers only: HttpClient's timeout then covers the connection, not the streaming.
            using var response = _http.Send(request, HttpCompletionOption.ResponseHeadersRead);
            using var content = response.Content.ReadAsStream();
            if (!response.IsSuccessStatusCode)
            {
                using var reader = new StreamReader(content, Encoding.UTF8);
                return ((int)response.StatusCode, reader.ReadToEnd());
            }

            using (var output = open())
            {
                content.CopyTo(output);
            }

            return ((int)response.StatusCode, "");
        }
        catch (Exception e) when (Unreachable(e) is { } why)
        {
            unreachable = why;
            return null;
        }
    }

    /// <summary>
    /// Why the daemon could not be reached or stopped answering, for the exceptions that mean
    /// that (no connection, HttpClient's timeout, the connection lost mid-answer); null for others.
    /// </summary>
    private string? Unreachable(Exception e) => e switch
    {
        HttpRequestException { InnerException: SocketException s } => s.SocketErrorCode switch
        {
            SocketError.AddressNotAvailable when Server.StartsWith("unix:", StringComparison.Ordinal) => "no such socket",
            SocketError.ConnectionRefused => "nothing listens there",
            _ => s.Message,
        },
        HttpRequestException => e.Message,
        TaskCanceledException { InnerException: TimeoutException } => $"it did not answer within {_http.Timeout.TotalSeconds:0.#} s",
        HttpIOException => $"the connection broke off: {e.Message}",
        _ => null,
    };

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// The options every verb that talks to the daemon has (<c>--server</c>, <c>--token-file</c>,
/// <c>--format</c>), and how such a verb runs: connect, send, print the answer or the problem.
/// </summary>
internal sealed class ControlVerbOptions
{
    public Option<string> Server { get; } = new("--server")
    {
        Description = $"the daemon's control API: unix:PATH or http://127.0.0.1:PORT (default {ControlClient.DefaultServer})",
        DefaultValueFactory = _ => ControlClient.DefaultServer,
    };

    public Option<string?> TokenFile { get; } = new Option<string?>("--token-file") { Description = "a file holding the bearer token the daemon asks for" }.NotEmpty();

    public Option<string> Format { get; } = new("--format") { Description = "text (default) or json", DefaultValueFactory = _ => "text" };

    public ControlVerbOptions() => Format.AcceptOnlyFromAmong("text", "json");

    public void AddTo(Command command)
    {
        command.Options.Add(Server);
        command.Options.Add(TokenFile);
        command.Options.Add(Format);
    }

    /// <summary>
    /// Sends the request and hands a 2xx body to <paramref name="print"/> (text) or prints it as
    /// is (<c>--format json</c>); everything else becomes a message on stderr and the exit code.
    /// </summary>
    public int Send(ParseResult parse, TextWriter stdout, TextWriter stderr, HttpMethod method, string pathAndQuery, string? json, Action<JsonElement> print) =>
        Connect(parse, stderr, client => client.Send(method, pathAndQuery, json, out string? unreachable) is { } reply
            ? Answer(reply.Status, reply.Body, parse.GetValue(Format) == "json", stdout, stderr, print)
            : Unreachable(client, unreachable, stderr));

    /// <summary>
    /// GETs <paramref name="pathAndQuery"/> and streams a 2xx body into the file at
    /// <paramref name="file"/> (created only then), then returns <paramref name="done"/>'s exit
    /// code; a refusal or an unreachable daemon as <see cref="Send"/> answers them.
    /// </summary>
    public int Download(ParseResult parse, TextWriter stdout, TextWriter stderr, string pathAndQuery, string file, Func<int> done) =>
        Connect(parse, stderr, client => client.Download(pathAndQuery, () => File.Create(file), out string? unreachable) is not { } reply
            ? Unreachable(client, unreachable, stderr)
            : reply.Status is >= 200 and < 300 ? done() : Answer(reply.Status, reply.Body, false, stdout, stderr, _ => { }));

    private static int Unreachable(ControlClient client, string? why, TextWriter stderr)
    {
        stderr.WriteLine($"nvdp: cannot reach the daemon at {client.Server} ({why}); is nvdp run running there? (--server names another)");
        return Program.ExitFailure;
    }

    /// <summary>Reads the token, makes the client and hands it to <paramref name="use"/>; exit 2 when the options are bad.</summary>
    private int Connect(ParseResult parse, TextWriter stderr, Func<ControlClient, int> use)
    {
        string? token = null;
        if (parse.GetValue(TokenFile) is { } file)
        {
            try
            {
                token = TextFile.Read(file, TextFile.TokenLimitBytes).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
            {
                stderr.WriteLine($"nvdp: --token-file {file}: {e.Message}");
                return Program.ExitUsage;
            }
        }

        var (client, error) = ControlClient.Create(parse.GetValue(Server)!, token);
        if (client is null)
        {
            stderr.WriteLine("nvdp: " + error);
            return Program.ExitUsage;
        }

        using (client)
        {
            return use(client);
        }
    }

    private static int Answer(int status, string body, bool json, TextWriter stdout, TextWriter stderr, Action<JsonElement> print)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Length == 0 ? "{}" : body);
        }
        catch (JsonException)
        {
            document = JsonDocument.Parse("{}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (status is >= 200 and < 300)
            {
                if (json)
                {
                    stdout.WriteLine(body.TrimEnd());
                }
                else
                {
                    print(root);
                }

                return Program.ExitOk;
            }

            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("problems", out var problems) && problems.ValueKind == JsonValueKind.Array)
            {
                foreach (var p in problems.EnumerateArray())
                {
                    stderr.WriteLine($"{p.GetProperty("path").GetString()}: {p.GetProperty("message").GetString()}");
                }
            }
            else
            {
                string detail = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("detail", out var d) ? d.GetString() ?? "" : body;
                stderr.WriteLine($"nvdp: the daemon answered {status}: {detail}");
            }

            return status is >= 400 and < 500 ? Program.ExitUsage : Program.ExitFailure;
        }
    }
}
