using System.Text.Json;
using NvDataplane.Io;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>
/// Forwarding threads say which policy version they decide frames with (PolicyReader), and a
/// change is answered only once every busy one has taken it: a caller holding its answer knows
/// the change is in effect.
/// </summary>
public class PolicyReaderTests
{
    private static PolicyStore NewStore() => new(PolicySnapshot.Build(new SyntheticTraffic(TrafficScenario.Encap, 10, 64).Config));

    [Test]
    public void A_version_is_seen_when_every_reader_is_on_it_or_later_or_idle()
    {
        var store = NewStore();
        Assert.That(store.WaitUntilSeen(store.Current.Version + 1, TimeSpan.Zero), Is.True, "no reader: nothing to wait for");

        using var busy = store.AddReader();
        var reader = store.AddReader();
        long v = store.Current.Version;
        Assert.That(busy.Begin(v).Version, Is.EqualTo(v));
        busy.Using(v);
        Assert.That(store.WaitUntilSeen(v + 1, TimeSpan.FromMilliseconds(20)), Is.False, "a reader still on the old version");

        busy.Using(v + 1);
        Assert.That(store.WaitUntilSeen(v + 1, TimeSpan.Zero), Is.True, "the other reader never began: idle");

        reader.Begin(v);
        Assert.That(store.WaitUntilSeen(v + 1, TimeSpan.Zero), Is.False, "busy on the old version from Begin on");
        reader.Idle();
        Assert.That(store.WaitUntilSeen(v + 1, TimeSpan.Zero), Is.True);

        reader.Begin(v);
        reader.Dispose();
        Assert.That(store.WaitUntilSeen(v + 1, TimeSpan.Zero), Is.True, "a reader that stopped is not waited for");
    }

    [Test]
    public void A_change_is_answered_only_once_the_forwarding_thread_uses_it_and_a_stuck_thread_delays_it_only_so_long()
    {
        var store = NewStore();
        var traffic = new SyntheticTraffic(TrafficScenario.Encap, 10, 64);
        using var editor = PolicyEditor.FromText(store, ConfigWriter.Write(traffic.Config));

        // A busy thread takes each version within a batch; the default 10 ms also covers a thread
        // that is stuck, and on a loaded CI host the scheduler can keep the spinning thread off a
        // core longer than that (CI saw it once). Here a long wait so only a wrong answer fails.
        editor.SeenTimeout = TimeSpan.FromSeconds(30);
        using var reader = store.AddReader();
        var forwarder = new Forwarder(store, new BufferPool(8)) { Reader = reader };
        using var stop = new CancellationTokenSource();
        using var started = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                forwarder.BeginBatch();
                started.Set(); // busy from now on, never idle: each answer must wait for a batch
                Thread.SpinWait(20_000); // a batch's work, long enough that an early answer would show
            }
        });
        thread.Start();
        Assert.That(started.Wait(TimeSpan.FromSeconds(10)), Is.True);
        try
        {
            var key = JsonDocument.Parse($$"""{ "virtualSubnetId": {{SyntheticTraffic.Vsid}}, "customerAddress": "{{SyntheticTraffic.RemoteCa(1)}}" }""").RootElement;
            for (int i = 0; i < 200; i++)
            {
                var fields = JsonDocument.Parse($$"""{ "providerAddress": "10.70.0.{{1 + (i % 200)}}" }""").RootElement;
                var result = editor.Apply(new PolicyChange.Set(PolicySection.LookupRecords, key, fields));
                Assert.That(result.Applied, Is.True);
                Assert.That(forwarder.Policy.Version, Is.GreaterThanOrEqualTo(result.Version), $"change {i}: answered before the forwarding thread took it");
            }

            Assert.That(editor.UnseenVersions, Is.Zero);
        }
        finally
        {
            stop.Cancel();
            thread.Join();
        }

        // The thread stopped without saying so (stuck in a device call): the answer still comes, late.
        editor.SeenTimeout = PolicyEditor.DefaultSeenTimeout;
        reader.Using(store.Current.Version);
        var late = editor.Apply(new PolicyChange.Set(
            PolicySection.LookupRecords,
            JsonDocument.Parse($$"""{ "virtualSubnetId": {{SyntheticTraffic.Vsid}}, "customerAddress": "{{SyntheticTraffic.RemoteCa(2)}}" }""").RootElement,
            JsonDocument.Parse("""{ "providerAddress": "10.70.1.1" }""").RootElement));
        Assert.That(late.Applied, Is.True);
        Assert.That(editor.UnseenVersions, Is.EqualTo(1));
    }
}
