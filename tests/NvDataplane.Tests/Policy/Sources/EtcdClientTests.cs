using System.Text;
using NvDataplane.Policy.Sources;

namespace NvDataplane.Tests.Policy.Sources;

/// <summary>The hand-written gateway client against a real etcd: ranges (paged), the watch stream, compaction, errors, members in turn.</summary>
[NonParallelizable]
public class EtcdClientTests
{
    private TestEtcd? _etcd;
    private EtcdClient? _client;

    private EtcdClient Client => _client!;

    [SetUp]
    public void StartEtcd()
    {
        _etcd = TestEtcd.Start();
        _client = _etcd.Client();
    }

    [TearDown]
    public void StopEtcd()
    {
        _client?.Dispose();
        _etcd?.Dispose();
    }

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Test]
    public void A_range_reads_the_prefix_in_key_order_and_pages_with_more()
    {
        foreach (var k in new[] { "/p/b", "/p/a", "/p/c", "/q/a" })
        {
            Client.PutAsync(k, "v" + k).GetAwaiter().GetResult();
        }

        var prefix = Bytes("/p/");
        var all = Client.RangeAsync(prefix, EtcdClient.PrefixEnd(prefix), 0, 0, CancellationToken.None).GetAwaiter().GetResult();
        Assert.That(all.Kvs.Select(kv => Encoding.UTF8.GetString(kv.Key)), Is.EqualTo(new[] { "/p/a", "/p/b", "/p/c" }));
        Assert.That(Encoding.UTF8.GetString(all.Kvs[0].Value), Is.EqualTo("v/p/a"));
        Assert.That(all.More, Is.False);
        Assert.That(all.Revision, Is.EqualTo(5), "four puts after the empty store's revision 1");

        var page = Client.RangeAsync(prefix, EtcdClient.PrefixEnd(prefix), all.Revision, 2, CancellationToken.None).GetAwaiter().GetResult();
        Assert.That(page.Kvs, Has.Count.EqualTo(2));
        Assert.That(page.More, Is.True);
    }

    [Test]
    public void The_prefix_end_is_the_next_key_after_every_key_with_the_prefix()
    {
        Assert.That(EtcdClient.PrefixEnd(Bytes("/nvdp/")), Is.EqualTo(Bytes("/nvdp0")));
        Assert.That(EtcdClient.PrefixEnd([0x61, 0xff]), Is.EqualTo(new byte[] { 0x62 }));
    }

    [Test]
    public void The_watch_streams_puts_and_deletes_from_its_start_revision()
    {
        long first = Client.PutAsync("/w/a", "1").GetAwaiter().GetResult();
        Client.PutAsync("/w/b", "2").GetAwaiter().GetResult();
        Client.DeleteAsync("/w/a").GetAwaiter().GetResult();
        Client.PutAsync("/x/outside", "3").GetAwaiter().GetResult();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang guard
        var prefix = Bytes("/w/");
        var events = new List<EtcdEvent>();
        bool created = false;
        var watch = Client.WatchAsync(prefix, EtcdClient.PrefixEnd(prefix), first, timeout.Token).GetAsyncEnumerator(timeout.Token);
        try
        {
            while (events.Count < 3 && watch.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                created |= watch.Current.Created;
                events.AddRange(watch.Current.Events);
            }
        }
        finally
        {
            watch.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        Assert.That(created, Is.True);
        Assert.That(events.Select(e => (e.IsDelete, Encoding.UTF8.GetString(e.Key), e.Value is null ? null : Encoding.UTF8.GetString(e.Value), e.ModRevision)), Is.EqualTo(new[]
        {
            (false, "/w/a", (string?)"1", first),
            (false, "/w/b", "2", first + 1),
            (true, "/w/a", null, first + 2),
        }));
    }

    [Test]
    public void A_watch_from_a_compacted_revision_is_canceled_with_the_compact_revision()
    {
        long first = Client.PutAsync("/w/a", "1").GetAwaiter().GetResult();
        long last = Client.PutAsync("/w/a", "2").GetAwaiter().GetResult();
        Client.CompactAsync(last).GetAwaiter().GetResult();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var prefix = Bytes("/w/");
        EtcdWatchResponse? canceled = null;
        var watch = Client.WatchAsync(prefix, EtcdClient.PrefixEnd(prefix), first, timeout.Token).GetAsyncEnumerator(timeout.Token);
        try
        {
            while (canceled is null && watch.MoveNextAsync().AsTask().GetAwaiter().GetResult())
            {
                canceled = watch.Current.Canceled ? watch.Current : null;
            }
        }
        finally
        {
            watch.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        Assert.That(canceled, Is.Not.Null);
        Assert.That(canceled!.CompactRevision, Is.EqualTo(last));

        var error = Assert.Throws<EtcdException>(() => Client.RangeAsync(prefix, EtcdClient.PrefixEnd(prefix), first, 0, CancellationToken.None).GetAwaiter().GetResult());
        Assert.That(error!.IsCompacted, Is.True, error.Message);
        Assert.That(error.Message, Does.Contain("required revision has been compacted"));
    }

    [Test]
    public void A_watch_whose_member_hangs_ends_as_unreachable_and_the_next_call_goes_to_the_next_member()
    {
        var next = new Uri($"http://127.0.0.1:{TestEtcd.FreePort()}/");
        using var client = new EtcdClient([_etcd!.Endpoint, next], null, TimeSpan.FromMilliseconds(200));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang guard
        var prefix = Bytes("/h/");
        var watch = client.WatchAsync(prefix, EtcdClient.PrefixEnd(prefix), 0, timeout.Token).GetAsyncEnumerator(timeout.Token);
        try
        {
            Assert.That(watch.MoveNextAsync().AsTask().GetAwaiter().GetResult() && watch.Current.Created, Is.True, "the watch is in place");
            _etcd.Pause();
            var error = Assert.Throws<EtcdUnreachableException>(() => watch.MoveNextAsync().AsTask().GetAwaiter().GetResult());
            Assert.That(error!.Message, Does.StartWith($"the watch on {_etcd.Endpoint} was given up: {_etcd.Endpoint} did not answer within 3 s"));
            Assert.That(client.Endpoint, Is.EqualTo(next), "moved past the hung member, once");
        }
        finally
        {
            _etcd.Resume();
            watch.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    [Test]
    public void Two_failures_of_one_member_move_the_client_past_it_once()
    {
        // A watch that breaks as its probe fails: both report the member; the second must not
        // also skip the healthy member after it.
        Uri a = new("http://127.0.0.1:1/"), b = new("http://127.0.0.1:2/"), c = new("http://127.0.0.1:3/");
        using var client = new EtcdClient([a, b, c]);
        client.MoveOff(a);
        client.MoveOff(a);
        Assert.That(client.Endpoint, Is.EqualTo(b));
        client.MoveOff(b);
        Assert.That(client.Endpoint, Is.EqualTo(c));
        client.MoveOff(c);
        Assert.That(client.Endpoint, Is.EqualTo(a), "round again");
    }

    [Test]
    public void A_member_that_cannot_be_reached_sends_the_next_call_to_the_next_member()
    {
        using var client = new EtcdClient([new Uri($"http://127.0.0.1:{TestEtcd.FreePort()}/"), _etcd!.Endpoint]);

        var error = Assert.Throws<EtcdUnreachableException>(() => client.PutAsync("/m/a", "1").GetAwaiter().GetResult());
        Assert.That(error!.Message, Does.Contain("cannot be reached"));
        Assert.That(client.Endpoint, Is.EqualTo(_etcd.Endpoint));
        Assert.That(client.PutAsync("/m/a", "1").GetAwaiter().GetResult(), Is.GreaterThan(1));
    }
}
