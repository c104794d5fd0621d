using System.Globalization;
using System.Text.Json;
using NvDataplane.Headers;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>
/// The policy editor's fast path (lookup-record changes validated record by record,
/// LookupRecordShadow.cs) against the whole-document way it stands in for: the same requests
/// must be applied or refused alike, with the same problems, leaving the same policy; and a
/// version that only changes lookup records shares the tunnel tables of the one before, which
/// must then equal tables built from nothing.
/// </summary>
public class PolicyEditorFastPathTests
{
    private const int Records = 40;

    private static (PolicyStore Store, PolicyEditor Editor) NewEditor(bool fast, bool start = true)
    {
        // Besides the benchmark's records, the one record of VSID 7001, which a virtualSubnets
        // entry names: without that record the entry is invalid.
        var traffic = new SyntheticTraffic(TrafficScenario.Encap, Records, 64);
        var config = traffic.Config with
        {
            LookupRecords = [.. traffic.Config.LookupRecords, Other],
            VirtualSubnets = [new VirtualSubnetConfig(OtherVsid, true)],
        };
        var store = new PolicyStore(PolicySnapshot.Build(config));
        using var document = JsonDocument.Parse(ConfigWriter.Write(config));
        var editor = new PolicyEditor(store, document.RootElement, PolicyEditor.MaxQueuedRequests, start) { FastPath = fast };
        return (store, editor);
    }

    private const uint OtherVsid = 7001;

    private static readonly LookupRecordConfig Other = new(
        IpAddr.Parse("10.7.0.1"), OtherVsid, MacAddress.Parse("02-00-00-70-00-01"), SyntheticTraffic.RemotePa(TrafficScenario.Encap, 0), TranslationRule.Encap, RecordType.Static);

    private static JsonElement Json(string text)
    {
        using var d = JsonDocument.Parse(text);
        return d.RootElement.Clone();
    }

    private static string Ca(int i) => SyntheticTraffic.RemoteCa(i).ToString();

    private static string Key(int record, uint vsid = SyntheticTraffic.Vsid) =>
        $$"""{ "virtualSubnetId": {{vsid}}, "customerAddress": "{{Ca(record)}}" }""";

    /// <summary>A match of one record, mostly by its key as clients write it, sometimes spelled so that only the general way can take it.</summary>
    private static string RandomMatch(Random rng, int record) => rng.Next(10) switch
    {
        0 => $$"""{ "virtualSubnetId": "{{SyntheticTraffic.Vsid}}", "customerAddress": "{{Ca(record)}}" }""",
        1 => $$"""{ "virtualSubnetId": {{SyntheticTraffic.Vsid}}, "customerAddress": "{{Ca(record)}}", "rule": "Encap" }""",
        2 => $$"""{ "customerAddress": "::ffff:{{Ca(record)}}", "virtualSubnetId": {{SyntheticTraffic.Vsid}} }""",
        _ => Key(record),
    };

    /// <summary>A lookup-record change of every kind the fast path meets, valid or not.</summary>
    private static PolicyChange RandomChange(Random rng)
    {
        // A few name records that do not exist; many go to the same few records, so that one
        // request or group sets a record more than once.
        int r = rng.Next(3) == 0 ? rng.Next(4) : rng.Next(Records + 5);
        string fields = rng.Next(24) switch
        {
            12 => rng.Next(2) == 0 ? """{ "providerAddress": "0.0.0.0" }""" : """{ "providerAddress": "239.1.1.1" }""",
            13 => """{ "rule": "Nat", "providerAddress": "2001:db8::5" }""",
            14 => """{ "rule": "bogus" }""",
            15 => """{ "macAddress": "01-00-5E-00-00-01" }""",
            16 => """{ "vmName": "vm-\u00e9<&>\"" }""",
            17 => """{ "vmName": "half \uD800 pair" }""",
            18 => """{ "vmName": null }""",
            19 => """{ "vmName": "a", "vmName": "b" }""",
            20 => $$"""{ "customerId": "{{new Guid(rng.Next(), 0, 0, new byte[8])}}", "context": "c{{rng.Next(3)}}" }""",
            21 => $$"""{ "vmName": "v{{rng.Next(3)}}", "providerAddress": "{{SyntheticTraffic.RemotePa(TrafficScenario.Encap, rng.Next(4))}}" }""",
            22 => """{ "providerAddress": 17 }""",
            23 => """{ }""",
            0 or 1 or 2 => $$"""{ "providerAddress": "{{SyntheticTraffic.RemotePa(TrafficScenario.Encap, rng.Next(Records + 8))}}" }""",
            3 => """{ "providerAddress": "300.1.1.1" }""",
            4 => $$"""{ "rule": "{{(rng.Next(2) == 0 ? "Nat" : "TranslationMethodEncap")}}" }""",
            5 => $$"""{ "customerAddress": "{{Ca(rng.Next(Records + 20))}}" }""",
            6 => rng.Next(2) == 0 ? """{ "type": "GatewayWildcard" }""" : """{ "type": "GatewayWildcard", "customerAddress": "0.0.0.0", "rule": "Nat" }""",
            7 => """{ "macAddress": "zz" }""",
            8 => """{ "colour": "red" }""",
            9 => $$"""{ "macAddress": "02-00-00-00-{{rng.Next(16):X2}}-01", "vmName": "vm{{rng.Next(100)}}" }""",
            _ => $$"""{ "providerAddress": "10.9.{{rng.Next(4)}}.{{rng.Next(1, 250)}}" }""",
        };

        return rng.Next(12) switch
        {
            0 => new PolicyChange.Remove(PolicySection.LookupRecords, Json(Key(r))),
            10 => new PolicyChange.Remove(PolicySection.LookupRecords, Json("""{ "virtualSubnetId": 7001, "customerAddress": "10.7.0.1" }""")),
            11 => new PolicyChange.Add(PolicySection.LookupRecords, Json($$"""
                { "customerAddress": "10.7.0.1", "virtualSubnetId": 7001, "macAddress": "02-00-00-70-00-01", "providerAddress": "{{Other.ProviderAddress}}" }
                """)),
            1 => new PolicyChange.Add(PolicySection.LookupRecords, Json(string.Create(CultureInfo.InvariantCulture, $$"""
                { "customerAddress": "{{Ca(Records + rng.Next(30))}}", "virtualSubnetId": {{(rng.Next(4) == 0 ? 7002 : SyntheticTraffic.Vsid)}},
                  "macAddress": "02-00-00-AA-00-{{rng.Next(256):X2}}", "providerAddress": "{{SyntheticTraffic.RemotePa(TrafficScenario.Encap, rng.Next(Records))}}" }
                """))),
            _ => new PolicyChange.Set(PolicySection.LookupRecords, Json(RandomMatch(rng, r)), Json(fields)),
        };
    }

    private static string Describe(PolicyChangeResult r) =>
        $"{r.Applied} v{r.Version} affected {r.Affected}: {string.Join(" | ", r.Problems)}";

    [Test]
    public void Lookup_record_changes_are_applied_and_refused_exactly_as_by_validating_the_whole_document()
    {
        var (fastStore, fast) = NewEditor(fast: true);
        var (slowStore, slow) = NewEditor(fast: false);
        using (fast)
        using (slow)
        {
            var rng = new Random(7);
            int applied = 0;
            for (int i = 0; i < 400; i++)
            {
                var request = Enumerable.Range(0, 1 + rng.Next(4)).Select(_ => RandomChange(rng)).ToArray();

                var a = fast.Apply(request);
                var b = slow.Apply(request);

                Assert.That(Describe(a), Is.EqualTo(Describe(b)), $"request {i}");
                applied += a.Applied ? 1 : 0;
                if (a.Applied)
                {
                    // A version may share lookups with the one before (PolicySnapshot.SameKeys): they must find what fresh ones find.
                    AssertSameIndices(fastStore.Current, PolicySnapshot.Build(fastStore.Current.Config));
                }

                if (i % 37 == 0)
                {
                    // What readers see (fields of typed sets merged when first read) is the same policy too.
                    Assert.That(fast.RunningDocument(), Is.EqualTo(slow.RunningDocument()), $"after request {i}");
                    var match = Json(Key(1));
                    Assert.That(fast.Find(PolicySection.LookupRecords, match).Entries.Select(e => e.GetRawText()), Is.EqualTo(slow.Find(PolicySection.LookupRecords, match).Entries.Select(e => e.GetRawText())));
                }
            }

            Assert.That(fast.RunningDocument(), Is.EqualTo(slow.RunningDocument()));
            Assert.That(fastStore.Current.Config.LookupRecords, Is.EqualTo(slowStore.Current.Config.LookupRecords));
            Assert.That(fastStore.Current.Config.LookupRecords.Count(r => r.Rule == TranslationRule.Nat), Is.GreaterThan(0), "NAT records came and went");
            AssertSameIndices(fastStore.Current, PolicySnapshot.Build(fastStore.Current.Config));
            Assert.That(applied, Is.InRange(40, 360), "the mix applies some requests and refuses others");
            Assert.That(fast.FastCommits, Is.GreaterThan(applied / 4), "most applied versions took the fast path");
            Assert.That(slow.FastCommits, Is.Zero);
        }
    }

    [Test]
    public void A_group_with_an_invalid_request_keeps_the_valid_ones_as_the_whole_document_way_does()
    {
        var (fastStore, fast) = NewEditor(fast: true, start: false);
        var (slowStore, slow) = NewEditor(fast: false, start: false);
        using (fast)
        using (slow)
        {
            var rng = new Random(3);
            var requests = Enumerable.Range(0, 30).Select(_ => Enumerable.Range(0, 1 + rng.Next(2)).Select(_ => RandomChange(rng)).ToArray()).ToArray();
            var fastResults = requests.Select(r => fast.ApplyAsync(r)).ToArray();
            var slowResults = requests.Select(r => slow.ApplyAsync(r)).ToArray();

            fast.Start();
            slow.Start();

            for (int i = 0; i < requests.Length; i++)
            {
                Assert.That(Describe(fastResults[i].GetAwaiter().GetResult()), Is.EqualTo(Describe(slowResults[i].GetAwaiter().GetResult())), $"request {i}");
            }

            Assert.That(fastResults.Count(t => t.Result.Applied), Is.InRange(1, requests.Length - 1));
            Assert.That(fast.RunningDocument(), Is.EqualTo(slow.RunningDocument()));
            Assert.That(fastStore.Current.Config.LookupRecords, Is.EqualTo(slowStore.Current.Config.LookupRecords));
        }
    }

    [Test]
    public void A_version_that_moves_records_between_known_provider_addresses_shares_tunnel_tables_equal_to_fresh_ones()
    {
        var (store, editor) = NewEditor(fast: true);
        using (editor)
        {
            var before = store.Current;
            var result = editor.Apply(
                new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(1)), Json($$"""{ "providerAddress": "{{SyntheticTraffic.RemotePa(TrafficScenario.Encap, 2)}}" }""")),
                new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(3)), Json($$"""{ "providerAddress": "{{SyntheticTraffic.RemotePa(TrafficScenario.Encap, 0)}}" }""")));
            Assert.That(result.Applied, Is.True, Describe(result));
            var after = store.Current;

            Assert.That(after.Tunnels, Is.SameAs(before.Tunnels), "no new PA: the tunnels are shared");
            Assert.That(after.TemplateBytes, Is.SameAs(before.TemplateBytes));
            AssertSameTunnels(after, PolicySnapshot.Build(after.Config));

            // A PA no version has seen: new tables, still equal to ones built from nothing.
            result = editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(5)), Json("""{ "providerAddress": "10.77.0.1" }""")));
            Assert.That(result.Applied, Is.True, Describe(result));
            Assert.That(store.Current.Tunnels, Is.Not.SameAs(after.Tunnels));
            AssertSameTunnels(store.Current, PolicySnapshot.Build(store.Current.Config));
        }
    }

    [Test]
    public void Versions_that_add_remote_pas_append_their_templates_and_leave_earlier_versions_as_they_were()
    {
        var (store, editor) = NewEditor(fast: true);
        using (editor)
        {
            var rng = new Random(5);
            var versions = new List<PolicySnapshot> { store.Current };
            for (int v = 0; v < 40; v++)
            {
                // Some PAs no version has seen (tables grow), some seen before.
                var changes = Enumerable.Range(0, 1 + rng.Next(6)).Select(_ => (PolicyChange)new PolicyChange.Set(
                    PolicySection.LookupRecords,
                    Json(Key(rng.Next(Records))),
                    Json($$"""{ "providerAddress": "10.{{80 + rng.Next(3)}}.{{rng.Next(4)}}.{{1 + rng.Next(200)}}" }"""))).ToArray();
                var result = editor.Apply(changes);
                Assert.That(result.Applied, Is.True, Describe(result));
                versions.Add(store.Current);
            }

            Assert.That(versions[^1].RemotePas.Length, Is.GreaterThan(versions[0].RemotePas.Length + 30), "the chain added remote PAs");
            Assert.That(versions[^1].Templates, Is.Not.SameAs(versions[0].Templates), "the template table grew");
            Assert.That(versions.Select(v => v.Templates).Distinct().Count(), Is.LessThan(versions.Count / 2), "most versions extend the table they share");

            // Each version, the first ones included, still encapsulates exactly as one built from nothing.
            foreach (var version in versions)
            {
                var fresh = PolicySnapshot.Build(version.Config);
                AssertSameTunnels(version, fresh);
                AssertSameIndices(version, fresh);
            }
        }
    }

    [Test]
    public void A_nat_record_that_moves_to_another_pa_is_found_by_its_new_pa_only()
    {
        var (store, editor) = NewEditor(fast: true);
        using (editor)
        {
            var result = editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(2)), Json("""{ "rule": "Nat", "providerAddress": "10.66.0.1" }""")));
            Assert.That(result.Applied, Is.True, Describe(result));
            var before = store.Current;

            result = editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(2)), Json("""{ "providerAddress": "10.66.0.2" }""")));
            Assert.That(result.Applied, Is.True, Describe(result));

            Assert.That(editor.FastCommits, Is.EqualTo(2));
            Assert.That(store.Current.AnyVsidIndex, Is.SameAs(before.AnyVsidIndex), "the CAs stayed: shared");
            Assert.That(store.Current.NatIndex.Find(0, IpAddr.Parse("10.66.0.2")), Is.EqualTo(before.NatIndex.Find(0, IpAddr.Parse("10.66.0.1"))).And.GreaterThanOrEqualTo(0));
            Assert.That(store.Current.NatIndex.Find(0, IpAddr.Parse("10.66.0.1")), Is.EqualTo(-1));
            AssertSameIndices(store.Current, PolicySnapshot.Build(store.Current.Config));
        }
    }

    [Test]
    public void Fields_of_typed_sets_are_merged_into_the_json_entries_once_the_editor_is_quiet()
    {
        var (store, editor) = NewEditor(fast: true);
        using (editor)
        {
            var result = editor.Apply(
                new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(1)), Json("""{ "providerAddress": "10.66.0.1" }""")),
                new PolicyChange.Set(PolicySection.LookupRecords, Json(Key(1)), Json("""{ "vmName": "moved" }""")));
            Assert.That(result.Applied, Is.True, Describe(result));
            string entry = editor.Find(PolicySection.LookupRecords, Json(Key(1))).Entries.Single().GetRawText();
            Assert.That(entry, Does.Contain("\"providerAddress\":\"10.66.0.1\"").And.Contain("\"vmName\":\"moved\""), "a reader sees the fields before they are merged");

            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (editor.PendingRecordFields != 0 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }

            Assert.That(editor.PendingRecordFields, Is.Zero, "merged after a quiet spell");
            Assert.That(editor.Find(PolicySection.LookupRecords, Json(Key(1))).Entries.Single().GetRawText(), Is.EqualTo(entry));
            Assert.That(store.Current.Version, Is.EqualTo(result.Version), "merging publishes no new policy version");
        }
    }

    /// <summary>The record, any-VSID and NAT lookups find the same record for every CA and PA in both versions (a version may share the latter two with the one before).</summary>
    private static void AssertSameIndices(PolicySnapshot shared, PolicySnapshot fresh)
    {
        foreach (var r in fresh.Records)
        {
            Assert.That(shared.RecordIndex.Find(r.Vsid, r.CustomerAddress), Is.EqualTo(fresh.RecordIndex.Find(r.Vsid, r.CustomerAddress)));
            Assert.That(shared.AnyVsidIndex.Find(0, r.CustomerAddress), Is.EqualTo(fresh.AnyVsidIndex.Find(0, r.CustomerAddress)), $"any-VSID {r.CustomerAddress}");
            Assert.That(shared.NatIndex.Find(0, r.ProviderAddress), Is.EqualTo(fresh.NatIndex.Find(0, r.ProviderAddress)), $"NAT {r.ProviderAddress}");
        }
    }

    /// <summary>Every local VM's tunnel to every record's PA has the same remote PA and the same header bytes in both versions.</summary>
    private static void AssertSameTunnels(PolicySnapshot shared, PolicySnapshot fresh)
    {
        Assert.That(shared.Records, Has.Length.EqualTo(fresh.Records.Length));
        int compared = 0;
        foreach (int source in Enumerable.Range(0, shared.Records.Length).Where(i => shared.Records[i].TemplateRow >= 0))
        {
            for (int d = 0; d < shared.Records.Length; d++)
            {
                var (s, f) = (shared.Records[d], fresh.Records[d]);
                Assert.That(s.ProviderAddress, Is.EqualTo(f.ProviderAddress));
                if (s.RemotePaIndex < 0)
                {
                    Assert.That(f.RemotePaIndex, Is.LessThan(0));
                    continue;
                }

                Assert.That(shared.RemotePas[s.RemotePaIndex], Is.EqualTo(s.ProviderAddress));
                Assert.That(fresh.RemotePas[f.RemotePaIndex], Is.EqualTo(f.ProviderAddress));
                Assert.That(shared.Tunnels[shared.Records[source].TemplateRow + s.RemotePaIndex].RemotePa, Is.EqualTo(s.ProviderAddress));
                var st = shared.Template(in shared.Records[source], s.RemotePaIndex);
                var ft = fresh.Template(in fresh.Records[source], f.RemotePaIndex);
                Assert.That(shared.TemplateBytes.AsSpan(st.ByteOffset, st.Length).ToArray(), Is.EqualTo(fresh.TemplateBytes.AsSpan(ft.ByteOffset, ft.Length).ToArray()), $"record {d}");
                Assert.That((st.Unusable, st.NextHop, st.Mtu), Is.EqualTo((ft.Unusable, ft.NextHop, ft.Mtu)));
                Assert.That(ForwardingData.Index(Data(shared, d)), Is.EqualTo(s.RemotePaIndex), "the lookup slot names the record's own PA index");
                compared++;
            }
        }

        Assert.That(compared, Is.GreaterThan(Records / 2));
    }

    private static ulong Data(PolicySnapshot p, int record)
    {
        p.RecordIndex.Find(p.Records[record].Vsid, p.Records[record].CustomerAddress, out ulong data);
        return data;
    }
}
