using System.Net;
using System.Text.Json.Nodes;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary>The <c>control</c> section: where nvdp run serves its control API, validated like the rest of the file.</summary>
public partial class ConfigLoaderTests
{
    [Test]
    public void Without_a_control_section_the_api_is_on_the_default_unix_socket()
    {
        var control = ConfigLoader.Load(SpecExample).Config!.Control;
        Assert.That(control.Listen.SocketPath, Is.EqualTo("/run/nvdp/nvdp.sock"));
        Assert.That(control.TokenFile, Is.Null);
        Assert.That(control.MaxRequestBytes, Is.EqualTo(64L << 20));
    }

    [Test]
    public void A_control_section_gives_the_listener_token_file_and_body_limit()
    {
        var result = LoadSpecWith(c => c["control"] = JsonNode.Parse("""{ "listen": "tcp:0.0.0.0:9900", "tokenFile": "/etc/nvdp/token", "maxRequestBytes": 4096 }"""));
        Assert.That(result.Problems, Is.Empty);
        var control = result.Config!.Control;
        Assert.That(control.Listen.Tcp, Is.EqualTo(new IPEndPoint(IPAddress.Any, 9900)));
        Assert.That(control.TokenFile, Is.EqualTo("/etc/nvdp/token"));
        Assert.That(control.MaxRequestBytes, Is.EqualTo(4096));
        Assert.That(LoadSpecWith(c => c["control"] = JsonNode.Parse("""{ "listen": "off" }""")).Config!.Control.Listen.IsOff, Is.True);
        Assert.That(LoadSpecWith(c => c["control"] = JsonNode.Parse("""{ "listen": "tcp:[::1]:9900" }""")).Config!.Control.Listen.ToString(), Is.EqualTo("tcp:[::1]:9900"));
    }

    [TestCase("""{ "listen": "tcp:0.0.0.0:9900" }""", "$.control.listen", "tcp:0.0.0.0:9900 is not a loopback address")]
    [TestCase("""{ "listen": "tcp:10.0.0.1:9900" }""", "$.control.listen", "set tokenFile")]
    [TestCase("""{ "listen": "http://127.0.0.1:9900" }""", "$.control.listen", "\"http://127.0.0.1:9900\" is not a listener; use unix:PATH")]
    [TestCase("""{ "listen": "unix:relative.sock" }""", "$.control.listen", "needs an absolute socket path")]
    [TestCase("""{ "listen": "tcp:localhost:9900" }""", "$.control.listen", "needs an IP address and a port")]
    [TestCase("""{ "listen": "tcp:::1:9900" }""", "$.control.listen", "needs an IP address and a port")]
    [TestCase("""{ "listen": "tcp:127.0.0.1:70000" }""", "$.control.listen", "needs an IP address and a port")]
    [TestCase("""{ "tokenFile": "token.txt" }""", "$.control.tokenFile", "is not an absolute path")]
    [TestCase("""{ "maxRequestBytes": 10 }""", "$.control.maxRequestBytes", "10 is out of range; use 1024..134217728")]
    [TestCase("""{ "maxRequestBytes": 1073741824 }""", "$.control.maxRequestBytes", "1073741824 is out of range; use 1024..134217728")]
    [TestCase("""{ "port": 9900 }""", "$.control.port", "")]
    [TestCase("""{ "listen": 9900 }""", "$.control.listen", "")]
    public void A_bad_control_section_is_named_by_its_path(string control, string path, string message)
    {
        var problem = SingleProblem(c => c["control"] = JsonNode.Parse(control), path);
        Assert.That(problem.Message, Does.Contain(message));
    }
}
