using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using NvDataplane.Diagnostics;
using NvDataplane.Policy;

namespace NvDataplane.Cli.Control;

/// <summary>
/// The endpoints of the control API. Each policy section is a collection:
/// <c>GET /v1/lookup-records?field=value…</c> lists (filtered by any field), <c>POST</c> adds one
/// entry (the body is the entry, as in the file), <c>PATCH</c> sets fields
/// (<c>{"match": {...}, "fields": {...}}</c>), <c>DELETE ?field=value…</c> removes what matches
/// (at least one filter). <c>POST /v1/changes</c> applies many changes as one unit;
/// <c>/v1/stats</c>, <c>/v1/stats/clear</c> and <c>/metrics</c> show the counters;
/// <c>/v1/config</c> the running policy as a configuration file. Every change
/// goes through the <see cref="PolicyEditor"/>: validated as the file is, published as one
/// version, answered once the workers' next batch sees it. <c>POST /v1/trace</c> and
/// <c>GET /v1/capture</c> (ControlApi.Diagnostics.cs) trace frames against the live policy and
/// stream a port's frames as pcapng.
/// </summary>
internal sealed partial class ControlApi(PolicyEditor editor, DataplaneStats stats)
{
    public const string ChangesPath = "/v1/changes";
    public const string StatsPath = "/v1/stats";
    public const string ClearStatsPath = "/v1/stats/clear";
    public const string MetricsPath = "/metrics";
    public const string ConfigPath = "/v1/config";

    /// <summary>Each path and its methods, for 404 and 405 answers; case-insensitive, as routing is.</summary>
    public Dictionary<string, string[]> Routes { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The section's collection: <c>/v1/lookup-records</c>, <c>/v1/customer-routes</c>, <c>/v1/provider-addresses</c>, <c>/v1/provider-routes</c>.</summary>
    public static string PathOf(PolicySection section) => "/v1/" + Kebab(PolicySections.JsonName(section));

    /// <summary><c>lookupRecords</c> as <c>lookup-records</c>: the file's names in paths and command-line options.</summary>
    public static string Kebab(string camelCase) =>
        string.Concat(camelCase.Select(c => char.IsUpper(c) ? "-" + char.ToLowerInvariant(c) : c.ToString()));

    public void Map(IEndpointRouteBuilder app)
    {
        foreach (var section in PolicySections.All)
        {
            string path = PathOf(section);
            app.MapGet(path, context => ListAsync(context, section));
            app.MapPost(path, context => AddAsync(context, section));
            app.MapPatch(path, context => SetAsync(context, section));
            app.MapDelete(path, context => RemoveAsync(context, section));
            Routes[path] = ["GET", "POST", "PATCH", "DELETE"];
        }

        app.MapPost(ChangesPath, BatchAsync);
        app.MapGet(StatsPath, StatsAsync);
        app.MapPost(ClearStatsPath, ClearStatsAsync);
        app.MapGet(MetricsPath, MetricsAsync);
        app.MapGet(ConfigPath, ConfigAsync);
        Routes[ChangesPath] = ["POST"];
        Routes[StatsPath] = ["GET"];
        Routes[ClearStatsPath] = ["POST"];
        Routes[MetricsPath] = ["GET"];
        Routes[ConfigPath] = ["GET"];
        MapDiagnostics(app);
    }

    private async Task ListAsync(HttpContext context, PolicySection section)
    {
        var problems = new List<ConfigProblem>();
        using var match = ChangeReader.Match(context.Request.Query, problems);
        var found = problems.Count == 0 ? editor.Find(section, match.RootElement) : null;
        if (found is null || found.Problems.Count != 0)
        {
            await Problem.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "the filter names a field the entries do not have, or a value none of them can have", found?.Problems ?? problems);
            return;
        }

        context.Response.ContentType = "application/json";
        var body = context.Response.BodyWriter;
        await using var json = new Utf8JsonWriter(body);
        json.WriteStartObject();
        json.WriteNumber("version", found.Version);
        json.WriteStartArray(PolicySections.JsonName(section));
        foreach (var entry in found.Entries)
        {
            entry.WriteTo(json);
            if (json.BytesPending > 32 * 1024)
            {
                // A large table goes out as it is written instead of piling up in memory.
                await json.FlushAsync();
                await body.FlushAsync();
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private async Task AddAsync(HttpContext context, PolicySection section)
    {
        using var body = await RequestJson.ReadAsync(context);
        if (body is not null)
        {
            await ApplyAsync(context, [new PolicyChange.Add(section, body.Root)]);
        }
    }

    private async Task SetAsync(HttpContext context, PolicySection section)
    {
        using var body = await RequestJson.ReadAsync(context);
        if (body is null)
        {
            return;
        }

        var problems = new List<ConfigProblem>();
        if (ChangeReader.Set(section, body.Root, problems) is { } change)
        {
            await ApplyAsync(context, [change]);
        }
        else
        {
            await Problem.RefusedAsync(context, problems);
        }
    }

    private async Task RemoveAsync(HttpContext context, PolicySection section)
    {
        var problems = new List<ConfigProblem>();
        using var match = ChangeReader.Match(context.Request.Query, problems);
        if (problems.Count != 0)
        {
            await Problem.RefusedAsync(context, problems);
            return;
        }

        // An empty match is refused by the editor: removing everything takes a replace.
        await ApplyAsync(context, [new PolicyChange.Remove(section, match.RootElement)]);
    }

    private async Task BatchAsync(HttpContext context)
    {
        using var body = await RequestJson.ReadAsync(context);
        if (body is null)
        {
            return;
        }

        var problems = new List<ConfigProblem>();
        var changes = ChangeReader.Batch(body.Root, problems);
        if (problems.Count != 0)
        {
            await Problem.RefusedAsync(context, problems);
            return;
        }

        await ApplyAsync(context, changes);
    }

    /// <summary>Hands the changes to the editor and answers when their version is published (200) or refused (422).</summary>
    private async Task ApplyAsync(HttpContext context, IReadOnlyList<PolicyChange> changes)
    {
        PolicyChangeResult result;
        try
        {
            result = await editor.ApplyAsync(changes);
        }
        catch (ObjectDisposedException)
        {
            await Problem.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "nvdp is stopping; nothing was changed");
            return;
        }

        if (result.Busy)
        {
            context.Response.Headers.RetryAfter = "1";
            await Problem.WriteAsync(context, StatusCodes.Status429TooManyRequests, result.Problems[0].Message);
            return;
        }

        if (!result.Applied)
        {
            await Problem.RefusedAsync(context, result.Problems);
            return;
        }

        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteBoolean("applied", true);
        json.WriteNumber("version", result.Version);
        json.WriteNumber("affected", result.Affected);
        json.WriteEndObject();
    }

    private async Task StatsAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        StatsJson.Write(json, stats.SinceClear(), stats.HostName, stats.Clock);
    }

    /// <summary>The running policy as a configuration file: the file it started from with every change since.</summary>
    private Task ConfigAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(editor.RunningDocument());
    }

    private async Task ClearStatsAsync(HttpContext context)
    {
        var since = stats.Clear();
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteBoolean("cleared", true);
        json.WriteString("since", since);
        json.WriteEndObject();
    }

    private Task MetricsAsync(HttpContext context)
    {
        context.Response.ContentType = DataplaneMetrics.PrometheusContentType;
        return context.Response.WriteAsync(DataplaneMetrics.Prometheus(stats.Take(), stats.Clock));
    }
}

/// <summary>The <c>/v1/stats</c> document (README, "Control API and CLI"), read back by <c>nvdp stats</c>.</summary>
internal static class StatsJson
{
    public static void Write(Utf8JsonWriter json, StatsSnapshot s, string hostName, CpuClock clock)
    {
        json.WriteStartObject();
        json.WriteString("host", hostName);
        json.WriteString("since", s.Since);
        json.WriteNumber("seconds", Math.Round((s.Taken - s.Since).TotalSeconds, 3));
        json.WriteStartObject("policy");
        json.WriteNumber("version", s.PolicyVersion);
        json.WriteNumber("changes", s.PolicyChanges);
        json.WriteNumber("unseenVersions", s.PolicyUnseenVersions);
        foreach (var section in PolicySections.All)
        {
            json.WriteNumber(PolicySections.JsonName(section), s.Entries[(int)section]);
        }

        json.WriteEndObject();
        if (s.PolicySource is { } source)
        {
            // Running totals, as the policy version is: a clear does not start them from zero.
            json.WritePropertyName("policySource");
            JsonSerializer.Serialize(json, source, Program.CamelCase);
        }

        json.WriteStartObject("totals");
        json.WriteNumber("rx", s.Rx);
        json.WriteNumber("forwarded", s.Forwarded);
        json.WriteNumber("answered", s.Answered);
        json.WriteNumber("dropped", s.Dropped);
        json.WriteEndObject();
        json.WriteStartArray("ports");
        foreach (var p in s.Ports)
        {
            json.WriteStartObject();
            json.WriteString("name", p.Name);
            json.WriteString("role", p.Role.ToString().ToLowerInvariant());
            if (p.VirtualSubnetId is { } vsid)
            {
                json.WriteNumber("virtualSubnetId", vsid);
            }

            json.WriteNumber("rx", p.Rx);
            json.WriteNumber("tx", p.Tx);
            json.WriteNumber("txRefused", p.TxRefused);
            json.WriteNumber("deviceDrops", p.DeviceDrops);
            json.WriteNumber("rxTooLarge", p.RxTooLarge);
            json.WriteNumber("txDropped", p.TxDropped);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("virtualSubnets");
        foreach (var (vsid, ports, rx, tx) in s.VirtualSubnets())
        {
            json.WriteStartObject();
            json.WriteNumber("virtualSubnetId", vsid);
            json.WriteStartArray("ports");
            foreach (string port in ports)
            {
                json.WriteStringValue(port);
            }

            json.WriteEndArray();
            json.WriteNumber("rx", rx);
            json.WriteNumber("tx", tx);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartObject("drops");
        foreach (var reason in DropReasons.All.Where(r => s.Drops[(int)r] != 0))
        {
            json.WriteNumber(DropReasons.Name(reason), s.Drops[(int)reason]);
        }

        json.WriteEndObject();
        json.WriteStartObject("cpu");
        if (clock.Mhz is { } mhz)
        {
            json.WriteNumber("mhz", mhz);
        }
        else
        {
            json.WriteNull("mhz");
        }

        json.WriteString("source", clock.Source);
        json.WriteEndObject();
        json.WriteStartArray("workers");
        for (int i = 0; i < s.Workers.Length; i++)
        {
            var w = s.Workers[i];
            json.WriteStartObject();
            json.WriteNumber("worker", i);
            json.WriteNumber("packets", w.Packets);
            json.WriteNumber("batches", w.Batches);
            json.WriteNumber("batchFill", Math.Round(w.BatchFill, 4));
            json.WriteStartObject("nsPerPacket");
            foreach (var (name, ticks) in WorkerStats.Stages)
            {
                json.WriteNumber(name, Math.Round(w.NsPerPacket(ticks(w)), 1));
            }

            json.WriteEndObject();
            json.WriteStartObject("cyclesPerPacket");
            foreach (var (name, ticks) in WorkerStats.Stages)
            {
                json.WriteNumber(name, Math.Round(clock.Cycles(w.NsPerPacket(ticks(w))), 1));
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }
}
