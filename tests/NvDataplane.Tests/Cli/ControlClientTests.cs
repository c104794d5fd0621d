using System.Net.Sockets;
using NvDataplane.Cli.Control;

namespace NvDataplane.Tests.Cli;

/// <summary>The CLI's client against a daemon that takes the connection and never answers.</summary>
public class ControlClientTests
{
    [Test]
    public void A_daemon_that_does_not_answer_is_unreachable_with_a_reason_not_an_exception()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "mute.sock");
        using var mute = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        mute.Bind(new UnixDomainSocketEndPoint(path));
        mute.Listen(8); // the kernel takes the connections; nobody reads them
        var (client, error) = ControlClient.Create("unix:" + path, null);
        Assert.That(client, Is.Not.Null, error);
        using (client)
        {
            client!.Http.Timeout = TimeSpan.FromSeconds(1);
            Assert.That(client.Send(HttpMethod.Get, "/v1/stats", null, out string? why), Is.Null);
            Assert.That(why, Does.Contain("did not answer within 1 s"));
            Assert.That(client.Download("/v1/capture?port=red1&count=1", () => Stream.Null, out why), Is.Null);
            Assert.That(why, Does.Contain("did not answer within 1 s"));
        }
    }
}
