namespace NvDataplane.Policy;

/// <summary>Reads <c>host</c> and <c>global</c>: the host name, gateway MAC, outer TTL, external router, DHCP lease, migration grace and REDIRECT trust.</summary>
internal static class ConfigHostReader
{
    /// <summary>A minute: shorter leases only make VMs renew all the time.</summary>
    private const long MinDhcpLeaseSeconds = 60;

    /// <summary>An hour: a migration's stale senders are corrected long before (REDIRECT, policy push).</summary>
    private const long MaxMigrationGraceSeconds = 3600;

    private static readonly string[] HostFields = ["name"];
    private static readonly string[] GlobalFields = ["gatewayMac", "outerTtl", "useExternalRouter", "dhcpLeaseSeconds", "migrationGraceSeconds", "trustRedirects"];

    /// <summary>The host name; the machine name when <c>host</c> or its <c>name</c> is not given.</summary>
    public static string? ReadHostName(ConfigObjectReader root)
    {
        var host = root.Object("host", HostFields);
        if (host is null || !host.Has("name"))
        {
            return DefaultHostName();
        }

        string? name = host.String("name", expected: "a non-empty host name");
        if (name is not null && string.IsNullOrWhiteSpace(name))
        {
            host.Report("name", "is empty; give the host's name, or leave it out to use the machine name");
            return null;
        }

        return name;
    }

    public static GlobalSettings? ReadGlobal(ConfigObjectReader root, ConfigProblemList problems)
    {
        var global = root.Object("global", GlobalFields);
        if (global is null)
        {
            return GlobalSettings.Default;
        }

        int before = problems.Count;
        var gatewayMac = global.Mac("gatewayMac", required: false, unicast: true, whenAbsent: GlobalSettings.DefaultGatewayMac);
        long? outerTtl = global.Integer("outerTtl", 1, 255, whenAbsent: GlobalSettings.Default.OuterTtl);
        bool? useExternalRouter = global.Boolean("useExternalRouter", whenAbsent: false);
        long? lease = global.Integer("dhcpLeaseSeconds", MinDhcpLeaseSeconds, uint.MaxValue, whenAbsent: GlobalSettings.DefaultDhcpLeaseSeconds);
        long? grace = global.Integer("migrationGraceSeconds", 0, MaxMigrationGraceSeconds, whenAbsent: GlobalSettings.DefaultMigrationGraceSeconds);
        bool? trustRedirects = global.Boolean("trustRedirects", whenAbsent: false);
        return problems.Count == before && gatewayMac is { } mac && outerTtl is { } ttl && useExternalRouter is { } external && lease is { } l
            && grace is { } g && trustRedirects is { } trust
            ? new GlobalSettings(mac, (byte)ttl, external) { DhcpLeaseSeconds = (uint)l, MigrationGraceSeconds = (uint)g, TrustRedirects = trust }
            : null;
    }

    private static string DefaultHostName()
    {
        string machine = Environment.MachineName;
        return string.IsNullOrWhiteSpace(machine) ? "host" : machine;
    }
}
