using NvDataplane.Policy;

namespace NvDataplane.Tests.Policy;

/// <summary><c>policySource</c>: an etcd URL, validated like the rest of the file.</summary>
public partial class ConfigLoaderTests
{
    [Test]
    public void Without_a_policy_source_the_file_alone_is_the_policy()
    {
        Assert.That(ConfigLoader.Load(SpecExample).Config!.PolicySource, Is.Null);
    }

    [TestCase("etcd://127.0.0.1:2379/nvdp", "/nvdp", "http://127.0.0.1:2379/")]
    [TestCase("etcd://10.0.0.5:2379,10.0.0.6:2379,etcd3.example:12379/nvdp/dc1/", "/nvdp/dc1", "http://10.0.0.5:2379/ http://10.0.0.6:2379/ http://etcd3.example:12379/")]
    [TestCase("ETCD://etcd.example/p", "/p", "http://etcd.example:2379/")]
    [TestCase("etcd://[2001:db8::5]:2379,[::1]/nvdp", "/nvdp", "http://[2001:db8::5]:2379/ http://[::1]:2379/")]
    public void An_etcd_url_gives_the_members_and_the_key_prefix(string url, string prefix, string endpoints)
    {
        var result = LoadSpecWith(c => c["policySource"] = url);

        Assert.That(result.Problems, Is.Empty);
        var source = result.Config!.PolicySource!;
        Assert.That(source.Url, Is.EqualTo(url));
        Assert.That(source.Prefix, Is.EqualTo(prefix));
        Assert.That(string.Join(' ', source.Endpoints), Is.EqualTo(endpoints));
    }

    [TestCase("http://127.0.0.1:2379/nvdp", "\"http://127.0.0.1:2379/nvdp\" is not an etcd URL; use etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp")]
    [TestCase("etcd://127.0.0.1:2379", "\"etcd://127.0.0.1:2379\" names no key prefix; add one after the address, e.g. etcd://127.0.0.1:2379/nvdp")]
    [TestCase("etcd://127.0.0.1:2379/", "\"etcd://127.0.0.1:2379/\" names no key prefix; add one after the address, e.g. etcd://127.0.0.1:2379/nvdp")]
    [TestCase("etcd://127.0.0.1:99999/nvdp", "\"etcd://127.0.0.1:99999/nvdp\": port \"99999\" of \"127.0.0.1:99999\" is not a number in 1..65535; use etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp, several members separated by commas")]
    [TestCase("etcd://a:1,,b:2/nvdp", "\"etcd://a:1,,b:2/nvdp\": a member address is empty; use etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp, several members separated by commas")]
    [TestCase("etcd://::1:2379/nvdp", "\"etcd://::1:2379/nvdp\": \"::1\" is not a host name or IPv4 address (write an IPv6 address in brackets); use etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp, several members separated by commas")]
    [TestCase("etcd://[10.0.0.1]:2379/nvdp", "\"etcd://[10.0.0.1]:2379/nvdp\": \"10.0.0.1\" in brackets is not an IPv6 address; use etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp, several members separated by commas")]
    [TestCase("etcd://127.0.0.1:2379/nvdp?x=1", "\"etcd://127.0.0.1:2379/nvdp?x=1\" has a space, control character, '?', '#' or '@'; use etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp (no query, fragment or user)")]
    public void A_bad_policy_source_is_reported_at_its_path(string url, string message)
    {
        var result = LoadSpecWith(c => c["policySource"] = url);

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[] { "$.policySource: " + message }));
    }

    [Test]
    public void A_policy_source_that_is_not_a_string_is_reported()
    {
        var result = LoadSpecWith(c => c["policySource"] = 2379);

        Assert.That(result.Problems.Select(p => p.ToString()), Is.EqualTo(new[] { "$.policySource: expected an etcd URL such as etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp, got the number 2379" }));
    }
}
