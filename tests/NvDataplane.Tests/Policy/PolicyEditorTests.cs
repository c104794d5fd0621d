using System.Text.Json;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

public class PolicyEditorTests
{
    private PolicyStore _store = null!;
    private PolicyEditor _editor = null!;

    [SetUp]
    public void SetUp()
    {
        _store = new PolicyStore(PolicySnapshot.Build(ConfigLoader.Load(ConfigLoaderTests.SpecExample).Config!));
        _editor = PolicyEditor.FromText(_store, ConfigLoaderTests.SpecExample);
    }

    [TearDown]
    public void TearDown() => _editor.Dispose();

    private static JsonElement Json(string text)
    {
        using var d = JsonDocument.Parse(text);
        return d.RootElement.Clone();
    }

    private static PolicyChange.Add AddRecord(string ca, string pa, uint vsid = 5001, string mac = "00-15-5D-00-00-09") =>
        new PolicyChange.Add(PolicySection.LookupRecords, Json($$"""{ "customerAddress": "{{ca}}", "virtualSubnetId": {{vsid}}, "macAddress": "{{mac}}", "providerAddress": "{{pa}}" }"""));

    private LookupRecordConfig? Record(string ca, uint vsid = 5001) =>
        _store.Current.Config.LookupRecords.SingleOrDefault(r => r.VirtualSubnetId == vsid && r.CustomerAddress == IpAddr.Parse(ca));

    [Test]
    public void Add_publishes_a_new_version_whose_tables_hold_the_record()
    {
        long before = _store.Current.Version;

        var result = _editor.Apply(AddRecord("10.1.1.9", "192.168.1.12"));

        Assert.That(result.Applied, Is.True, string.Join("; ", result.Problems));
        Assert.That(result.Version, Is.EqualTo(before + 1));
        Assert.That(_store.Current.Version, Is.EqualTo(result.Version), "the version is published before the call returns");
        Assert.That(_store.Current.RecordIndex.Find(5001, IpAddr.Parse("10.1.1.9")), Is.GreaterThanOrEqualTo(0));
        Assert.That(_editor.Entries(PolicySection.LookupRecords), Has.Count.EqualTo(3));
    }

    [Test]
    public void A_record_that_fails_validation_is_refused_with_its_json_path_and_nothing_changes()
    {
        long before = _store.Current.Version;

        var result = _editor.Apply(AddRecord("10.1.1.9", "192.168.1.12", vsid: 42));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Select(p => p.ToString()), Has.Some.StartsWith("$.lookupRecords[2].virtualSubnetId: 42"));
        Assert.That(_store.Current.Version, Is.EqualTo(before));
        Assert.That(_editor.Entries(PolicySection.LookupRecords), Has.Count.EqualTo(2));
    }

    [Test]
    public void Adding_an_existing_key_is_refused_naming_the_entry_it_collides_with()
    {
        var result = _editor.Apply(AddRecord("10.1.1.7", "192.168.1.12"));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Single().ToString(), Does.StartWith("$.lookupRecords[0]: ").And.Contain("already exists"));
    }

    [Test]
    public void Set_finds_the_record_by_its_key_however_the_values_are_spelled_and_changes_only_the_given_fields()
    {
        var result = _editor.Apply(new PolicyChange.Set(
            PolicySection.LookupRecords,
            Json("""{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "rule": "Encap", "macAddress": "00:15:5d:00:00:02" }"""),
            Json("""{ "providerAddress": "192.168.1.13" }""")));

        Assert.That(result.Applied, Is.True, string.Join("; ", result.Problems));
        Assert.That(result.Affected, Is.EqualTo(1));
        var r = Record("10.1.1.8")!;
        Assert.That(r.ProviderAddress, Is.EqualTo(IpAddr.Parse("192.168.1.13")));
        Assert.That(r.MacAddress, Is.EqualTo(MacAddress.Parse("00-15-5D-00-00-02")));
        Assert.That(Record("10.1.1.7")!.ProviderAddress, Is.EqualTo(IpAddr.Parse("192.168.1.10")));
    }

    [Test]
    public void Set_of_a_vm_name_with_a_control_character_is_refused_as_the_file_would_be()
    {
        // The typed set's fast path took any string for vmName.
        long before = _store.Current.Version;
        var result = _editor.Apply(new PolicyChange.Set(
            PolicySection.LookupRecords,
            Json("""{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }"""),
            Json("""{ "vmName": "Red-2\u001b[2J" }""")));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[] { "$.lookupRecords[1].vmName: contains the control character U+001B; use printable characters" }));
        Assert.That(_store.Current.Version, Is.EqualTo(before));
    }

    [Test]
    public void Set_or_remove_that_matches_nothing_is_refused()
    {
        var set = _editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json("""{ "customerAddress": "10.9.9.9", "virtualSubnetId": 5001 }"""), Json("""{ "providerAddress": "192.168.1.13" }""")));
        var remove = _editor.Apply(new PolicyChange.Remove(PolicySection.LookupRecords, Json("""{ "providerAddress": "192.168.9.9" }""")));

        Assert.That(set.Applied, Is.False);
        Assert.That(set.Problems.Single().Message, Does.StartWith("no lookup record matches"));
        Assert.That(remove.Applied, Is.False);
        Assert.That(remove.Problems.Single().Message, Does.StartWith("no lookup record matches"));
    }

    [Test]
    public void Remove_takes_every_matching_entry_and_refuses_an_empty_or_unknown_match()
    {
        _editor.Apply(AddRecord("10.1.1.9", "192.168.1.11"));

        var empty = _editor.Apply(new PolicyChange.Remove(PolicySection.LookupRecords, Json("{}")));
        var unknown = _editor.Apply(new PolicyChange.Remove(PolicySection.LookupRecords, Json("""{ "provider": "192.168.1.11" }""")));
        var byHost = _editor.Apply(new PolicyChange.Remove(PolicySection.LookupRecords, Json("""{ "providerAddress": "192.168.1.11" }""")));

        Assert.That(empty.Applied, Is.False);
        Assert.That(unknown.Applied, Is.False);
        Assert.That(unknown.Problems.Single().Message, Does.Contain("no field provider"));
        Assert.That(byHost.Applied, Is.True, string.Join("; ", byHost.Problems));
        Assert.That(byHost.Affected, Is.EqualTo(2));
        Assert.That(_store.Current.Config.LookupRecords.Select(r => r.CustomerAddress.ToString()), Is.EqualTo(new[] { "10.1.1.7" }));
    }

    [Test]
    public void The_changes_of_one_request_apply_together_or_not_at_all()
    {
        long before = _store.Current.Version;

        var result = _editor.Apply(
            AddRecord("10.1.1.9", "192.168.1.12"),
            new PolicyChange.Set(PolicySection.LookupRecords, Json("""{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }"""), Json("""{ "macAddress": "01-00-5E-00-00-01" }""")));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Select(p => p.Path), Has.Some.EqualTo("$.lookupRecords[1].macAddress"));
        Assert.That(_store.Current.Version, Is.EqualTo(before));
        Assert.That(Record("10.1.1.9"), Is.Null, "the valid half of the request was not applied");
    }

    [Test]
    public void Concurrent_requests_share_versions_and_a_bad_one_does_not_take_the_others_down()
    {
        long before = _store.Current.Version;
        var tasks = Enumerable.Range(0, 200)
            .Select(i => Task.Run(() => _editor.ApplyAsync([i % 50 == 7
                ? AddRecord($"10.2.{i / 256}.{i % 256}", "192.168.1.12", vsid: 1)
                : AddRecord($"10.2.{i / 256}.{i % 256}", "192.168.1.12")])))
            .ToArray();
        var results = Task.WhenAll(tasks).GetAwaiter().GetResult();

        var refused = results.Select((r, i) => (r, i)).Where(x => !x.r.Applied).Select(x => x.i).ToList();
        Assert.That(refused, Is.EqualTo(new[] { 7, 57, 107, 157 }));
        Assert.That(_store.Current.Config.LookupRecords, Has.Count.EqualTo(2 + 196));
        Assert.That(_store.Current.Version - before, Is.EqualTo(_editor.Commits).And.LessThanOrEqualTo(196));
        Assert.That(_editor.ChangesApplied, Is.EqualTo(196));
    }

    [Test]
    public void Strings_dotnet_cannot_read_are_refused_with_a_clear_problem_and_the_rest_of_the_group_applies()
    {
        // JSON allows an escape of half a UTF-16 surrogate pair; reading it as a string throws.
        const string Half = "\\uD800";
        using var editor = new PolicyEditor(_store, JsonDocument.Parse(ConfigLoaderTests.SpecExample).RootElement, PolicyEditor.MaxQueuedRequests, start: false);
        var key = Json("""{ "virtualSubnetId": 5001, "customerAddress": "10.1.1.7" }""");
        var requests = new PolicyChange[][]
        {
            [new PolicyChange.Set(PolicySection.LookupRecords, key, Json("""{ "vmName": "fine" }"""))],
            [new PolicyChange.Set(PolicySection.LookupRecords, key, Json($$"""{ "vmName": "a{{Half}}b" }"""))],
            [new PolicyChange.Remove(PolicySection.LookupRecords, Json($$"""{ "customerAddress": "10.1.1.{{Half}}" }"""))],
            [AddRecord("10.1.1.9", "192.168.1.12"), new PolicyChange.Add(PolicySection.ProviderRoutes, Json($$"""{ "destinationPrefix": "{{Half}}" }"""))],
            [AddRecord("10.1.1.10", "192.168.1.12")],
        };
        var results = requests.Select(r => editor.ApplyAsync(r)).ToArray();
        editor.Start();
        var done = results.Select(t => t.GetAwaiter().GetResult()).ToArray();

        Assert.That(done.Select(r => r.Applied), Is.EqualTo(new[] { true, false, false, false, true }));
        Assert.That(done[1].Problems.Single().ToString(), Is.EqualTo("$: in the fields to set at $.vmName, the string contains a \\u escape of half a UTF-16 surrogate pair; write the character itself or a complete pair"));
        Assert.That(done[2].Problems.Single().Message, Does.StartWith("in the match at $.customerAddress, the string contains"));
        Assert.That(done[3].Problems.Single().Message, Does.StartWith("change 2: in the entry at $.destinationPrefix, the string contains"));
        Assert.That(_store.Current.Config.LookupRecords.Select(r => r.VmName), Has.One.EqualTo("fine"));
        Assert.That(_store.Current.Config.LookupRecords, Has.Count.EqualTo(3), "10.1.1.10 added, 10.1.1.9 not");

        var query = editor.Find(PolicySection.LookupRecords, Json($$"""{ "vmName": "{{Half}}" }"""));
        Assert.That(query.Entries, Is.Empty);
        Assert.That(query.Problems.Single().Message, Does.Contain("half a UTF-16 surrogate pair"));

        var reload = editor.Reload(ConfigLoaderTests.SpecExample.Replace("\"10.1.1.7\"", $"\"10.1.1.{Half}\"", StringComparison.Ordinal));
        Assert.That(reload.Applied, Is.False);
        Assert.That(reload.Problems.Select(p => p.Path), Has.Some.Matches<string>(p => p.StartsWith("$.lookupRecords[", StringComparison.Ordinal)));
    }

    [Test]
    public void A_request_that_stages_only_on_top_of_a_refused_one_is_refused_not_answered_applied()
    {
        // A removes 10.1.1.8 and adds a record with a MAC that is none; B, queued behind it,
        // adds 10.1.1.8 again, which stages only because A removed it. A is refused, so B must
        // be too ("already exists"): it was answered applied, with nothing changed.
        using var editor = new PolicyEditor(_store, JsonDocument.Parse(ConfigLoaderTests.SpecExample).RootElement, PolicyEditor.MaxQueuedRequests, start: false);
        var key = Json("""{ "virtualSubnetId": 5001, "customerAddress": "10.1.1.8" }""");
        var a = editor.ApplyAsync([
            new PolicyChange.Remove(PolicySection.LookupRecords, key),
            new PolicyChange.Add(PolicySection.LookupRecords, Json("""{ "customerAddress": "10.1.1.60", "virtualSubnetId": 5001, "macAddress": "nope", "providerAddress": "192.168.1.11" }""")),
        ]);
        var b = editor.ApplyAsync([new PolicyChange.Add(PolicySection.LookupRecords, Json("""{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.99" }"""))]);
        editor.Start();

        Assert.That(a.GetAwaiter().GetResult().Applied, Is.False);
        var resultB = b.GetAwaiter().GetResult();
        Assert.That(resultB.Applied, Is.False, "answered applied for a change that was not made");
        Assert.That(resultB.Problems.Single().Message, Does.Contain("already"));
        var record = _store.Current.Config.LookupRecords.Single(r => r.CustomerAddress == IpAddr.Parse("10.1.1.8"));
        Assert.That(record.ProviderAddress, Is.Not.EqualTo(IpAddr.Parse("192.168.1.99")));
    }

    [Test]
    public void One_bad_request_in_a_burst_costs_a_few_validations_not_one_per_request()
    {
        // Route adds take the whole-document way. Taken apart one request at a time, a group of
        // 64 good and one bad request cost 66 validations of the whole policy (38 s with 100,000
        // records for 40 requests); halving finds the bad one in a few.
        using var editor = new PolicyEditor(_store, JsonDocument.Parse(ConfigLoaderTests.SpecExample).RootElement, PolicyEditor.MaxQueuedRequests, start: false);
        var results = new List<Task<PolicyChangeResult>>();
        for (int i = 0; i < 65; i++)
        {
            string prefix = i == 40 ? "10.1.300.0/24" : $"10.{2 + i}.0.0/16";
            results.Add(editor.ApplyAsync([new PolicyChange.Add(PolicySection.CustomerRoutes, Json($$"""{ "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "{{prefix}}", "nextHop": "10.1.1.7" }"""))]));
        }

        editor.Start();
        var done = results.Select(t => t.GetAwaiter().GetResult()).ToList();
        Assert.That(done.Select((r, i) => (r.Applied, i)).Where(x => !x.Applied).Select(x => x.i), Is.EqualTo(new[] { 40 }), "only the bad one refused");
        Assert.That(_store.Current.Config.CustomerRoutes, Has.Count.EqualTo(1 + 64));
        Assert.That(editor.Validations, Is.LessThanOrEqualTo(16), "the group, then halves down to the bad request");
    }

    [Test]
    public void Set_that_would_give_two_records_one_key_is_refused()
    {
        var result = _editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json("""{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }"""), Json("""{ "customerAddress": "10.1.1.7" }""")));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Single().Message, Does.Contain("same lookup record as $.lookupRecords[0]"));
    }

    [Test]
    public void Routes_and_provider_addresses_change_like_records_and_are_validated_against_the_ports()
    {
        var route = _editor.Apply(new PolicyChange.Add(PolicySection.CustomerRoutes, Json("""{ "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5002, "destinationPrefix": "10.1.2.0/24", "nextHop": "0.0.0.0" }""")));
        var pa = _editor.Apply(new PolicyChange.Add(PolicySection.ProviderAddresses, Json("""{ "address": "192.168.1.20", "prefixLength": 24, "port": "nosuch" }""")));
        var providerRoute = _editor.Apply(new PolicyChange.Set(PolicySection.ProviderRoutes, Json("""{ "destinationPrefix": "0.0.0.0/0", "nextHop": "192.168.1.1" }"""), Json("""{ "metric": 7 }""")));

        Assert.That(route.Applied, Is.True, string.Join("; ", route.Problems));
        Assert.That(_store.Current.Config.CustomerRoutes, Has.Count.EqualTo(2));
        Assert.That(pa.Applied, Is.False);
        Assert.That(pa.Problems.Single().Path, Is.EqualTo("$.providerAddresses[1].port"));
        Assert.That(providerRoute.Applied, Is.True, string.Join("; ", providerRoute.Problems));
        Assert.That(_store.Current.Config.ProviderRoutes.Single().Metric, Is.EqualTo(7u));
    }

    [Test]
    public void Replace_swaps_a_whole_section_and_keeps_the_rest_of_the_document()
    {
        var result = _editor.Apply(new PolicyChange.Replace(PolicySection.LookupRecords, [
            Json("""{ "customerAddress": "10.1.1.7", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-01", "providerAddress": "192.168.1.10" }"""),
            Json("""{ "customerAddress": "10.1.1.20", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-20", "providerAddress": "192.168.1.11" }"""),
        ]));

        Assert.That(result.Applied, Is.True, string.Join("; ", result.Problems));
        Assert.That(_store.Current.Config.LookupRecords.Select(r => r.CustomerAddress.ToString()), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.20" }));
        Assert.That(_store.Current.Config.CustomerRoutes, Has.Count.EqualTo(1));
        Assert.That(_store.Current.Config.HostName, Is.EqualTo("hv1"));
    }

    [Test]
    public void Reload_takes_a_valid_document_and_refuses_one_that_changes_the_ports_or_is_not_json()
    {
        string morePorts = ConfigLoaderTests.SpecExample.Replace(
            """{ "name": "blue1",""", """{ "name": "red2", "role": "vm", "device": "tap:red2", "macAddress": "00-15-5D-00-00-05", "virtualSubnetId": 5001 }, { "name": "blue1",""", StringComparison.Ordinal);
        string moved = ConfigLoaderTests.SpecExample.Replace("192.168.1.11\", \"rule\"", "192.168.1.12\", \"rule\"", StringComparison.Ordinal);

        var ports = _editor.Reload(morePorts);
        var garbage = _editor.Reload("{ not json");
        var good = _editor.Reload(moved);

        Assert.That(ports.Applied, Is.False);
        Assert.That(ports.Problems.Single().Message, Does.Contain("restart nvdp to change ports"));
        Assert.That(garbage.Applied, Is.False);
        Assert.That(garbage.Problems.Single().Message, Does.StartWith("not valid JSON at line 1"));
        Assert.That(good.Applied, Is.True, string.Join("; ", good.Problems));
        Assert.That(Record("10.1.1.8")!.ProviderAddress, Is.EqualTo(IpAddr.Parse("192.168.1.12")));
    }

    [Test]
    public void After_a_reload_the_editor_edits_the_new_document()
    {
        string moved = ConfigLoaderTests.SpecExample.Replace("192.168.1.11\", \"rule\"", "192.168.1.12\", \"rule\"", StringComparison.Ordinal);
        _editor.Reload(moved);

        var result = _editor.Apply(new PolicyChange.Remove(PolicySection.LookupRecords, Json("""{ "providerAddress": "192.168.1.12" }""")));

        Assert.That(result.Applied, Is.True, string.Join("; ", result.Problems));
        Assert.That(_store.Current.Config.LookupRecords, Has.Count.EqualTo(1));
    }

    [Test]
    public void A_flood_of_requests_beyond_the_queue_is_refused_as_busy_and_the_queued_ones_still_apply()
    {
        using var document = JsonDocument.Parse(ConfigLoaderTests.SpecExample);
        using var editor = new PolicyEditor(_store, document.RootElement, maxQueued: 3, start: false);

        var tasks = Enumerable.Range(0, 5).Select(i => editor.ApplyAsync([AddRecord($"10.1.1.{20 + i}", "192.168.1.12")])).ToArray();
        Assert.That(tasks.Take(3).Select(t => t.IsCompleted), Is.All.False, "three wait for the committer");
        editor.Start();
        var results = Task.WhenAll(tasks).GetAwaiter().GetResult();

        Assert.That(results.Select(r => (r.Applied, r.Busy)), Is.EqualTo(new[] { (true, false), (true, false), (true, false), (false, true), (false, true) }));
        Assert.That(results[4].Problems.Single().Message, Does.Contain("retry later"));
        Assert.That(editor.BusyRefusals, Is.EqualTo(2));
        Assert.That(_store.Current.Config.LookupRecords, Has.Count.EqualTo(5));
    }

    [Test]
    public void The_running_document_is_the_file_with_the_changes_and_loads_to_the_running_policy()
    {
        _editor.Apply(AddRecord("10.1.1.9", "192.168.1.12"));
        _editor.Apply(new PolicyChange.Remove(PolicySection.CustomerRoutes, Json("""{ "virtualSubnetId": 5001 }""")));

        var reloaded = ConfigLoader.Load(_editor.RunningDocument());

        Assert.That(reloaded.Problems, Is.Empty);
        Assert.That(reloaded.Config!.LookupRecords, Is.EqualTo(_store.Current.Config.LookupRecords));
        Assert.That(reloaded.Config.CustomerRoutes, Is.Empty);
        Assert.That(reloaded.Config.ProviderNeighbors, Is.EqualTo(_store.Current.Config.ProviderNeighbors));
    }

    [Test]
    public void A_second_gateway_wildcard_of_a_routing_domain_is_refused_when_added_through_the_editor()
    {
        // A lookup-record edit may be validated record by record (LookupRecordShadow.cs); a
        // GatewayWildcard record reaches beyond its section, and the one-gateway rule must hold.
        string json = ConfigLoaderTests.ExternalGatewayWith();
        var store = new PolicyStore(PolicySnapshot.Build(ConfigLoader.Load(json).Config!));
        using var editor = PolicyEditor.FromText(store, json);
        long before = store.Current.Version;

        var result = editor.Apply(new PolicyChange.Add(PolicySection.LookupRecords, Json("""
            { "customerAddress": "0.0.0.0", "virtualSubnetId": 5001, "macAddress": "02-00-00-00-EE-02", "providerAddress": "192.168.1.10", "type": "GatewayWildcard" }
            """)));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            "$.lookupRecords[10].type: a second IPv4 GatewayWildcard record of routing domain {11111111-2222-3333-4444-000000000000}: $.lookupRecords[5] (virtual subnet 5099) is already its gateway, here in virtual subnet 5001; one gateway per routing domain and address family: remove one, or route through the other's gateway CA",
        }));
        Assert.That(store.Current.Version, Is.EqualTo(before));
        Assert.That(store.Current.Config.LookupRecords.Count(r => r.Type == RecordType.GatewayWildcard), Is.EqualTo(2));

        // A Static record made a wildcard by a set is refused alike.
        var retyped = editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json("""{ "virtualSubnetId": 6001, "customerAddress": "10.1.1.7" }"""), Json("""{ "customerAddress": "0.0.0.0", "type": "GatewayWildcard" }""")));
        Assert.That(retyped.Applied, Is.True, "Blue may have a gateway of its own: " + string.Join("; ", retyped.Problems));
        var second = editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json("""{ "virtualSubnetId": 5001, "customerAddress": "10.1.1.8" }"""), Json("""{ "customerAddress": "0.0.0.0", "type": "GatewayWildcard" }""")));
        Assert.That(second.Applied, Is.False);
        Assert.That(second.Problems.Select(p => p.ToString()), Has.Some.Contains("one gateway per routing domain and address family"));
    }

    private static PolicyChange.Add OnLinkRoute(string prefix) =>
        new(PolicySection.CustomerRoutes, Json($$"""{ "routingDomainId": "{11111111-2222-3333-4444-000000000000}", "virtualSubnetId": 5001, "destinationPrefix": "{{prefix}}", "nextHop": "0.0.0.0" }"""));

    [Test]
    public void A_record_at_a_gateway_address_is_refused_though_record_edits_take_the_fast_path()
    {
        long fast = _editor.FastCommits;
        Assert.That(_editor.Apply(AddRecord("10.1.1.2", "192.168.1.12")).Applied, Is.True, "the next address is a VM's");
        Assert.That(_editor.FastCommits, Is.EqualTo(fast + 1), "and its record took the fast path");
        long before = _store.Current.Version;

        var result = _editor.Apply(AddRecord("10.1.1.1", "192.168.1.12", mac: "00-15-5D-00-00-0A"));

        Assert.That(result.Applied, Is.False);
        Assert.That(result.Problems.Select(p => p.ToString()), Has.Some.StartsWith("$.lookupRecords[3].customerAddress: 10.1.1.1 is the gateway address of 10.1.1.0/24 in virtual subnet 5001"));
        Assert.That(_store.Current.Version, Is.EqualTo(before));
        Assert.That(_editor.Apply(AddRecord("10.1.1.3", "192.168.1.12", mac: "00-15-5D-00-00-0B")).Applied, Is.True);
        Assert.That(_editor.FastCommits, Is.EqualTo(fast + 2), "the refusal, rolled back, leaves the next record the fast path");
    }

    [Test]
    public void A_route_that_puts_a_record_at_its_gateway_address_is_refused_and_later_records_are_checked_against_new_routes()
    {
        Assert.That(_editor.Apply(AddRecord("10.1.2.1", "192.168.1.12")).Applied, Is.True, "no on-link route holds 10.1.2.1 yet");

        var route = _editor.Apply(OnLinkRoute("10.1.2.0/24"));
        Assert.That(route.Applied, Is.False);
        Assert.That(route.Problems.Select(p => p.ToString()), Has.Some.StartsWith("$.lookupRecords[2].customerAddress: 10.1.2.1 is the gateway address of 10.1.2.0/24"));

        // A route published since the editor started: a record added at its gateway address is refused too.
        Assert.That(_editor.Apply(OnLinkRoute("10.1.3.0/24")).Applied, Is.True);
        var record = _editor.Apply(AddRecord("10.1.3.1", "192.168.1.12", mac: "00-15-5D-00-00-0A"));
        Assert.That(record.Applied, Is.False);
        Assert.That(record.Problems.Select(p => p.ToString()), Has.Some.StartsWith("$.lookupRecords[3].customerAddress: 10.1.3.1 is the gateway address of 10.1.3.0/24"));
        Assert.That(Record("10.1.3.1"), Is.Null);
    }

    [Test]
    public void A_record_at_the_gateway_address_of_a_route_removed_in_the_same_request_is_accepted_and_the_fast_path_resumes()
    {
        Assert.That(_editor.Apply(OnLinkRoute("10.1.2.0/24")).Applied, Is.True);

        var both = _editor.Apply(
            new PolicyChange.Remove(PolicySection.CustomerRoutes, Json("""{ "virtualSubnetId": 5001, "destinationPrefix": "10.1.2.0/24" }""")),
            AddRecord("10.1.2.1", "192.168.1.12"));

        Assert.That(both.Applied, Is.True, string.Join("; ", both.Problems));
        Assert.That(Record("10.1.2.1"), Is.Not.Null);
        long fast = _editor.FastCommits;
        Assert.That(_editor.Apply(AddRecord("10.1.2.2", "192.168.1.12", mac: "00-15-5D-00-00-0A")).Applied, Is.True);
        Assert.That(_editor.FastCommits, Is.EqualTo(fast + 1), "with the route gone, 10.1.2.1 sits at no gateway address: record edits take the fast path again");
    }
}
