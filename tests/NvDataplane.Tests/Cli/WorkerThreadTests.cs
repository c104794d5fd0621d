using System.Text.Json;
using NvDataplane.Cli;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// Whatever ends <c>nvdp run</c>'s forwarding worker, the daemon is asked to stop and the log says
/// why: a failing device is <c>device_failed</c>, a defect of nvdp's own is <c>worker_failed</c>
/// naming the exception, with the stack trace on a <c>worker_failed_detail</c> line of its own;
/// the exit code is 1 either way, and 0 with nothing logged when a stop ended the worker.
/// </summary>
public class WorkerThreadTests
{
    /// <summary>The events <see cref="WorkerThread.Run"/> logged (JSON), and how often it asked for a stop.</summary>
    private static (int ExitCode, int Stops, List<(string Level, string Event, string Message)> Events) Run(Func<int> work)
    {
        using var output = new StringWriter();
        int stops = 0;
        int exitCode = WorkerThread.Run(work, new EventLog(output, json: true), () => stops++);
        var events = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            return (e.GetProperty("level").GetString()!, e.GetProperty("event").GetString()!, e.GetProperty("message").GetString()!);
        }).ToList();
        return (exitCode, stops, events);
    }

    private static int ThrowDefect() => throw new InvalidOperationException("slot 7 is not in the batch\nof 4");

    [Test]
    public void A_defect_in_the_worker_is_worker_failed_naming_the_exception_and_stops_the_daemon_with_exit_1()
    {
        var (exitCode, stops, events) = Run(ThrowDefect);

        Assert.That(exitCode, Is.EqualTo(Program.ExitFailure));
        Assert.That(stops, Is.EqualTo(1));
        Assert.That(events[0], Is.EqualTo(("error", "worker_failed",
            "internal error in the forwarding worker, please report it: InvalidOperationException: slot 7 is not in the batch of 4")),
            "the type and the message on one line, no stack trace");
        Assert.That(events[0].Message, Does.Not.Contain(nameof(ThrowDefect)));
    }

    [Test]
    public void The_stack_trace_of_a_defect_follows_on_one_worker_failed_detail_line()
    {
        var (_, _, events) = Run(ThrowDefect);

        Assert.That(events, Has.Count.EqualTo(2));
        Assert.That(events[1].Level, Is.EqualTo("debug"));
        Assert.That(events[1].Event, Is.EqualTo("worker_failed_detail"));
        Assert.That(events[1].Message, Does.StartWith("System.InvalidOperationException: slot 7 is not in the batch of 4")
            .And.Contain($"{nameof(WorkerThreadTests)}.{nameof(ThrowDefect)}")
            .And.Not.Contain('\n'));
    }

    [Test]
    public void The_text_log_says_a_defect_in_two_lines_of_its_own_format()
    {
        using var output = new StringWriter();
        WorkerThread.Run(ThrowDefect, new EventLog(output, json: false), () => { });

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(2), "one line per event, the stack trace included");
        Assert.That(lines[0], Does.Contain(" error   worker_failed: internal error in the forwarding worker, please report it: InvalidOperationException: "));
        Assert.That(lines[1], Does.Contain(" debug   worker_failed_detail: System.InvalidOperationException: "));
    }

    [Test]
    public void A_failing_device_is_device_failed_with_its_message_and_exit_1()
    {
        var (exitCode, stops, events) = Run(() => throw new IOException("tap red1: the device went away"));

        Assert.That(exitCode, Is.EqualTo(Program.ExitFailure));
        Assert.That(stops, Is.EqualTo(1));
        Assert.That(events, Is.EqualTo(new[] { ("error", "device_failed", "tap red1: the device went away") }));
    }

    [Test]
    public void A_worker_that_a_stop_ended_exits_0_saying_nothing()
    {
        var (exitCode, stops, events) = Run(() => Program.ExitOk);

        Assert.That(exitCode, Is.EqualTo(Program.ExitOk));
        Assert.That(stops, Is.Zero);
        Assert.That(events, Is.Empty);
    }

    [Test]
    public void A_worker_that_could_not_start_stops_the_daemon_with_its_exit_code_having_said_why_itself()
    {
        var (exitCode, stops, events) = Run(() => Program.ExitFailure);

        Assert.That(exitCode, Is.EqualTo(Program.ExitFailure));
        Assert.That(stops, Is.EqualTo(1));
        Assert.That(events, Is.Empty);
    }

    [Test]
    public void Out_of_memory_is_left_to_end_the_process()
    {
        // InsufficientMemoryException is an OutOfMemoryException a program may throw (the runtime reserves the base type).
        using var output = new StringWriter();
        Assert.Throws<InsufficientMemoryException>(() => WorkerThread.Run(() => throw new InsufficientMemoryException(), new EventLog(output, json: false), () => { }));
        Assert.That(output.ToString(), Is.Empty);
    }
}
