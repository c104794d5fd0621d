using System.Diagnostics.CodeAnalysis;

namespace NvDataplane.Policy;

/// <summary>
/// The outcome of loading a configuration file: the typed <see cref="HostConfig"/> when the file
/// has no problem at all, otherwise every problem found, in document order.
/// </summary>
public sealed class ConfigLoadResult
{
    private ConfigLoadResult(HostConfig? config, IReadOnlyList<ConfigProblem> problems)
    {
        Config = config;
        Problems = problems;
    }

    /// <summary>The validated configuration; non-null only when <see cref="Problems"/> is empty.</summary>
    public HostConfig? Config { get; }

    /// <summary>Every problem found, in document order; empty when the file is valid.</summary>
    public IReadOnlyList<ConfigProblem> Problems { get; }

    /// <summary>True when the file is valid and <see cref="Config"/> is set.</summary>
    [MemberNotNullWhen(true, nameof(Config))]
    public bool Succeeded => Config is not null;

    internal static ConfigLoadResult Valid(HostConfig config) => new(config, []);

    internal static ConfigLoadResult Invalid(IReadOnlyList<ConfigProblem> problems) => new(null, problems);
}
