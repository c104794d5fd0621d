using System.Text.Json;
using NvDataplane.Pipeline;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Pipeline;

/// <summary>
/// The staged batch path (<see cref="Forwarder.ProcessBatch"/>) must decide exactly as the
/// one-frame path (<see cref="Forwarder.Process"/>) that the golden tests check: same frames out
/// on the same ports in the same order, same counters, for every scenario input.
/// </summary>
public class BatchEquivalenceTests
{
    public static IEnumerable<string> Scenarios => TestPaths.ScenarioNames();

    [TestCaseSource(nameof(Scenarios))]
    public async Task Batch_path_decides_like_the_single_frame_path(string name)
    {
        string dir = Path.Combine(TestPaths.Captures, name);
        using var scenario = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "scenario.json")));
        var config = ConfigLoader.LoadFile(Path.Combine(dir, "config.json")).Config!;
        foreach (var input in scenario.RootElement.GetProperty("inputs").EnumerateArray())
        {
            var frames = await GoldenScenarioTests.ReadAll(Path.Combine(dir, input.GetProperty("file").GetString()!));
            var single = new Forwarder(new PolicyStore(PolicySnapshot.Build(config)), new BufferPool(256));
            var batched = new Forwarder(new PolicyStore(PolicySnapshot.Build(config)), new BufferPool(256));
            int port = single.Policy.FindPort(input.GetProperty("port").GetString()!);

            single.BeginBatch();
            var batch = new List<PacketBuffer>();
            foreach (var f in frames)
            {
                var a = single.Pool.Rent()!;
                a.TrySet(f.Data);
                single.Process(port, a);
                var b = batched.Pool.Rent()!;
                b.TrySet(f.Data);
                batch.Add(b);
            }

            batched.ProcessBatch(port, batch.ToArray());
            for (int p = 0; p < single.PortCount; p++)
            {
                var want = single.PendingTransmit(p).ToArray().Select(x => Convert.ToHexString(x.Frame)).ToList();
                var got = batched.PendingTransmit(p).ToArray().Select(x => Convert.ToHexString(x.Frame)).ToList();
                Assert.That(got, Is.EqualTo(want), $"{name}: port {single.Policy.Ports[p].Name}");
                single.CompleteTransmit(p);
                batched.CompleteTransmit(p);
            }

            Assert.That(batched.Counters.Drops, Is.EqualTo(single.Counters.Drops), $"{name}: drops");
            Assert.That(batched.Counters.PortRx, Is.EqualTo(single.Counters.PortRx), $"{name}: rx");
            Assert.That(batched.Counters.PortTx, Is.EqualTo(single.Counters.PortTx), $"{name}: tx");
            Assert.That(batched.Counters.Forwarded + batched.Counters.Answered, Is.EqualTo(single.Counters.Forwarded + single.Counters.Answered), $"{name}: forwarded + answered");
        }
    }
}
