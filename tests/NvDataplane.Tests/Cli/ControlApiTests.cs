using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NvDataplane.Cli;
using NvDataplane.Cli.Control;
using NvDataplane.Diagnostics;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// The control API in-process on a temporary Unix socket, over a real policy editor and a worker
/// with in-memory ports: every endpoint, every class of error as RFC 7807 problem details, the
/// token on TCP, the socket's mode, and that what the API answers is what the worker does.
/// </summary>
public partial class ControlApiTests
{
    private const string Red9 = """{ "customerAddress": "10.1.1.9", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-09", "providerAddress": "192.168.1.12" }""";

    private static JsonElement Json(string body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    private static void AssertProblem((HttpStatusCode Status, string Body, HttpResponseMessage Response) reply, HttpStatusCode status, string detail)
    {
        Assert.That(reply.Status, Is.EqualTo(status), reply.Body);
        Assert.That(reply.Response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var problem = Json(reply.Body);
        Assert.That(problem.GetProperty("status").GetInt32(), Is.EqualTo((int)status));
        Assert.That(problem.GetProperty("title").GetString(), Is.Not.Empty);
        Assert.That(problem.GetProperty("detail").GetString(), Does.Contain(detail));
        Assert.That(reply.Body, Does.Not.Contain("   at ").And.Not.Contain("Exception"), "never a stack trace");
    }

    [Test]
    public void Config_is_the_running_policy_as_a_file_that_loads_with_every_change_since_start()
    {
        using var host = new ControlApiHost();
        Assert.That(host.Request(HttpMethod.Post, "/v1/lookup-records", Red9).Status, Is.EqualTo(HttpStatusCode.OK));
        // A set of a PA alone takes the fast path: its fields wait on the typed record until read.
        var moved = host.Request(HttpMethod.Patch, "/v1/lookup-records", """{ "match": { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }, "fields": { "providerAddress": "192.168.1.12" } }""");
        Assert.That(moved.Status, Is.EqualTo(HttpStatusCode.OK), moved.Body);

        var reply = host.Request(HttpMethod.Get, "/v1/config");
        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(reply.Response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        var loaded = ConfigLoader.Load(reply.Body);
        Assert.That(loaded.Problems, Is.Empty, reply.Body);
        var records = loaded.Config!.LookupRecords.ToDictionary(r => r.CustomerAddress.ToString(), r => r.ProviderAddress.ToString());
        Assert.That(records, Is.EqualTo(new Dictionary<string, string> { ["10.1.1.7"] = "192.168.1.10", ["10.1.1.8"] = "192.168.1.12", ["10.1.1.9"] = "192.168.1.12" }));
        Assert.That(loaded.Config.HostName, Is.EqualTo("hv1"));
        Assert.That(loaded.Config.Ports.Select(p => p.Name), Is.EqualTo(new[] { "pnic0", "red1" }), "the parts that never change, as the file had them");
        Assert.That(host.Request(HttpMethod.Post, "/v1/config", "{}").Status, Is.EqualTo(HttpStatusCode.MethodNotAllowed), "read only");
    }

    [Test]
    public void A_record_added_through_the_api_is_what_the_worker_forwards_by_and_set_moves_it_and_remove_drops_it()
    {
        using var host = new ControlApiHost();
        Assert.That(host.SendFromRed("10.1.1.9"), Is.Null, "no record yet");
        Assert.That(host.Worker.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(1));

        var added = host.Request(HttpMethod.Post, "/v1/lookup-records", Red9);
        Assert.That(added.Status, Is.EqualTo(HttpStatusCode.OK), added.Body);
        Assert.That(Json(added.Body).GetProperty("version").GetInt64(), Is.EqualTo(2));
        Assert.That(Json(added.Body).GetProperty("affected").GetInt32(), Is.EqualTo(1));
        Assert.That(host.Store.Current.Version, Is.EqualTo(2), "published before the answer");
        Assert.That(host.Store.Current.Config.LookupRecords.Select(r => r.CustomerAddress.ToString()), Does.Contain("10.1.1.9"));
        Assert.That(ControlApiHost.OuterDestination(host.SendFromRed("10.1.1.9")!), Is.EqualTo("192.168.1.12"), "the next frame goes to the new record's PA");

        // Set-NetVirtualizationLookupRecord -ProviderAddress: the VM moved to 192.168.1.11.
        var moved = host.Request(HttpMethod.Patch, "/v1/lookup-records", """{ "match": { "customerAddress": "10.1.1.9", "virtualSubnetId": 5001 }, "fields": { "providerAddress": "192.168.1.11" } }""");
        Assert.That(moved.Status, Is.EqualTo(HttpStatusCode.OK), moved.Body);
        Assert.That(ControlApiHost.OuterDestination(host.SendFromRed("10.1.1.9")!), Is.EqualTo("192.168.1.11"));

        var list = Json(host.Request(HttpMethod.Get, "/v1/lookup-records?customerAddress=10.1.1.9&virtualSubnetId=5001").Body);
        Assert.That(list.GetProperty("version").GetInt64(), Is.EqualTo(3));
        Assert.That(list.GetProperty("lookupRecords").EnumerateArray().Select(e => e.GetProperty("providerAddress").GetString()), Is.EqualTo(new[] { "192.168.1.11" }));

        var removed = host.Request(HttpMethod.Delete, "/v1/lookup-records?customerAddress=10.1.1.9");
        Assert.That(removed.Status, Is.EqualTo(HttpStatusCode.OK), removed.Body);
        Assert.That(host.SendFromRed("10.1.1.9"), Is.Null);
        Assert.That(host.Worker.Forwarder.Counters.Drop(DropReason.NoLookupRecord), Is.EqualTo(2));
    }

    [TestCase("/v1/lookup-records", "lookupRecords", Red9, """{ "customerAddress": "10.1.1.9", "virtualSubnetId": 5001 }""", """{ "vmName": "Red-9" }""", "vmName", "Red-9", "customerAddress=10.1.1.9")]
    [TestCase("/v1/customer-routes", "customerRoutes",
        """{ "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "10.2.0.0/16", "nextHop": "10.1.1.8" }""",
        """{ "destinationPrefix": "10.2.0.0/16" }""", """{ "metric": 10 }""", "metric", "10", "destinationPrefix=10.2.0.0%2F16")]
    [TestCase("/v1/provider-addresses", "providerAddresses", """{ "address": "192.168.1.20", "prefixLength": 24, "port": "pnic0" }""",
        """{ "address": "192.168.1.20" }""", """{ "vlanId": 7 }""", "vlanId", "7", "address=192.168.1.20")]
    [TestCase("/v1/provider-routes", "providerRoutes", """{ "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1", "metric": 5 }""",
        """{ "destinationPrefix": "0.0.0.0/0" }""", """{ "metric": 9 }""", "metric", "9", "nextHop=192.168.1.1")]
    public void Every_section_lists_adds_sets_and_removes(string path, string section, string entry, string match, string fields, string field, string value, string query)
    {
        using var host = new ControlApiHost();
        int before = Json(host.Request(HttpMethod.Get, path).Body).GetProperty(section).GetArrayLength();

        Assert.That(host.Request(HttpMethod.Post, path, entry).Status, Is.EqualTo(HttpStatusCode.OK));
        var all = Json(host.Request(HttpMethod.Get, path).Body).GetProperty(section);
        Assert.That(all.GetArrayLength(), Is.EqualTo(before + 1));
        Assert.That(host.Editor.Entries(Enum.Parse<PolicySection>(section, ignoreCase: true)), Has.Count.EqualTo(before + 1));

        var set = host.Request(HttpMethod.Patch, path, $$"""{ "match": {{match}}, "fields": {{fields}} }""");
        Assert.That(set.Status, Is.EqualTo(HttpStatusCode.OK), set.Body);
        var found = Json(host.Request(HttpMethod.Get, path + "?" + query).Body).GetProperty(section);
        Assert.That(found.GetArrayLength(), Is.EqualTo(1), "the filter selects the one entry");
        var got = found[0].GetProperty(field);
        Assert.That(got.ValueKind == JsonValueKind.String ? got.GetString() : got.GetRawText(), Is.EqualTo(value));

        Assert.That(host.Request(HttpMethod.Delete, path + "?" + query).Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Json(host.Request(HttpMethod.Get, path).Body).GetProperty(section).GetArrayLength(), Is.EqualTo(before));
        Assert.That(host.Store.Current.Version, Is.EqualTo(4), "add, set and remove: three versions");
    }

    [Test]
    public void A_batch_is_applied_as_one_version()
    {
        using var host = new ControlApiHost();
        var changes = Enumerable.Range(0, 1000).Select(i =>
            $$"""{ "op": "add", "section": "lookupRecords", "entry": { "customerAddress": "10.1.{{2 + (i / 250)}}.{{1 + (i % 250)}}", "virtualSubnetId": 5001, "macAddress": "00-15-5D-01-{{i / 256:X2}}-{{i % 256:X2}}", "providerAddress": "192.168.1.12" } }""")
            .Append("""{ "op": "set", "section": "lookupRecords", "match": { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }, "fields": { "providerAddress": "192.168.1.12" } }""")
            .Append("""{ "op": "add", "section": "providerRoutes", "entry": { "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1" } }""")
            .Append("""{ "op": "remove", "section": "lookupRecords", "match": { "customerAddress": "10.1.2.1" } }""");
        var reply = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",", changes) + "] }");

        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK), reply.Body);
        Assert.That(Json(reply.Body).GetProperty("version").GetInt64(), Is.EqualTo(2), "one version for the whole batch");
        Assert.That(Json(reply.Body).GetProperty("affected").GetInt32(), Is.EqualTo(1003));
        Assert.That(host.Store.Current.Config.LookupRecords, Has.Count.EqualTo(2 + 1000 - 1));
        Assert.That(host.Store.Current.Config.ProviderRoutes, Has.Count.EqualTo(1));
        Assert.That(ControlApiHost.OuterDestination(host.SendFromRed("10.1.1.8")!), Is.EqualTo("192.168.1.12"));
        Assert.That(ControlApiHost.OuterDestination(host.SendFromRed("10.1.5.250", "00-15-5D-01-03-E7")!), Is.EqualTo("192.168.1.12"));
    }

    [Test]
    public void A_batch_with_one_bad_change_is_refused_whole_with_every_problem_and_nothing_is_half_applied()
    {
        using var host = new ControlApiHost();
        const string body = """
            { "changes": [
              { "op": "add", "section": "lookupRecords", "entry": { "customerAddress": "10.1.1.9", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-09", "providerAddress": "192.168.1.12" } },
              { "op": "add", "section": "lookupRecords", "entry": { "customerAddress": "10.1.1.10", "virtualSubnetId": 42, "macAddress": "nope", "providerAddress": "192.168.1.12" } },
              { "op": "set", "section": "lookupRecords", "match": { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }, "fields": { "providerAddress": "192.168.1.12" } }
            ] }
            """;
        var reply = host.Request(HttpMethod.Post, "/v1/changes", body);

        AssertProblem(reply, HttpStatusCode.UnprocessableEntity, "2 problems; nothing was changed");
        var problems = Json(reply.Body).GetProperty("problems").EnumerateArray().Select(p => (p.GetProperty("path").GetString(), p.GetProperty("message").GetString())).ToList();
        Assert.That(problems, Has.Count.EqualTo(2));
        Assert.That(problems[0], Is.EqualTo(("$.lookupRecords[3].virtualSubnetId", "42 is reserved; use 4096..16777214")));
        Assert.That(problems[1].Item1, Is.EqualTo("$.lookupRecords[3].macAddress"));
        Assert.That(host.Store.Current.Version, Is.EqualTo(1), "no version published");
        Assert.That(host.Editor.Entries(PolicySection.LookupRecords), Has.Count.EqualTo(2), "the good add is not in either");
        Assert.That(ControlApiHost.OuterDestination(host.SendFromRed("10.1.1.8")!), Is.EqualTo("192.168.1.11"), "the set did not happen");
        Assert.That(host.SendFromRed("10.1.1.9"), Is.Null, "nor the first add");
    }

    [TestCase("""{ "changes": [ { "op": "add", "section": "lookupRecords", "entry": {} }, { "op": "frob", "section": "lookupRecords" } ] }""", "$.changes[1].op", "\"frob\" is not an operation; use add, set, remove or replace")]
    [TestCase("""{ "changes": [ { "op": "add", "section": "records", "entry": {} } ] }""", "$.changes[0].section", "lookupRecords, customerRoutes, providerAddresses, providerRoutes")]
    [TestCase("""{ "changes": [ { "op": "set", "section": "lookupRecords", "match": {} } ] }""", "$.changes[0].fields", "give an object with the fields to set")]
    [TestCase("""{ "changes": [ { "op": "add", "section": "lookupRecords", "entry": {}, "extra": 1 } ] }""", "$.changes[0].extra", "is not a field here")]
    [TestCase("""{ "changes": [] }""", "$.changes", "is empty")]
    [TestCase("""{ "change": [] }""", "$.change", "is not a field here; use changes")]
    [TestCase("""[ 1, 2 ]""", "$", "expected an object with a changes array, got array")]
    public void A_batch_of_the_wrong_shape_is_refused_with_the_json_path(string body, string path, string message)
    {
        using var host = new ControlApiHost();
        var reply = host.Request(HttpMethod.Post, "/v1/changes", body);
        AssertProblem(reply, HttpStatusCode.UnprocessableEntity, "nothing was changed");
        var problems = Json(reply.Body).GetProperty("problems").EnumerateArray().ToList();
        Assert.That(problems.Select(p => p.GetProperty("path").GetString()), Does.Contain(path));
        Assert.That(problems.Single(p => p.GetProperty("path").GetString() == path).GetProperty("message").GetString(), Does.Contain(message));
        Assert.That(host.Store.Current.Version, Is.EqualTo(1));
    }

    [Test]
    public void Bad_json_is_400_naming_the_line_and_byte()
    {
        using var host = new ControlApiHost();
        AssertProblem(host.Request(HttpMethod.Post, "/v1/changes", "{\n  \"changes\": [ }"), HttpStatusCode.BadRequest, "not valid JSON at line 2, byte 16");
        AssertProblem(host.Request(HttpMethod.Post, "/v1/lookup-records", ""), HttpStatusCode.BadRequest, "needs a JSON body");
        AssertProblem(host.Request(HttpMethod.Patch, "/v1/lookup-records", "{ \"match\": "), HttpStatusCode.BadRequest, "line 1");
    }

    [Test]
    public void Refused_single_changes_are_422_with_every_path()
    {
        using var host = new ControlApiHost();
        var bad = host.Request(HttpMethod.Post, "/v1/lookup-records", """{ "customerAddress": "10.1.1.9", "virtualSubnetId": 42, "macAddress": "nope", "providerAddress": "192.168.1.12" }""");
        AssertProblem(bad, HttpStatusCode.UnprocessableEntity, "2 problems");
        Assert.That(Json(bad.Body).GetProperty("problems")[1].GetProperty("message").GetString(), Does.StartWith("\"nope\" is not a MAC address"));
        Assert.That(bad.Body, Does.Not.Contain("\\u0022"), "quotes stay readable");
        var duplicate = host.Request(HttpMethod.Post, "/v1/lookup-records", """{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" }""");
        AssertProblem(duplicate, HttpStatusCode.UnprocessableEntity, "1 problem");
        Assert.That(Json(duplicate.Body).GetProperty("problems")[0].GetProperty("path").GetString(), Is.EqualTo("$.lookupRecords[1]"));
        AssertProblem(host.Request(HttpMethod.Delete, "/v1/lookup-records"), HttpStatusCode.UnprocessableEntity, "1 problem");
        AssertProblem(host.Request(HttpMethod.Delete, "/v1/lookup-records?customerAddress=10.9.9.9"), HttpStatusCode.UnprocessableEntity, "1 problem");
        AssertProblem(host.Request(HttpMethod.Patch, "/v1/lookup-records", """{ "match": { "customerAddress": "10.1.1.8" } }"""), HttpStatusCode.UnprocessableEntity, "1 problem");
        AssertProblem(host.Request(HttpMethod.Get, "/v1/lookup-records?colour=red"), HttpStatusCode.UnprocessableEntity, "the filter names a field");
        foreach (string filter in new[] { "virtualSubnetId=abc", "virtualSubnetId=99999999999999999999", "customerAddress=10.1.1", "macAddress=zz", "rule=bogus", "rule=", "type=Statik" })
        {
            // These matched nothing and answered 200 with an empty list, as if no entry had them.
            var reply = host.Request(HttpMethod.Get, "/v1/lookup-records?" + filter);
            AssertProblem(reply, HttpStatusCode.UnprocessableEntity, "or a value none of them can have");
            Assert.That(Json(reply.Body).GetProperty("problems")[0].GetProperty("path").GetString(), Is.EqualTo("$." + filter.Split('=')[0]), filter);
        }

        foreach (string filter in new[] { "rule=Encap", "rule=translationmethodencap", "type=Static" })
        {
            var reply = host.Request(HttpMethod.Get, "/v1/lookup-records?" + filter);
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK), filter);
            Assert.That(Json(reply.Body).GetProperty("lookupRecords").GetArrayLength(), Is.EqualTo(2), filter);
        }

        AssertProblem(host.Request(HttpMethod.Get, "/v1/lookup-records?customerAddress=1&customerAddress=2"), HttpStatusCode.UnprocessableEntity, "");
        Assert.That(host.Store.Current.Version, Is.EqualTo(1), "nothing was applied");
    }

    [Test]
    public void Unknown_paths_are_404_and_wrong_methods_405_with_allow()
    {
        using var host = new ControlApiHost();
        AssertProblem(host.Request(HttpMethod.Get, "/v1/records"), HttpStatusCode.NotFound, "there is no /v1/records; the API has /v1/lookup-records");
        var wrong = host.Request(HttpMethod.Put, "/v1/lookup-records", "{}");
        AssertProblem(wrong, HttpStatusCode.MethodNotAllowed, "PUT is not allowed on /v1/lookup-records");
        Assert.That(wrong.Response.Content.Headers.Allow, Is.EquivalentTo(new[] { "GET", "POST", "PATCH", "DELETE" }));
        AssertProblem(host.Request(HttpMethod.Get, "/v1/changes"), HttpStatusCode.MethodNotAllowed, "use POST");
        AssertProblem(host.Request(HttpMethod.Delete, "/metrics"), HttpStatusCode.MethodNotAllowed, "use GET");

        // Routing ignores case; so does the answer for a wrong method.
        AssertProblem(host.Request(HttpMethod.Delete, "/V1/STATS"), HttpStatusCode.MethodNotAllowed, "DELETE is not allowed on /V1/STATS; use GET");
    }

    [Test]
    public void A_body_over_the_limit_is_413_and_nothing_is_changed()
    {
        using var host = new ControlApiHost(maxRequestBytes: 1024);
        var changes = string.Join(",", Enumerable.Range(0, 20).Select(_ => "{ \"op\": \"remove\", \"section\": \"lookupRecords\", \"match\": { \"customerAddress\": \"10.1.1.8\" } }"));
        AssertProblem(host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + changes + "] }"), HttpStatusCode.RequestEntityTooLarge, "larger than 1024 bytes");
        Assert.That(host.Store.Current.Version, Is.EqualTo(1));
        Assert.That(host.Request(HttpMethod.Post, "/v1/lookup-records", Red9).Status, Is.EqualTo(HttpStatusCode.OK), "a small request still goes through");
    }

    [Test]
    public void The_unix_socket_is_mode_0660_and_goes_away_with_the_server()
    {
        Assume.That(OperatingSystem.IsLinux(), "Unix file modes");
        string path;
        using (var host = new ControlApiHost())
        {
            path = host.SocketPath;
            Assert.That(OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));
            Assert.That(host.Log.ToString(), Does.Contain($"control_listening: control API on unix:{path} (mode 0660), no token"));
            Assert.That(host.Log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1), "one line for the started server, nothing per request");
        }

        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void A_socket_another_server_answers_on_is_refused_and_a_stale_one_is_taken_over()
    {
        using var first = new ControlApiHost();
        var endpoint = ControlEndpoint.TryParse("unix:" + first.SocketPath, out var e, out _) ? e : null;
        var ex = Assert.ThrowsAsync<IOException>(() => ControlServer.StartAsync(new ControlConfig(endpoint!, null, 4096), null, first.Editor, first.Stats, new EventLog(TextWriter.Null, false)));
        Assert.That(ex!.Message, Does.Contain("another process (a running nvdp?) serves " + first.SocketPath));
        Assert.That(first.Request(HttpMethod.Get, "/v1/stats").Status, Is.EqualTo(HttpStatusCode.OK), "the first server keeps its socket");

        using var temp = new TempDir();
        string stale = Path.Combine(temp.Path, "stale.sock");
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(stale)); // bound, never listening: what a killed daemon leaves
        }

        Assert.That(ControlEndpoint.TryParse("unix:" + stale, out var staleEndpoint, out _), Is.True);
        using var second = ControlServer.StartAsync(new ControlConfig(staleEndpoint, null, 4096), null, first.Editor, first.Stats, new EventLog(TextWriter.Null, false)).GetAwaiter().GetResult();
        var (client, _) = ControlClient.Create("unix:" + stale, null);
        using (client)
        {
            Assert.That(client!.Send(HttpMethod.Get, "/v1/stats", null, out _)?.Status, Is.EqualTo(200));
        }
    }

    [Test]
    public void A_string_of_bytes_that_are_not_utf8_is_named_so()
    {
        // The body is parsed as sent: 0xFF in vmName was reported as a \u escape of half a surrogate pair.
        using var host = new ControlApiHost();
        byte[] body = System.Text.Encoding.UTF8.GetBytes(Red9.Replace("}", ", \"vmName\": \"ab@\" }", StringComparison.Ordinal));
        body[Array.IndexOf(body, (byte)'@')] = 0xFF;
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = host.Client.Http.Send(new HttpRequestMessage(HttpMethod.Post, "/v1/lookup-records") { Content = content });
        string text = new StreamReader(response.Content.ReadAsStream()).ReadToEnd();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.UnprocessableEntity), text);
        Assert.That(Json(text).GetProperty("problems")[0].GetProperty("message").GetString(), Does.Contain("not UTF-8"));
        Assert.That(host.Store.Current.Version, Is.EqualTo(1));
    }

    [Test]
    public void What_a_web_browser_could_send_to_a_loopback_listener_is_refused()
    {
        // A page a browser on the host opens may POST a form or text/plain without a preflight,
        // and through DNS rebinding reach 127.0.0.1 under its own name: none of it may change policy.
        using var host = new ControlApiHost("tcp:127.0.0.1:0");
        var plain = host.Request(HttpMethod.Post, "/v1/lookup-records", Red9, contentType: "text/plain");
        AssertProblem(plain, HttpStatusCode.UnsupportedMediaType, "send it as Content-Type: application/json");
        var form = host.Request(HttpMethod.Post, "/v1/lookup-records", Red9, contentType: "application/x-www-form-urlencoded");
        Assert.That(form.Status, Is.EqualTo(HttpStatusCode.UnsupportedMediaType));

        var fromPage = new HttpRequestMessage(HttpMethod.Post, "/v1/lookup-records") { Content = new StringContent(Red9, System.Text.Encoding.UTF8, "application/json") };
        fromPage.Headers.Add("Origin", "http://evil.example");
        var refused = host.Client.Http.Send(fromPage);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));

        var rebound = new HttpRequestMessage(HttpMethod.Get, "/v1/lookup-records");
        rebound.Headers.Host = "evil.example:9900";
        Assert.That(host.Client.Http.Send(rebound).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "a Host that is a name");
        var local = new HttpRequestMessage(HttpMethod.Get, "/v1/lookup-records");
        local.Headers.Host = "localhost:9900";
        Assert.That(host.Client.Http.Send(local).StatusCode, Is.EqualTo(HttpStatusCode.OK), "localhost is fine");

        Assert.That(host.Store.Current.Version, Is.EqualTo(1), "nothing was applied");
        Assert.That(host.Request(HttpMethod.Post, "/v1/lookup-records", Red9).Status, Is.EqualTo(HttpStatusCode.OK), "the CLI's own request");
    }

    [Test]
    public void On_tcp_with_a_token_requests_without_or_with_a_wrong_token_are_401()
    {
        using var host = new ControlApiHost("tcp:127.0.0.1:0", token: "s3cret");
        Assert.That(host.Endpoint, Does.Match(@"^tcp:127\.0\.0\.1:[1-9][0-9]*$"), "the port bound is the one reported");
        Assert.That(host.Request(HttpMethod.Get, "/v1/lookup-records").Status, Is.EqualTo(HttpStatusCode.OK), "the right token");

        foreach (string? token in new[] { null, "wrong" })
        {
            var (client, _) = ControlClient.Create(host.Endpoint, token);
            using (client)
            {
                var response = client!.Http.Send(new HttpRequestMessage(HttpMethod.Post, "/v1/lookup-records") { Content = new StringContent(Red9) });
                string body = new StreamReader(response.Content.ReadAsStream()).ReadToEnd();
                AssertProblem((response.StatusCode, body, response), HttpStatusCode.Unauthorized, token is null ? "needs a bearer token" : "not this daemon's");
                Assert.That(response.Headers.WwwAuthenticate.ToString(), Does.StartWith("Bearer"));
            }
        }

        Assert.That(host.Store.Current.Version, Is.EqualTo(1), "nothing unauthorised was applied");
        Assert.That(host.Log.ToString(), Does.Contain("bearer token required"));
    }

    [Test]
    public void Stats_count_ports_subnets_drops_and_workers_and_clear_starts_them_from_zero_while_metrics_keep_totals()
    {
        using var host = new ControlApiHost();
        host.SendFromRed("10.1.1.8");
        host.SendFromRed("10.1.1.8");
        host.SendFromRed("10.1.1.99");
        host.Vm.ReceiveTruncated = 2;
        host.Provider.TransmitDropped = 1;
        var stats = Json(host.Request(HttpMethod.Get, "/v1/stats").Body);
        Assert.That(stats.GetProperty("host").GetString(), Is.EqualTo("hv1"));
        Assert.That(stats.GetProperty("totals").GetProperty("rx").GetInt64(), Is.EqualTo(3));
        Assert.That(stats.GetProperty("totals").GetProperty("forwarded").GetInt64(), Is.EqualTo(2));
        Assert.That(stats.GetProperty("totals").GetProperty("dropped").GetInt64(), Is.EqualTo(1));
        var ports = stats.GetProperty("ports").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.That(ports["red1"].GetProperty("rx").GetInt64(), Is.EqualTo(3));
        Assert.That(ports["red1"].GetProperty("virtualSubnetId").GetInt64(), Is.EqualTo(5001));
        Assert.That(ports["pnic0"].GetProperty("tx").GetInt64(), Is.EqualTo(2));
        Assert.That(ports["pnic0"].GetProperty("txRefused").GetInt64(), Is.Zero);
        Assert.That((ports["red1"].GetProperty("rxTooLarge").GetInt64(), ports["red1"].GetProperty("txDropped").GetInt64()), Is.EqualTo((2L, 0L)));
        Assert.That((ports["pnic0"].GetProperty("rxTooLarge").GetInt64(), ports["pnic0"].GetProperty("txDropped").GetInt64()), Is.EqualTo((0L, 1L)));
        var subnet = stats.GetProperty("virtualSubnets")[0];
        Assert.That((subnet.GetProperty("virtualSubnetId").GetInt64(), subnet.GetProperty("rx").GetInt64(), subnet.GetProperty("ports")[0].GetString()), Is.EqualTo((5001L, 3L, "red1")));
        Assert.That(stats.GetProperty("drops").GetProperty("no_lookup_record").GetInt64(), Is.EqualTo(1));
        var worker = stats.GetProperty("workers")[0];
        Assert.That(worker.GetProperty("packets").GetInt64(), Is.EqualTo(3));
        Assert.That(worker.GetProperty("batches").GetInt64(), Is.EqualTo(3));
        Assert.That(worker.GetProperty("batchFill").GetDouble(), Is.EqualTo(Math.Round(1.0 / 32, 4)), "one frame per receive of 32");
        Assert.That(worker.GetProperty("nsPerPacket").GetProperty("forward").GetDouble(), Is.Positive);
        Assert.That(worker.GetProperty("cyclesPerPacket").GetProperty("forward").GetDouble(),
            Is.EqualTo(worker.GetProperty("nsPerPacket").GetProperty("forward").GetDouble() * 2).Within(0.2), "cycles = ns x 2 GHz (the test's clock)");
        Assert.That(stats.GetProperty("cpu").GetProperty("mhz").GetDouble(), Is.EqualTo(2000));

        var cleared = host.Request(HttpMethod.Post, "/v1/stats/clear");
        Assert.That(cleared.Status, Is.EqualTo(HttpStatusCode.OK));
        host.SendFromRed("10.1.1.8");
        host.Vm.ReceiveTruncated = 5;
        var after = Json(host.Request(HttpMethod.Get, "/v1/stats").Body);
        Assert.That(after.GetProperty("totals").GetProperty("rx").GetInt64(), Is.EqualTo(1), "counted since the clear");
        var portsAfter = after.GetProperty("ports").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.That(portsAfter["red1"].GetProperty("rxTooLarge").GetInt64(), Is.EqualTo(3), "device counts since the clear too");
        Assert.That(portsAfter["pnic0"].GetProperty("txDropped").GetInt64(), Is.Zero);
        Assert.That(after.GetProperty("drops").EnumerateObject(), Is.Empty);
        Assert.That(after.GetProperty("workers")[0].GetProperty("packets").GetInt64(), Is.EqualTo(1));
        Assert.That(after.GetProperty("since").GetString(), Is.EqualTo(Json(cleared.Body).GetProperty("since").GetString()));
        Assert.That(host.Request(HttpMethod.Get, "/metrics").Body, Does.Contain("nvdp_port_rx_packets_total{port=\"red1\"} 4\n")
            .And.Contain("nvdp_port_rx_too_large_total{port=\"red1\"} 5\n").And.Contain("nvdp_port_tx_dropped_total{port=\"pnic0\"} 1\n"), "Prometheus counters never go back");
    }
}
