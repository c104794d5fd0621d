using System.Net;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Io;
using static NvDataplane.Tests.Pipeline.TestFrames;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// <c>POST /v1/trace</c> and <c>GET /v1/capture</c> over the in-process host, and the
/// <c>nvdp trace</c> / <c>nvdp capture</c> verbs against it: a trace follows the live policy, a
/// capture holds the frames the in-memory ports took in, and every refusal is a problem.
/// </summary>
public partial class ControlApiTests
{
    /// <summary>A UDP frame from Red-1 (10.1.1.7) to <paramref name="destination"/>, through the gateway MAC.</summary>
    private static byte[] RedFrame(string destination) => Concat(
        Eth("00-15-5D-FF-FF-FF", "00-15-5D-00-00-01", 0x0800),
        Ipv4Of("10.1.1.7", destination, 17, UdpOf(1024, 4789, new byte[22])));

    private static string TraceBody(string port, byte[] frame) => $$"""{ "port": "{{port}}", "frame": "{{Convert.ToHexString(frame)}}" }""";

    private static byte[] Pcap(params byte[][] frames)
    {
        using var stream = new MemoryStream();
        using (var writer = new PcapWriter(stream, leaveOpen: true))
        {
            foreach (var f in frames)
            {
                writer.Write(1_700_000_000_000_000_000, f);
            }
        }

        return stream.ToArray();
    }

    private static async Task<List<CapturedFrame>> ReadCapture(byte[] pcapng)
    {
        var frames = new List<CapturedFrame>();
        await using var reader = new CaptureReader(new MemoryStream(pcapng), "capture");
        while (await reader.ReadNextAsync() is { } f)
        {
            frames.Add(f);
        }

        return frames;
    }

    [Test]
    public void Trace_follows_the_live_policy_a_drop_becomes_an_encap_once_a_record_is_added()
    {
        using var host = new ControlApiHost();
        var dropped = host.Request(HttpMethod.Post, ControlApi.TracePath, TraceBody("red1", RedFrame("10.1.1.9")));
        Assert.That(dropped.Status, Is.EqualTo(HttpStatusCode.OK), dropped.Body);
        var trace = Json(dropped.Body).GetProperty("traces")[0];
        Assert.That(trace.GetProperty("actual").GetProperty("fate").GetString(), Is.EqualTo("dropped"));
        Assert.That(trace.GetProperty("actual").GetProperty("dropReason").GetString(), Is.EqualTo("no_lookup_record"));
        Assert.That(trace.GetProperty("agrees").GetBoolean(), Is.True);

        Assert.That(host.Request(HttpMethod.Post, "/v1/lookup-records", Red9).Status, Is.EqualTo(HttpStatusCode.OK));
        var encapsulated = Json(host.Request(HttpMethod.Post, ControlApi.TracePath, TraceBody("red1", RedFrame("10.1.1.9"))).Body);
        Assert.That(encapsulated.GetProperty("policyVersion").GetInt64(), Is.EqualTo(2));
        var actual = encapsulated.GetProperty("traces")[0].GetProperty("actual");
        Assert.That(actual.GetProperty("fate").GetString(), Is.EqualTo("forwarded"));
        Assert.That(encapsulated.GetProperty("traces")[0].GetProperty("explained").GetProperty("summary").GetString(), Does.Contain("192.168.1.12"));
        var egress = actual.GetProperty("egress")[0];
        Assert.That(egress.GetProperty("port").GetString(), Is.EqualTo("pnic0"));
        Assert.That(ControlApiHost.OuterDestination(Convert.FromHexString(egress.GetProperty("frames")[0].GetString()!)), Is.EqualTo("192.168.1.12"));
        Assert.That(host.Worker.Forwarder.Counters.Drop(NvDataplane.Diagnostics.DropReason.NoLookupRecord), Is.Zero, "a trace never goes through the worker");
    }

    [Test]
    public void Trace_of_an_uploaded_capture_traces_every_frame_in_order()
    {
        using var host = new ControlApiHost();
        string body = $$"""{ "port": "red1", "pcap": "{{Convert.ToBase64String(Pcap(RedFrame("10.1.1.8"), RedFrame("10.1.1.9")))}}" }""";
        var reply = host.Request(HttpMethod.Post, ControlApi.TracePath, body);
        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK), reply.Body);
        var traces = Json(reply.Body).GetProperty("traces").EnumerateArray().Select(t => t.GetProperty("explained")).ToArray();
        Assert.That(traces.Select(t => t.GetProperty("fate").GetString()), Is.EqualTo(new[] { "forwarded", "dropped" }));
        Assert.That(traces[0].GetProperty("summary").GetString(), Does.Contain("192.168.1.11"));
    }

    [TestCase("""{ "port": "red1", "frame": "00155d0" }""", HttpStatusCode.BadRequest, "frame: ")]
    [TestCase("""{ "port": "red1", "frame": "zz" }""", HttpStatusCode.BadRequest, "frame: ")]
    [TestCase("""{ "port": "red1" }""", HttpStatusCode.BadRequest, "one of frame and pcap")]
    [TestCase("""{ "port": "red1", "frame": "00", "pcap": "AA==" }""", HttpStatusCode.BadRequest, "one of frame and pcap")]
    [TestCase("""{ "frame": "00" }""", HttpStatusCode.BadRequest, "\"port\": NAME")]
    [TestCase("""{ "port": "blue7", "frame": "00155d000001" }""", HttpStatusCode.UnprocessableEntity, "no port named 'blue7'; the ports are pnic0, red1")]
    [TestCase("""{ "port": "red1", "pcap": "not base64!" }""", HttpStatusCode.BadRequest, "pcap: not base64")]
    [TestCase("""{ "port": "red1", "pcap": "aGVsbG8gd29ybGQsIG5vdCBhIGNhcHR1cmUgYXQgYWxs" }""", HttpStatusCode.UnprocessableEntity, "pcap: ")]
    public void Trace_refuses_what_it_cannot_trace_with_a_problem(string body, HttpStatusCode status, string detail)
    {
        using var host = new ControlApiHost();
        AssertProblem(host.Request(HttpMethod.Post, ControlApi.TracePath, body), status, detail);
    }

    [Test]
    public async Task Capture_streams_the_frames_the_port_took_in_and_ends_after_count()
    {
        using var host = new ControlApiHost();
        using var response = await host.Client.Http.GetAsync(ControlApi.CapturePath + "?port=red1&count=2", HttpCompletionOption.ResponseHeadersRead);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo(ControlApi.PcapNgContentType));
        Assert.That(host.Worker.CaptureArmed, Is.True, "armed before the headers went out");

        host.SendFromRed("10.1.1.8");
        host.SendFromRed("10.1.1.9");
        host.SendFromRed("10.1.1.8"); // after the count: not in the file
        Assert.That(host.Worker.CaptureArmed, Is.False, "the count disarmed the capture");

        using var read = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // a hang guard only
        var frames = await ReadCapture(await response.Content.ReadAsByteArrayAsync(read.Token));
        Assert.That(frames.Select(f => Convert.ToHexString(f.Data)), Is.EqualTo(new[] { Convert.ToHexString(RedFrame("10.1.1.8")), Convert.ToHexString(RedFrame("10.1.1.9")) }));
    }

    [Test]
    public async Task Capture_that_times_out_is_a_complete_empty_file_and_disarms_the_worker()
    {
        using var host = new ControlApiHost();
        var bytes = await host.Client.Http.GetByteArrayAsync(ControlApi.CapturePath + "?port=pnic0&count=5&timeout=1&drops=true");
        Assert.That(await ReadCapture(bytes), Is.Empty);
        Assert.That(host.Worker.CaptureArmed, Is.False);
    }

    [Test]
    public async Task Capture_stops_when_the_client_goes_away()
    {
        using var host = new ControlApiHost();
        var response = await host.Client.Http.GetAsync(ControlApi.CapturePath + "?port=red1&count=100&timeout=600", HttpCompletionOption.ResponseHeadersRead);
        Assert.That(host.Worker.CaptureArmed, Is.True);
        response.Dispose();
        host.Client.Dispose(); // closes the connection

        // Waits for the server to see the connection close; the capture's own timeout is 10 minutes.
        for (int i = 0; i < 600 && host.Worker.CaptureArmed; i++)
        {
            await Task.Delay(50);
        }

        Assert.That(host.Worker.CaptureArmed, Is.False, "the worker stopped copying");
    }

    [TestCase("?count=5", HttpStatusCode.BadRequest, "name the port")]
    [TestCase("?port=red1", HttpStatusCode.BadRequest, "count: ")]
    [TestCase("?port=red1&count=0", HttpStatusCode.BadRequest, "count: ")]
    [TestCase("?port=red1&count=1000001", HttpStatusCode.BadRequest, "count: ")]
    [TestCase("?port=red1&count=5&timeout=0", HttpStatusCode.BadRequest, "timeout: ")]
    [TestCase("?port=red1&count=5&drops=maybe", HttpStatusCode.BadRequest, "drops: ")]
    [TestCase("?port=blue7&count=5", HttpStatusCode.UnprocessableEntity, "no port named 'blue7'")]
    public void Capture_refuses_bad_requests_with_a_problem_and_arms_nothing(string query, HttpStatusCode status, string detail)
    {
        using var host = new ControlApiHost();
        AssertProblem(host.Request(HttpMethod.Get, ControlApi.CapturePath + query), status, detail);
        Assert.That(host.Worker.CaptureArmed, Is.False);
    }

    [Test]
    public void Cli_trace_prints_the_steps_or_the_json_and_exits_2_on_a_refusal()
    {
        using var host = new ControlApiHost();
        string server = "unix:" + host.SocketPath;
        string hex = Convert.ToHexString(RedFrame("10.1.1.8"));
        var (code, output, error) = CliTests.Nvdp("trace", "--server", server, "--port", "red1", "--frame", hex);
        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("in on red1 (vm)").And.Contain("192.168.1.11"));

        using var temp = new TempDir();
        string pcap = Path.Combine(temp.Path, "in.pcap");
        File.WriteAllBytes(pcap, Pcap(RedFrame("10.1.1.9")));
        (code, output, error) = CliTests.Nvdp("trace", "--server", server, "--port", "red1", "--pcap", pcap, "--format", "json");
        Assert.That(code, Is.Zero, error);
        Assert.That(Json(output).GetProperty("traces")[0].GetProperty("actual").GetProperty("dropReason").GetString(), Is.EqualTo("no_lookup_record"));

        (code, _, error) = CliTests.Nvdp("trace", "--server", server, "--port", "blue7", "--frame", hex);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("no port named 'blue7'"));
        (code, _, error) = CliTests.Nvdp("trace", "--server", server, "--port", "red1");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--frame HEX or --pcap FILE"));
        (code, _, _) = CliTests.Nvdp("trace", "--server", "unix:" + Path.Combine(temp.Path, "none.sock"), "--port", "red1", "--frame", hex);
        Assert.That(code, Is.EqualTo(1), "daemon unreachable");
    }

    [Test]
    public void Cli_capture_reads_the_lost_count_from_the_closing_statistics_block()
    {
        using var stream = new MemoryStream();
        using (var writer = new PcapNgWriter(stream, "red1", leaveOpen: true))
        {
            writer.Write(1, RedFrame("10.1.1.8"), RedFrame("10.1.1.8").Length, PcapNgDirection.Inbound);
            writer.WriteStatistics(2, lost: 7, delivered: 1);
        }

        Assert.That(NvDataplane.Cli.CaptureCommand.LostOf(stream.ToArray()), Is.EqualTo(7));
        Assert.That(NvDataplane.Cli.CaptureCommand.LostOf(stream.ToArray().AsSpan(0, (int)stream.Length - 52)), Is.Zero, "no statistics block: nothing known lost");
    }

    // The whole file was read into memory to find the block at its end: memory of the file's
    // size, and over 2 GiB File.ReadAllBytes refused with a message that named no file.
    [Test]
    public async Task Cli_capture_reads_the_lost_count_from_the_end_of_a_file_over_2_GiB()
    {
        using var temp = new TempDir();
        string file = Path.Combine(temp.Path, "big.pcapng");
        byte[] statistics;
        using (var stream = new MemoryStream())
        {
            using (var writer = new PcapNgWriter(stream, "red1", leaveOpen: true))
            {
                writer.WriteStatistics(2, lost: 7, delivered: 1);
            }

            statistics = stream.ToArray()[^52..];
        }

        await using (var big = new FileStream(file, FileMode.CreateNew))
        {
            // Sparse: 3 GiB of nothing on disk, then the statistics block.
            big.SetLength(3L << 30);
            big.Seek(0, SeekOrigin.End);
            await big.WriteAsync(statistics);
        }

        // Counted on every thread: the awaits below may resume on another thread than this one,
        // whose own counter then says nothing about the call (it once read 5 MB that way).
        long before = GC.GetTotalAllocatedBytes(precise: true);
        Assert.That(await NvDataplane.Cli.CaptureCommand.LostOfFileAsync(file), Is.EqualTo(7));
        Assert.That(GC.GetTotalAllocatedBytes(precise: true) - before, Is.LessThan(1 << 20), "the block, not the file");
    }

    [Test]
    public async Task Cli_capture_writes_the_file_and_prints_frames_and_lost()
    {
        using var host = new ControlApiHost();
        using var temp = new TempDir();
        string file = Path.Combine(temp.Path, "red1.pcapng");
        var run = Task.Run(() => CliTests.Nvdp("capture", "--server", "unix:" + host.SocketPath, "--port", "red1", "--count", "2", "-w", file, "--format", "json"));
        for (int i = 0; i < 1200 && !host.Worker.CaptureArmed && !run.IsCompleted; i++)
        {
            await Task.Delay(50);
        }

        Assert.That(host.Worker.CaptureArmed, Is.True, "the capture was armed");
        host.SendFromRed("10.1.1.8");
        host.SendFromRed("10.1.1.8");
        var (code, output, error) = await run;
        Assert.That(code, Is.Zero, error);
        var summary = Json(output);
        Assert.That(summary.GetProperty("frames").GetInt64(), Is.EqualTo(2));
        Assert.That(summary.GetProperty("lost").GetInt64(), Is.Zero);
        Assert.That(await ReadCapture(await File.ReadAllBytesAsync(file)), Has.Count.EqualTo(2));

        (code, _, error) = CliTests.Nvdp("capture", "--server", "unix:" + host.SocketPath, "--port", "blue7", "--count", "2", "-w", Path.Combine(temp.Path, "none.pcapng"));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("no port named 'blue7'"));
        Assert.That(File.Exists(Path.Combine(temp.Path, "none.pcapng")), Is.False, "no file for a refused capture");
    }
}
