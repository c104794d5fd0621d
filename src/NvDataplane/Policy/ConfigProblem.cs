namespace NvDataplane.Policy;

/// <summary>
/// One thing wrong with a configuration file: the JSON path of the offending value (such as
/// <c>$.lookupRecords[3].virtualSubnetId</c>) and a message saying what is wrong and what would
/// be valid. Shown one per line as <c>{Path}: {Message}</c>.
/// </summary>
/// <param name="Path">JSON path of the offending value; for a missing field, the object's path plus <c>.field</c>.</param>
/// <param name="Message">What is wrong and what would be valid.</param>
public sealed record ConfigProblem(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}
