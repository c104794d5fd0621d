using System.Text.Json;

namespace NvDataplane.Policy;

/// <summary>Collects every problem found while reading a configuration document.</summary>
internal sealed class ConfigProblemList
{
    private readonly List<ConfigProblem> _problems = [];

    public int Count => _problems.Count;

    public void Add(string path, string message) => _problems.Add(new ConfigProblem(path, message));

    /// <summary>The problems in the order they were found.</summary>
    public IReadOnlyList<ConfigProblem> AsFound() => [.. _problems];

    /// <summary>The problems sorted by where their value sits in the document (stable for ties).</summary>
    public IReadOnlyList<ConfigProblem> InDocumentOrder(JsonElement root)
    {
        var order = ConfigDocumentOrder.Of(root);
        return [.. _problems.OrderBy(p => order.KeyOf(p.Path))];
    }
}
