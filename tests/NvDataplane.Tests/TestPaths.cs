namespace NvDataplane.Tests;

/// <summary>Where the repository's files are, from the test assembly's folder.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Captures => Path.Combine(RepoRoot, "captures");

    public static IEnumerable<string> ScenarioNames() =>
        Directory.GetDirectories(Captures)
            .Where(d => File.Exists(Path.Combine(d, "scenario.json")))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Order(StringComparer.Ordinal);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "NvDataplane.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("NvDataplane.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A temporary directory removed when disposed, whatever the test's outcome.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "nvdp-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
