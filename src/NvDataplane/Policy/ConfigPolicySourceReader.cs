namespace NvDataplane.Policy;

/// <summary>Reads <c>policySource</c> (PolicySourceConfig.cs): absent means the file alone is the policy.</summary>
internal static class ConfigPolicySourceReader
{
    public static PolicySourceConfig? Read(ConfigObjectReader root)
    {
        string? url = root.String("policySource", expected: "an etcd URL such as " + PolicySourceConfig.Example);
        if (url is null)
        {
            return null;
        }

        if (!PolicySourceConfig.TryParse(url, out var config, out string problem))
        {
            root.Report("policySource", problem);
            return null;
        }

        return config;
    }
}
