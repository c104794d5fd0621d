namespace NvDataplane.Policy;

/// <summary>
/// Reads <c>control</c> (ControlConfig.cs): <c>listen</c>, <c>tokenFile</c>, <c>maxRequestBytes</c>.
/// A TCP listener on an address other than loopback needs a token file.
/// </summary>
internal static class ConfigControlReader
{
    private static readonly string[] Fields = ["listen", "tokenFile", "maxRequestBytes"];

    public static ControlConfig? Read(ConfigObjectReader root, ConfigProblemList problems)
    {
        var control = root.Object("control", Fields);
        if (control is null)
        {
            return ControlConfig.Default;
        }

        int before = problems.Count;
        var listen = ControlEndpoint.Default;
        string? text = control.String("listen", expected: ControlEndpoint.Syntax);
        if (text is not null && !ControlEndpoint.TryParse(text, out listen, out string error))
        {
            control.Report("listen", $"{error}; use {ControlEndpoint.Syntax}");
        }

        string? tokenFile = control.String("tokenFile", expected: "the path of a file holding the bearer token");
        if (tokenFile is not null && !Path.IsPathFullyQualified(tokenFile))
        {
            control.Report("tokenFile", $"\"{tokenFile}\" is not an absolute path; give the token file's full path");
        }

        long? maxRequestBytes = control.Integer("maxRequestBytes", ControlConfig.MinRequestBytes, ControlConfig.MaxMaxRequestBytes, whenAbsent: ControlConfig.DefaultMaxRequestBytes);
        if (problems.Count != before || maxRequestBytes is not { } max)
        {
            return null;
        }

        var config = new ControlConfig(listen, tokenFile, max);
        if (config.Refusal() is { } refusal)
        {
            control.Report("listen", refusal.Replace("give a token file", "set tokenFile", StringComparison.Ordinal));
            return null;
        }

        return config;
    }
}
