using System.Net;
using System.Text.Json;
using NvDataplane.Cli.Control;
using NvDataplane.Policy;

namespace NvDataplane.Tests.Cli;

/// <summary>
/// What the batch endpoint relies on in the policy editor: removals and sets in place (a batch of
/// them is not quadratic), document order and problem paths as if the removed entries were gone,
/// and a refused batch that leaves every entry where it was.
/// </summary>
public partial class ControlApiTests
{
    private static string[] CustomerAddresses(ControlApiHost host) =>
        [.. host.Editor.Entries(PolicySection.LookupRecords).Select(e => e.GetProperty("customerAddress").GetString()!)];

    private static string Change(string op, string body) => $$"""{ "op": "{{op}}", "section": "lookupRecords", {{body}} }""";

    [Test]
    public void A_batch_of_a_million_wrong_items_is_refused_with_a_bounded_answer()
    {
        // One problem per item made ten million problems of a 20 MB body (9 GB of memory, a
        // 989 MB answer, seconds of collector pauses); the reader stops after its bound.
        using var host = new ControlApiHost();
        var reply = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",", Enumerable.Repeat("1", 1_000_000)) + "] }");
        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity));
        Assert.That(reply.Body.Length, Is.LessThan(100_000), "the answer lists the first problems, not a million");
        var problems = Json(reply.Body).GetProperty("problems");
        Assert.That(problems.GetArrayLength(), Is.EqualTo(ChangeReader.MaxProblems + 1));
        Assert.That(problems[ChangeReader.MaxProblems].GetProperty("message").GetString(), Does.StartWith($"not read past change {ChangeReader.MaxProblems}"));
        Assert.That(CustomerAddresses(host), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }), "nothing changed");

        // Problems the policy's validation finds, one per entry of a replaced section.
        var entries = Enumerable.Range(0, 3000).Select(i => $$"""{ "customerAddress": "10.1.{{2 + (i / 250)}}.{{1 + (i % 250)}}", "virtualSubnetId": 5001, "macAddress": "nope", "providerAddress": "192.168.1.12" }""");
        var replace = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + Change("replace", "\"entries\": [" + string.Join(",", entries) + "]") + "] }");
        Assert.That(replace.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity));
        Assert.That(Json(replace.Body).GetProperty("problems").GetArrayLength(), Is.EqualTo(Problem.MaxListed));
        Assert.That(Json(replace.Body).GetProperty("detail").GetString(), Does.Contain($"the first {Problem.MaxListed} listed"));
    }

    [Test]
    public void Removed_then_added_again_in_one_batch_an_entry_goes_to_the_end_as_in_a_file_edited_that_way()
    {
        using var host = new ControlApiHost();
        var reply = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",",
            Change("remove", """ "match": { "customerAddress": "10.1.1.8" } """),
            Change("add", $"\"entry\": {Red9}"),
            Change("add", """ "entry": { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.12" } """)) + "] }");
        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK), reply.Body);
        Assert.That(CustomerAddresses(host), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.9", "10.1.1.8" }));
        Assert.That(host.Store.Current.Config.LookupRecords.Select(r => r.CustomerAddress.ToString()), Is.EqualTo(CustomerAddresses(host)), "the running policy in the same order");
        Assert.That(ControlApiHost.OuterDestination(host.SendFromRed("10.1.1.8")!), Is.EqualTo("192.168.1.12"));
    }

    [Test]
    public void A_problem_after_a_removal_in_the_same_batch_names_the_entry_where_the_document_has_it()
    {
        using var host = new ControlApiHost();
        var reply = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",",
            Change("remove", """ "match": { "customerAddress": "10.1.1.7" } """),
            Change("add", """ "entry": { "customerAddress": "10.1.1.8", "virtualSubnetId": 5001, "macAddress": "00-15-5D-00-00-02", "providerAddress": "192.168.1.11" } """)) + "] }");
        AssertProblem(reply, HttpStatusCode.UnprocessableEntity, "1 problem");
        var problem = Json(reply.Body).GetProperty("problems")[0];
        Assert.That(problem.GetProperty("path").GetString(), Is.EqualTo("$.lookupRecords[0]"), "10.1.1.8 is the first record once 10.1.1.7 is removed");
        Assert.That(problem.GetProperty("message").GetString(), Does.StartWith("change 2: the lookup record (virtualSubnetId 5001, customerAddress 10.1.1.8) already exists"));
        Assert.That(CustomerAddresses(host), Is.EqualTo(new[] { "10.1.1.7", "10.1.1.8" }), "the removal was undone, in place");
    }

    [Test]
    public void Thousands_of_removals_and_sets_in_one_batch_apply_and_a_refused_one_undoes_them_in_place()
    {
        using var host = new ControlApiHost();
        string Ca(int i) => $"10.1.{2 + (i / 250)}.{1 + (i % 250)}";
        var adds = Enumerable.Range(0, 3000).Select(i => Change("add", $$""" "entry": { "customerAddress": "{{Ca(i)}}", "virtualSubnetId": 5001, "macAddress": "00-15-5D-02-{{i / 256:X2}}-{{i % 256:X2}}", "providerAddress": "192.168.1.12" } """));
        Assert.That(host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",", adds) + "] }").Status, Is.EqualTo(HttpStatusCode.OK));
        var before = CustomerAddresses(host);

        // Every other one removed, the rest moved, and one bad change: nothing happens.
        var mixed = Enumerable.Range(0, 3000).Select(i => i % 2 == 0
            ? Change("remove", $$""" "match": { "customerAddress": "{{Ca(i)}}", "virtualSubnetId": 5001 } """)
            : Change("set", $$""" "match": { "customerAddress": "{{Ca(i)}}", "virtualSubnetId": 5001 }, "fields": { "providerAddress": "192.168.1.11" } """)).ToList();
        var refused = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",", mixed.Append(Change("set", """ "match": { "customerAddress": "10.1.1.8" }, "fields": { "macAddress": "nope" } """))) + "] }");
        Assert.That(refused.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), refused.Body);
        Assert.That(CustomerAddresses(host), Is.EqualTo(before), "every entry back where it was");
        Assert.That(host.Editor.Entries(PolicySection.LookupRecords).Count(e => e.GetProperty("providerAddress").GetString() == "192.168.1.11"), Is.EqualTo(1), "no set kept");

        var applied = host.Request(HttpMethod.Post, "/v1/changes", "{ \"changes\": [" + string.Join(",", mixed) + "] }");
        Assert.That(applied.Status, Is.EqualTo(HttpStatusCode.OK), applied.Body);
        Assert.That(Json(applied.Body).GetProperty("affected").GetInt32(), Is.EqualTo(3000));
        Assert.That(CustomerAddresses(host), Is.EqualTo(before.Where((_, i) => i < 2 || (i - 2) % 2 == 1)), "the odd ones stay, in order");
        Assert.That(host.Store.Current.Config.LookupRecords, Has.Count.EqualTo(2 + 1500));
        Assert.That(host.Editor.Find(PolicySection.LookupRecords, Json("""{ "providerAddress": "192.168.1.11" }""")).Entries, Has.Count.EqualTo(1501));
    }
}
