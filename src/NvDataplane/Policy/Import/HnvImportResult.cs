namespace NvDataplane.Policy.Import;

/// <summary>A command that is no Net-Virtualization cmdlet, skipped: how often the script runs it, and its first line.</summary>
public sealed record SkippedCommand(string Name, int Count, int FirstLine);

/// <summary>What <see cref="HnvScriptImporter"/> made of a script.</summary>
/// <param name="Config">Everything that could be imported; ConfigLoader accepts it as it is.</param>
/// <param name="Problems">What could not be imported, or only in part, by line: each is a reason for exit code 2.</param>
/// <param name="Notes">What the operator should know but that loses nothing (a made-up MAC, policy cleared before it is built).</param>
/// <param name="Skipped">Other commands of the script, by name, in the order they first appear.</param>
public sealed record HnvImportResult(HostConfig Config, IReadOnlyList<ImportMessage> Problems, IReadOnlyList<ImportMessage> Notes, IReadOnlyList<SkippedCommand> Skipped)
{
    /// <summary>True when every New-NetVirtualization* command was imported whole.</summary>
    public bool Complete => Problems.Count == 0;
}
