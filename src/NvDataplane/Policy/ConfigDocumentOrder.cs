using System.Text.Json;

namespace NvDataplane.Policy;

/// <summary>
/// The position of every value of a JSON document in reading order, keyed by JSON path. Problems
/// are found section by section (ports before the records that name them), then sorted by this
/// order so they are shown as the file reads. A missing field sorts at the end of its object.
/// </summary>
internal sealed class ConfigDocumentOrder
{
    private readonly Dictionary<string, (int Start, int End)> _positions = new(StringComparer.Ordinal);
    private int _next;

    private ConfigDocumentOrder()
    {
    }

    public static ConfigDocumentOrder Of(JsonElement root)
    {
        var order = new ConfigDocumentOrder();
        order.Visit(root, ConfigJsonPath.Root);
        return order;
    }

    /// <summary>Sort key of a problem path: the value's start, else the end of the nearest enclosing value.</summary>
    public int KeyOf(string path)
    {
        if (_positions.TryGetValue(path, out var exact))
        {
            return exact.Start;
        }

        for (string? parent = ConfigJsonPath.Parent(path); parent is not null; parent = ConfigJsonPath.Parent(parent))
        {
            if (_positions.TryGetValue(parent, out var enclosing))
            {
                return enclosing.End;
            }
        }

        return int.MaxValue;
    }

    private void Visit(JsonElement element, string path)
    {
        int start = _next++;
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Visit(property.Value, ConfigJsonPath.Property(path, property.Name));
                }

                break;
            case JsonValueKind.Array:
                int index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Visit(item, ConfigJsonPath.Index(path, index++));
                }

                break;
            default:
                break;
        }

        // A name repeated in one object keeps its first position; the repeat is reported anyway.
        _positions.TryAdd(path, (start, _next++));
    }
}
