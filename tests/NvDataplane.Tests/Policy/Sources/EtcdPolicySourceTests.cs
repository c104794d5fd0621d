using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Headers;
using NvDataplane.Io;
using NvDataplane.Policy;
using NvDataplane.Policy.Sources;
using NvDataplane.Tests.Pipeline;

namespace NvDataplane.Tests.Policy.Sources;

/// <summary>
/// <see cref="EtcdPolicySource"/> against a real etcd started for each test (<see cref="TestEtcd"/>),
/// driving a real <see cref="PolicyEditor"/>: the first read, the watch, coalescing, bad data,
/// etcd killed and restarted, compaction. Where a test needs the network between the host and
/// etcd to fail while etcd takes writes, the source reaches etcd through a <see cref="CuttableProxy"/>;
/// where it needs a member that hangs, the member is stopped with SIGSTOP (and always continued).
/// </summary>
[NonParallelizable]
public class EtcdPolicySourceTests
{
    private const string Prefix = "/nvdp";
    private static readonly EtcdSourceOptions Fast = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(500));

    private readonly ConcurrentQueue<string> _log = new();
    private TestEtcd? _etcd;
    private TestEtcd[] _cluster = [];
    private EtcdClient? _client;
    private CuttableProxy? _proxy;
    private PolicyEditor? _editor;
    private EtcdPolicySource? _source;

    private EtcdClient Etcd => _client!;

    private EtcdPolicySource Source => _source!;

    private PolicyStore Store => _editor!.Store;

    private string Log => string.Join('\n', _log);

    [TearDown]
    public void CleanUp()
    {
        TestContext.Out.WriteLine(Log);
        foreach (var etcd in _cluster.Append(_etcd))
        {
            etcd?.Resume(); // a test that failed with a member stopped
        }

        _source?.Dispose();
        _editor?.Dispose();
        _proxy?.Dispose();
        _client?.Dispose();
        _etcd?.Dispose();
        foreach (var member in _cluster)
        {
            member.Dispose();
        }

        (_source, _editor, _proxy, _client, _etcd, _cluster) = (null, null, null, null, null, []);
        _log.Clear();
    }

    [Test]
    public void The_first_read_replaces_the_files_records_and_routes_with_etcds()
    {
        StartEtcd();
        Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"));
        Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
        long revision = Put(EtcdKeyLayout.CustomerRouteKey(Prefix, "red"), Route("10.1.0.0/16"));
        CreateSource(_etcd!.Url(Prefix));
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.99" }), "the file's record is the policy until the first read");

        Source.Start();
        WaitApplied(revision);

        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }));
        Assert.That(Store.Current.Config.CustomerRoutes.Select(r => r.DestinationPrefix.ToString()), Is.EqualTo(new[] { "10.1.0.0/16" }));
        Assert.That(Log, Does.Contain($"policy_source_loaded: revision {revision} (first read), 2 lookup records, 1 customer routes: policy version {Store.Current.Version}"));
        Assert.That(Source.Reads, Is.EqualTo(1));
    }

    [Test]
    public void A_full_read_pages_through_the_prefix_at_one_revision()
    {
        StartEtcd();
        long last = 0;
        for (int i = 1; i <= 10; i++)
        {
            string ca = "10.1.1." + i.ToString(CultureInfo.InvariantCulture);
            last = Put(RecordKey(ca), Record(ca, "192.168.1.11"));
        }

        CreateSource(_etcd!.Url(Prefix), Fast with { PageSize = 3 });
        Source.Start();
        WaitApplied(last);

        Assert.That(Store.Current.Config.LookupRecords, Has.Count.EqualTo(10));
        Assert.That(Log, Does.Contain($"policy_source_loaded: revision {last} (first read), 10 lookup records"));
    }

    [Test]
    public void Puts_and_deletes_apply_as_they_are_watched_and_a_migration_is_one_put()
    {
        StartEtcd();
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));

        long put = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
        WaitApplied(put);
        Assert.That(Pa("10.1.1.8"), Is.EqualTo("192.168.1.11"));
        Assert.That(Log, Does.Contain($"policy_source_update: revision {put}: policy version {Store.Current.Version}, 1 events, 2 lookup records"));

        long migrated = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.12"));
        WaitApplied(migrated);
        Assert.That(Pa("10.1.1.8"), Is.EqualTo("192.168.1.12"), "the record now names the host the VM moved to");

        long deleted = Etcd.DeleteAsync(RecordKey("10.1.1.8")).GetAwaiter().GetResult();
        WaitApplied(deleted);
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7" }));
        Assert.That(Source.Reads, Is.EqualTo(1), "all of it through the watch, no full read");
    }

    [Test]
    public void Writes_arriving_while_a_version_is_built_become_one_version()
    {
        StartEtcd();
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));
        long updates = Source.Updates, commits = _editor!.Commits;
        const int Writers = 4, Each = 500;
        long last;
        using (Source.PauseApplying())
        {
            // Four writers, 2,000 puts, each its own etcd revision and watch event.
            var revisions = Enumerable.Range(0, Writers).Select(w => Task.Run(() =>
            {
                long r = 0;
                for (int i = 0; i < Each; i++)
                {
                    string ca = string.Create(CultureInfo.InvariantCulture, $"10.{2 + (i / 250)}.{w}.{(i % 250) + 1}");
                    r = Math.Max(r, Put(RecordKey(ca), Record(ca, "192.168.1.11", Mac(w, i))));
                }

                return r;
            })).ToArray();
            last = Task.WhenAll(revisions).GetAwaiter().GetResult().Max();
            Assert.That(WaitFor(() => Source.Revision >= last), Is.True, "the watch saw every write");
        }

        WaitApplied(last);
        Assert.That(Store.Current.Config.LookupRecords, Has.Count.EqualTo(1 + (Writers * Each)));
        Assert.That(Source.Updates - updates, Is.EqualTo(1), "2,000 watch events, one policy version");
        Assert.That(_editor.Commits - commits, Is.EqualTo(1));
        Assert.That(Log, Does.Contain($"policy_source_update: revision {last}: policy version {Store.Current.Version}, 2000 events"));

        // The same burst at full speed, nothing held: printed, not asserted (it depends on the machine).
        updates = Source.Updates;
        long end = 0;
        for (int i = 0; i < 1000; i++)
        {
            end = Put(RecordKey(string.Create(CultureInfo.InvariantCulture, $"10.9.{i / 250}.{(i % 250) + 1}")), Record(string.Create(CultureInfo.InvariantCulture, $"10.9.{i / 250}.{(i % 250) + 1}"), "192.168.1.12", Mac(9, i)));
        }

        WaitApplied(end);
        TestContext.Out.WriteLine($"1,000 sequential puts became {Source.Updates - updates} policy versions");
        Assert.That(Store.Current.Config.LookupRecords, Has.Count.EqualTo(1 + (Writers * Each) + 1000));
    }

    [Test]
    public void Bad_data_is_refused_with_its_key_named_the_last_good_policy_runs_and_the_next_good_write_applies()
    {
        StartEtcd();
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));
        long version = Store.Current.Version;

        long garbage = Put(RecordKey("10.1.1.7"), "{ \"customerAddress\": ");
        WaitLogged($"policy_source_rejected: key /nvdp/lookupRecords/5001/10.1.1.7 (revision {garbage}): the value is not JSON");
        Assert.That(Store.Current.Version, Is.EqualTo(version), "no new version");
        Assert.That(Pa("10.1.1.7"), Is.EqualTo("192.168.1.10"), "the last good value runs");

        // Another key's good write applies while the bad one is still in etcd.
        WaitApplied(Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11")));
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }));

        // A record that fails validation, and a key outside the layout.
        long reserved = Put(EtcdKeyLayout.LookupRecordKey(Prefix, 42, "10.1.1.50"), Record("10.1.1.50", "192.168.1.11", vsid: 42));
        WaitLogged($"policy_source_rejected: key /nvdp/lookupRecords/42/10.1.1.50 (revision {reserved}): {{/nvdp/lookupRecords/42/10.1.1.50}}.virtualSubnetId: 42 is reserved; use 4096..16777214; it stays out of the policy");
        long outside = Put("/nvdp/providerRoutes/default", "{}");
        WaitLogged($"policy_source_rejected: key /nvdp/providerRoutes/default (revision {outside}): the key is outside the layout");
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }));

        // Two NAT records on one PA: the newer write is blamed, the older keeps running.
        WaitApplied(Put(RecordKey("10.1.1.20"), Record("10.1.1.20", "192.168.1.20", rule: "Nat")));
        long shared = Put(RecordKey("10.1.1.21"), Record("10.1.1.21", "192.168.1.20", rule: "Nat"));
        WaitLogged($"policy_source_rejected: key /nvdp/lookupRecords/5001/10.1.1.21 (revision {shared}): ");
        Assert.That(Cas(), Is.EquivalentTo(new[] { "10.1.1.7", "10.1.1.8", "10.1.1.20" }));

        long fixedUp = Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.13"));
        WaitApplied(fixedUp);
        Assert.That(Pa("10.1.1.7"), Is.EqualTo("192.168.1.13"), "the next good write of the key applies");
        Assert.That(Source.RejectedKeys, Is.EqualTo(3), "VSID 42, the key outside the layout, the second NAT record");
        Assert.That(Source.Rejected, Is.EqualTo(4));
        Assert.That(_log.Count(l => l.Contains("key /nvdp/providerRoutes/default", StringComparison.Ordinal)), Is.EqualTo(1), "each rejection is logged once");
    }

    [Test]
    public void Keys_that_are_not_utf8_stay_apart_and_are_refused_by_name()
    {
        // Decoded with replacement characters, .../r\xff and .../r\xfe were one key: one route
        // vanished unsaid, and deleting one key removed the other's entry.
        StartEtcd();
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));
        byte[] Key(byte last) => [.. Encoding.UTF8.GetBytes(EtcdKeyLayout.CustomerRouteKey(Prefix, "r")), last];
        long ff = Etcd.PutAsync(Key(0xff), Encoding.UTF8.GetBytes(Route("10.9.0.0/16"))).GetAwaiter().GetResult();
        WaitLogged($"policy_source_rejected: key /nvdp/customerRoutes/r\\xff (revision {ff}): the key is not UTF-8 text");
        long fe = Etcd.PutAsync(Key(0xfe), Encoding.UTF8.GetBytes(Route("10.8.0.0/16"))).GetAwaiter().GetResult();
        WaitLogged($"policy_source_rejected: key /nvdp/customerRoutes/r\\xfe (revision {fe}): the key is not UTF-8 text");
        Assert.That(Source.RejectedKeys, Is.EqualTo(2), "two keys, each refused");

        Etcd.DeleteAsync(Key(0xff)).GetAwaiter().GetResult();
        WaitApplied(Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11")));
        Assert.That(Source.RejectedKeys, Is.EqualTo(1), "the other key is still refused");
        Assert.That(Store.Current.Config.CustomerRoutes.Select(r => r.DestinationPrefix.ToString()), Has.None.EqualTo("10.9.0.0/16").And.None.EqualTo("10.8.0.0/16"));
    }

    [TestCase(false, TestName = "Etcd killed and restarted: the watch resumes from the next revision without missing a write")]
    [TestCase(true, TestName = "Etcd stopped (its streams ended by the server) and restarted: the watch resumes from the next revision without missing a write")]
    public void Etcd_lost_and_back_the_watch_resumes_from_the_next_revision_without_missing_a_write(bool graceful)
    {
        StartEtcd();
        _proxy = new CuttableProxy(_etcd!.ClientPort);
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10")), _proxy.Port));
        long version = Store.Current.Version;

        // The first read is applied before the watch after it is set up: cut only once it is,
        // or on a slow machine the cut comes first and only the resumed watch is ever created.
        Assert.That(WaitFor(() => Source.Watches == 1), Is.True, "the first watch was created");

        if (graceful)
        {
            // The source sees etcd end the watch itself, then cannot connect.
            _etcd.Stop();
            WaitLogged("policy_source_unreachable: ");
            _proxy.Cut();
        }
        else
        {
            _proxy.Cut();
            _etcd.Kill();
            WaitLogged("policy_source_unreachable: ");
        }

        Assert.That(Store.Current.Version, Is.EqualTo(version), "forwarding goes on with the last policy");
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7" }));

        // etcd comes back and takes a write while this host still cannot reach it.
        _etcd.Restart();
        long missed = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
        Assert.That(Source.Revision, Is.LessThan(missed), "the source has not seen the write");
        _proxy.Mend();

        WaitApplied(missed);
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }));
        Assert.That(Source.Reads, Is.EqualTo(1), "resumed from the revision after the last seen, no full read");
        Assert.That(Source.Watches, Is.GreaterThanOrEqualTo(2));
        Assert.That(Source.Unreachable, Is.EqualTo(1));
        Assert.That(_log.Count(l => l.StartsWith("policy_source_unreachable", StringComparison.Ordinal)), Is.EqualTo(1), "logged once, however many tries: " + Log);
        Assert.That(_log.Count(l => l.StartsWith("policy_source_reachable", StringComparison.Ordinal)), Is.EqualTo(1));
    }

    [Test]
    public void A_hung_member_is_given_up_within_seconds_and_the_watch_resumes_when_it_wakes()
    {
        // SIGSTOP: etcd's kernel keeps the watch's connection open and answers keep-alives, so
        // only the probe of the member (every 5 s, the daemon's interval here) can find it hung.
        StartEtcd();
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));
        Assert.That(WaitFor(() => Source.Watches == 1), Is.True, "the first watch was created");
        long version = Store.Current.Version;

        var hung = System.Diagnostics.Stopwatch.StartNew();
        _etcd!.Pause();
        try
        {
            WaitLogged($"policy_source_unreachable: the watch on {_etcd.Endpoint} was given up: {_etcd.Endpoint} did not answer within 3 s");
            TestContext.Out.WriteLine($"the hung member was given up after {hung.Elapsed.TotalSeconds:0.0} s");
            Assert.That(Source.Connected, Is.False, "nvdp_policy_source_connected 0");
            Assert.That(Store.Current.Version, Is.EqualTo(version), "forwarding goes on with the last policy");

            // Hung long enough for a retry on it to fail too (a watch waits 5 s for its answer):
            // the assertions below see one count and one line for the whole outage.
            Thread.Sleep(TimeSpan.FromSeconds(6));
        }
        finally
        {
            _etcd.Resume();
        }

        long written = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
        WaitApplied(written);
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }));
        Assert.That(Source.Reads, Is.EqualTo(1), "resumed from the revision after the last seen, no full read");
        Assert.That(Source.Watches, Is.GreaterThanOrEqualTo(2));
        Assert.That(Source.Connected, Is.True);
        Assert.That(Source.Unreachable, Is.EqualTo(1), "counted once, whatever failed how often");
        Assert.That(_log.Count(l => l.StartsWith("policy_source_unreachable", StringComparison.Ordinal)), Is.EqualTo(1), Log);
        Assert.That(_log.Count(l => l.StartsWith("policy_source_reachable", StringComparison.Ordinal)), Is.EqualTo(1), Log);
    }

    [Test]
    public void A_hung_member_of_three_hands_the_watch_to_the_next_and_a_write_committed_meanwhile_applies()
    {
        _cluster = TestEtcd.StartCluster(3);

        // The watch goes to the first member named; make it a follower, so that stopping it
        // leaves the leader in place and the write below commits at once on the other two.
        var follower = _cluster.First(m => !m.IsLeader());
        TestEtcd[] ordered = [follower, .. _cluster.Where(m => m != follower)];
        _client = ordered[1].Client();
        long first = Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"));
        CreateSource(TestEtcd.Url(ordered, Prefix), Fast with { ProbeInterval = TimeSpan.FromMilliseconds(500) });
        Source.Start();
        WaitApplied(first);
        Assert.That(WaitFor(() => Source.Watches == 1), Is.True, "the first watch was created");

        follower.Pause();
        try
        {
            long written = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
            WaitApplied(written);
            Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }), "applied while the member that served the watch still hangs");
            Assert.That(Log, Does.Contain($"policy_source_unreachable: the watch on {follower.Endpoint} was given up: {follower.Endpoint} did not answer within 3 s"));
            Assert.That(Log, Does.Contain($"policy_source_reachable: etcd at {ordered[1].Endpoint} answers again"), "the next member named, not one past it");
            Assert.That(Source.Reads, Is.EqualTo(1), "resumed from the revision after the last seen, no full read");
            Assert.That(Source.Unreachable, Is.EqualTo(1));
            Assert.That(Source.Connected, Is.True);
        }
        finally
        {
            follower.Resume();
        }
    }

    [Test]
    public void An_idle_healthy_watch_is_probed_and_kept_without_a_word()
    {
        StartEtcd();
        long first = Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"));
        CreateSource(_etcd!.Url(Prefix), Fast with { ProbeInterval = TimeSpan.FromMilliseconds(100) });
        Source.Start();
        WaitApplied(first);

        Assert.That(WaitFor(() => Source.ProbesAnswered >= 20), Is.True, "the member was probed");
        Assert.That(Source.Unreachable, Is.EqualTo(0));
        Assert.That(Source.Connected, Is.True);
        Assert.That(Source.Watches, Is.EqualTo(1), "the watch was never given up");
        Assert.That(_log.Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]), Is.EqualTo(new[] { "policy_source_started", "policy_source_loaded" }), "nothing logged but the start and the first read");

        long second = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
        WaitApplied(second);
        Assert.That(Source.Watches, Is.EqualTo(1), "the same watch delivers");

        // Stopping ends the probe with the watch (one may be on its way).
        Source.Dispose();
        Assert.That(Source.Ended, Is.True, "reader and applier ended");
        long probes = Source.ProbesAnswered;
        Thread.Sleep(500);
        Assert.That(Source.ProbesAnswered, Is.EqualTo(probes), "no probe after the source stopped");
    }

    [Test]
    public void A_compacted_revision_means_a_full_read_again()
    {
        StartEtcd();
        _proxy = new CuttableProxy(_etcd!.ClientPort);
        Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"));
        WaitApplied(StartSource(Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11")), _proxy.Port));

        _proxy.Cut();
        WaitLogged("policy_source_unreachable: ");
        Put(RecordKey("10.1.1.9"), Record("10.1.1.9", "192.168.1.11"));
        Etcd.DeleteAsync(RecordKey("10.1.1.8")).GetAwaiter().GetResult();
        long last = Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.12"));
        Etcd.CompactAsync(last).GetAwaiter().GetResult();
        _proxy.Mend();

        WaitApplied(last);
        Assert.That(Log, Does.Contain("policy_source_compacted: revision "));
        Assert.That(Log, Does.Contain($"policy_source_loaded: revision {last} (read again after compaction), 2 lookup records"));
        Assert.That(Source.Compactions, Is.EqualTo(1));
        Assert.That(Source.Reads, Is.EqualTo(2));
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.9" }), "the delete made during the gap is seen too");
        Assert.That(Pa("10.1.1.7"), Is.EqualTo("192.168.1.12"));
    }

    [Test]
    public void Etcds_next_update_replaces_a_change_made_through_the_control_api()
    {
        StartEtcd();
        Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"));
        WaitApplied(StartSource(Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"))));
        using (var match = JsonDocument.Parse("""{ "customerAddress": "10.1.1.8", "virtualSubnetId": 5001 }"""))
        {
            Assert.That(_editor!.Apply(new PolicyChange.Remove(PolicySection.LookupRecords, match.RootElement.Clone())).Applied, Is.True);
        }

        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7" }));

        // The same value written again: it was logged "(unchanged)" and 10.1.1.8 stayed away.
        WaitApplied(Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11")));
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }));
    }

    [Test]
    public void A_reload_that_removes_why_etcds_update_was_refused_applies_etcds_content_at_once()
    {
        StartEtcd();
        Put(EtcdKeyLayout.LookupRecordKey(Prefix, 6000, "10.6.0.5"), Record("10.6.0.5", "192.168.1.11", vsid: 6000));
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));
        string url = _etcd!.Url(Prefix);
        string withAcl = Config(url).Replace("\"policySource\"", "\"acls\": [ { \"virtualSubnetId\": 6000, \"priority\": 1, \"direction\": \"both\", \"action\": \"deny\" } ], \"policySource\"", StringComparison.Ordinal);
        Assert.That(Source.Reload(withAcl).Applied, Is.True);

        // etcd deletes VSID 6000's only record, which the file's ACL names: refused, and so is
        // every later update while the file says so.
        long deleted = Etcd.DeleteAsync(EtcdKeyLayout.LookupRecordKey(Prefix, 6000, "10.6.0.5")).GetAwaiter().GetResult();
        WaitLogged($"policy_source_refused: revision {deleted}");
        long moved = Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.12"));
        WaitLogged($"policy_source_refused: revision {moved}");
        Assert.That(Pa("10.1.1.7"), Is.EqualTo("192.168.1.10"));

        // The file without the ACL: etcd's content applies now, not at its next write.
        Assert.That(Source.Reload(Config(url)).Applied, Is.True);
        Assert.That(WaitFor(() => Pa("10.1.1.7") == "192.168.1.12"), Is.True, Log);
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7" }), "10.6.0.5 is gone as etcd says");
        Assert.That(Source.AppliedRevision, Is.EqualTo(moved));
    }

    [Test]
    public void A_reload_of_the_file_keeps_etcds_sections_and_refuses_another_source()
    {
        StartEtcd();
        WaitApplied(StartSource(Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"))));
        string url = _etcd!.Url(Prefix);

        string withRoute = Config(url).Replace("\"providerRoutes\": []", "\"providerRoutes\": [ { \"destinationPrefix\": \"0.0.0.0/0\", \"nextHop\": \"192.168.1.1\" } ]", StringComparison.Ordinal);
        var reloaded = Source.Reload(withRoute);

        Assert.That(reloaded.Applied, Is.True, string.Join("; ", reloaded.Problems));
        Assert.That(Store.Current.Config.ProviderRoutes, Has.Count.EqualTo(1), "the file's own sections reload");
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.7" }), "etcd's records stay, not the file's 10.1.1.99");

        var moved = Source.Reload(Config(_etcd.Url("/other")));
        Assert.That(moved.Applied, Is.False);
        Assert.That(moved.Problems.Select(p => p.ToString()), Is.EqualTo(new[]
        {
            $"$.policySource: changed from {url} to {_etcd.Url("/other")}; restart nvdp to change where the policy comes from (the running policy is kept)",
        }));
    }

    [Test]
    public void Stopping_while_etcd_is_unreachable_ends_both_loops()
    {
        CreateSource(new TestEtcdUrl(TestEtcd.FreePort()).Value, EtcdSourceOptions.Default);
        Source.Start();
        WaitLogged("policy_source_unreachable: http://127.0.0.1:");

        Source.Dispose();

        Assert.That(Source.Ended, Is.True, "reader and applier ended");
        Assert.That(Cas(), Is.EqualTo(new[] { "10.1.1.99" }), "the file's policy ran all along");
        Assert.That(Log, Does.Contain("policy_source_stopped: "));
    }

    [Test]
    public void The_sources_counters_are_in_metrics_and_only_where_the_policy_comes_from_etcd()
    {
        StartEtcd();
        long first = Put(RecordKey("10.1.1.7"), Record("10.1.1.7", "192.168.1.10"));
        CreateSource(_etcd!.Url(Prefix));
        IPacketPort[] devices = [new QueuePort("pnic0"), new QueuePort("red1")];
        var clock = new CpuClock(2000, "test");
        var stats = new DataplaneStats(_editor!, [], devices, clock, Source);
        Assert.That(DataplaneMetrics.Prometheus(stats.Take(), clock), Does.Contain("nvdp_policy_source_reads_total 0\n").And.Contain("nvdp_policy_source_applied_revision 0\n"), "before the first read");

        Source.Start();
        WaitApplied(first);
        long second = Put(RecordKey("10.1.1.8"), Record("10.1.1.8", "192.168.1.11"));
        WaitApplied(second);
        string text = DataplaneMetrics.Prometheus(stats.Take(), clock);
        Assert.That(text, Does.Contain("# TYPE nvdp_policy_source_updates_total counter\n").And.Contain("# TYPE nvdp_policy_source_connected gauge\n"));
        Assert.That(text, Does.Contain("nvdp_policy_source_reads_total 1\n"), "the first read");
        Assert.That(text, Does.Contain("nvdp_policy_source_events_total 1\n"), "the watched put");
        Assert.That(text, Does.Contain("nvdp_policy_source_updates_total 2\n"), "the read and the put, a version each");
        Assert.That(text, Does.Contain($"nvdp_policy_source_applied_revision {second}\n"));
        Assert.That(text, Does.Contain("nvdp_policy_source_rejected_keys 0\n").And.Contain("nvdp_policy_source_unreachable_total 0\n"));
        Assert.That(text, Does.Contain("nvdp_policy_source_connected 1\n"));

        // The same figures as instruments of the NvDataplane meter.
        using var meter = DataplaneMetrics.CreateMeter(stats);
        var seen = new Dictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => seen[instrument.Name] = value);
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.That(seen.GetValueOrDefault("nvdp.policy_source.updates"), Is.EqualTo(2));
        Assert.That(seen.GetValueOrDefault("nvdp.policy_source.applied_revision"), Is.EqualTo(second));

        var withoutSource = new DataplaneStats(_editor!, [], devices, clock);
        Assert.That(DataplaneMetrics.Prometheus(withoutSource.Take(), clock), Does.Not.Contain("nvdp_policy_source").And.Contain("nvdp_policy_version "));
    }

    [Test]
    public void Retries_wait_the_minimum_after_a_clean_end_and_the_first_failure_then_double_up_to_the_maximum()
    {
        var waits = Enumerable.Range(0, 8).Select(f => EtcdPolicySource.BackoffMs(f, EtcdSourceOptions.Default)).ToArray();
        Assert.That(waits, Is.EqualTo(new double[] { 200, 200, 400, 800, 1600, 3200, 5000, 5000 }), "as the README and the unreachable line say: after 0.2 s, doubling to 5 s");
        Assert.That(EtcdPolicySource.BackoffMs(int.MaxValue, EtcdSourceOptions.Default), Is.EqualTo(5000));
    }

    // ---- helpers -----------------------------------------------------------------------------

    private sealed record TestEtcdUrl(int Port)
    {
        public string Value => string.Create(CultureInfo.InvariantCulture, $"etcd://127.0.0.1:{Port}{Prefix}");
    }

    private void StartEtcd()
    {
        _etcd = TestEtcd.Start();
        _client = _etcd.Client();
    }

    /// <summary>Creates and starts the source (through <paramref name="port"/> when given); returns <paramref name="revision"/> to wait for.</summary>
    private long StartSource(long revision, int? port = null)
    {
        CreateSource(_etcd!.Url(Prefix, port), Fast);
        Source.Start();
        return revision;
    }

    private void CreateSource(string url, EtcdSourceOptions? options = null)
    {
        var config = ConfigLoader.Load(Config(url));
        Assert.That(config.Problems, Is.Empty);
        _editor = PolicyEditor.FromText(new PolicyStore(PolicySnapshot.Build(config.Config!)), Config(url));
        _source = new EtcdPolicySource(config.Config!.PolicySource!, _editor, (_, evt, message) => _log.Enqueue($"{evt}: {message}"), options ?? Fast);
    }

    /// <summary>A host with one VM of Red (VSID 5001); the file's own record (10.1.1.99) runs until etcd's arrive.</summary>
    private static string Config(string url) => $$"""
        {
          "host": { "name": "hv1" },
          "ports": [
            { "name": "pnic0", "role": "provider", "macAddress": "02-00-00-00-01-0A" },
            { "name": "red1", "role": "vm", "macAddress": "00-15-5D-00-00-01", "virtualSubnetId": 5001 }
          ],
          "providerAddresses": [ { "address": "192.168.1.10", "prefixLength": 24, "port": "pnic0" } ],
          "providerRoutes": [],
          "lookupRecords": [ {{Record("10.1.1.99", "192.168.1.10", "00-15-5D-00-00-63")}} ],
          "customerRoutes": [ {{Route("10.1.1.0/24")}} ],
          "policySource": "{{url}}"
        }
        """;

    private static string RecordKey(string ca) => EtcdKeyLayout.LookupRecordKey(Prefix, 5001, ca);

    private static string Record(string ca, string pa, string? mac = null, uint vsid = 5001, string rule = "Encap") =>
        JsonSerializer.Serialize(new { customerAddress = ca, virtualSubnetId = vsid, macAddress = mac ?? "00-15-5D-00-00-" + IpAddr.Parse(ca).ToString().Split('.')[^1].PadLeft(2, '0')[^2..], providerAddress = pa, rule });

    private static string Route(string prefix) =>
        JsonSerializer.Serialize(new { routingDomainId = "{11111111-2222-3333-4444-000000000000}", virtualSubnetId = 5001, destinationPrefix = prefix, nextHop = "0.0.0.0" });

    private static string Mac(int writer, int i) => string.Create(CultureInfo.InvariantCulture, $"00-15-5D-{writer:X2}-{i >> 8:X2}-{i & 0xff:X2}");

    private long Put(string key, string value) => Etcd.PutAsync(key, value).GetAwaiter().GetResult();

    private List<string> Cas() => [.. Store.Current.Config.LookupRecords.Select(r => r.CustomerAddress.ToString())];

    private string Pa(string ca) => Store.Current.Config.LookupRecords.Single(r => r.CustomerAddress.ToString() == ca).ProviderAddress.ToString();

    private void WaitApplied(long revision) =>
        Assert.That(WaitFor(() => Source.AppliedRevision >= revision), Is.True, $"revision {revision} applied; log:\n{Log}");

    private void WaitLogged(string text) =>
        Assert.That(WaitFor(() => _log.Any(l => l.Contains(text, StringComparison.Ordinal))), Is.True, $"logged \"{text}\"; log:\n{Log}");

    private static bool WaitFor(Func<bool> condition) => TestWait.Until(condition, seconds: 30, pollMs: 20);
}
