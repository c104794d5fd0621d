using System.Globalization;
using System.Text.Json;

namespace NvDataplane.Policy;

/// <summary>
/// Reads the configuration file (SPEC section 2) into a <see cref="HostConfig"/>. Every problem
/// of the file is reported at once, each as the JSON path of the offending value, what is wrong
/// and what would be valid; no input makes it throw.
/// </summary>
/// <remarks>
/// Where SPEC section 2 is silent: JSON <c>null</c> for an optional field means "not given";
/// <c>role</c>, <c>rule</c> and <c>type</c> match ignoring case; prefixes must have their host
/// bits clear (<c>10.1.1.0/24</c>, not <c>10.1.1.5/24</c>); afpacket and tap device names are at
/// most 15 characters (IFNAMSIZ); two ports may not share a device; provider ports take no
/// <c>vmName</c>; the gateway MAC and neighbor MACs must be unicast like port and record MACs;
/// an omitted host name is the machine name.
/// </remarks>
public static class ConfigLoader
{
    private static readonly string[] TopLevelFields =
        ["host", "global", "ports", "providerAddresses", "providerRoutes", "providerNeighbors", "lookupRecords", "customerRoutes", "acls", "routingDomains", "virtualSubnets", "policySource", "control"];

    internal static readonly JsonDocumentOptions ParseOptions = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
    };

    /// <summary>Loads the configuration file at <paramref name="path"/>.</summary>
    public static ConfigLoadResult LoadFile(string path) => LoadFile(path, out _);

    /// <summary>As <see cref="LoadFile(string)"/>, also giving the text read (empty when it could not be).</summary>
    public static ConfigLoadResult LoadFile(string path, out string json) =>
        TryReadFile(path, out json, out var problem) ? Load(json) : ConfigLoadResult.Invalid([problem!]);

    /// <summary>
    /// The text of the configuration file at <paramref name="path"/>, or the problem that says
    /// why it cannot be read (for a caller that keeps the text, as <c>nvdp run</c> does for its
    /// policy editor, or reads it again on SIGHUP).
    /// </summary>
    public static bool TryReadFile(string path, out string json, out ConfigProblem? problem)
    {
        try
        {
            json = Io.TextFile.Read(path);
            problem = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException or System.Security.SecurityException or InvalidDataException)
        {
            json = "";
            problem = new ConfigProblem(ConfigJsonPath.Root, CannotRead(path, e));
            return false;
        }
    }

    /// <summary>Loads a configuration document given as JSON text.</summary>
    public static ConfigLoadResult Load(string json) =>
        string.IsNullOrWhiteSpace(json) ? Empty() : Load(() => JsonDocument.Parse(json, ParseOptions));

    /// <summary>Loads a configuration document given as UTF-8 JSON (the policy editor's candidate documents).</summary>
    public static ConfigLoadResult Load(ReadOnlyMemory<byte> utf8) =>
        utf8.Length == 0 ? Empty() : Load(() => JsonDocument.Parse(utf8, ParseOptions));

    private static ConfigLoadResult Empty() =>
        Fail("the configuration is empty; give a JSON object such as { \"ports\": [ ... ] }");

    private static ConfigLoadResult Load(Func<JsonDocument> parse)
    {
        JsonDocument document;
        try
        {
            document = parse();
        }
        catch (JsonException e)
        {
            return Fail(DescribeInvalidJson(e));
        }

        using (document)
        {
            return Read(document.RootElement);
        }
    }

    private static ConfigLoadResult Read(JsonElement root)
    {
        var problems = new ConfigProblemList();
        ConfigStringCheck.Check(root, ConfigJsonPath.Root, problems);
        if (problems.Count != 0)
        {
            // Found walking the document in order; sorting would have to read the unreadable names.
            return ConfigLoadResult.Invalid(problems.AsFound());
        }

        var config = ConfigObjectReader.Open(root, ConfigJsonPath.Root, problems, TopLevelFields) is { } reader
            ? ReadSections(reader, problems)
            : null;
        return problems.Count == 0 && config is not null
            ? ConfigLoadResult.Valid(config)
            : ConfigLoadResult.Invalid(problems.InDocumentOrder(root));
    }

    /// <summary>
    /// Ports are read first, whatever their place in the file, because provider addresses name
    /// them; the problems are put back in document order afterwards.
    /// </summary>
    private static HostConfig? ReadSections(ConfigObjectReader root, ConfigProblemList problems)
    {
        string? hostName = ConfigHostReader.ReadHostName(root);
        var global = ConfigHostReader.ReadGlobal(root, problems);
        var ports = ConfigPortReader.Read(root, problems);
        var providerAddresses = ConfigProviderAddressReader.Read(root, problems, ports);
        var providerRoutes = ConfigProviderRouteReader.Read(root, problems);
        var providerNeighbors = ConfigProviderNeighborReader.Read(root, problems);
        var customerRoutes = ConfigCustomerRouteReader.Read(root, problems);
        var lookupRecords = ConfigLookupRecordReader.Read(root, problems, customerRoutes);
        var acls = ConfigAclReader.Read(root, problems, ports, lookupRecords, customerRoutes);
        var routingDomains = ConfigRoutingDomainReader.Read(root, problems, customerRoutes);
        ConfigExternalPortReader.Check(ports, lookupRecords, customerRoutes, problems);
        var virtualSubnets = ConfigVirtualSubnetReader.Read(root, problems, ports, lookupRecords, customerRoutes);
        var policySource = ConfigPolicySourceReader.Read(root);
        var control = ConfigControlReader.Read(root, problems);
        if (problems.Count != 0 || hostName is null || global is null || control is null)
        {
            return null;
        }

        // With no problem, every entry was read completely: none of the lists holds a null.
        return new HostConfig(
            hostName,
            global,
            [.. ports.Select(p => p.Config).OfType<PortConfig>()],
            [.. providerAddresses.OfType<ProviderAddressConfig>()],
            [.. providerRoutes.OfType<ProviderRouteConfig>()],
            [.. providerNeighbors.OfType<ProviderNeighborConfig>()],
            [.. lookupRecords.OfType<LookupRecordConfig>()],
            [.. customerRoutes.OfType<CustomerRouteConfig>()])
        {
            Acls = [.. acls.OfType<AclRuleConfig>()],
            RoutingDomains = [.. routingDomains.OfType<RoutingDomainConfig>()],
            VirtualSubnets = [.. virtualSubnets.OfType<VirtualSubnetConfig>()],
            PolicySource = policySource,
            Control = control,
        };
    }

    private static ConfigLoadResult Fail(string message) =>
        ConfigLoadResult.Invalid([new ConfigProblem(ConfigJsonPath.Root, message)]);

    private static string CannotRead(string path, Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => $"configuration file \"{path}\" does not exist; check the path",
        UnauthorizedAccessException => $"configuration file \"{path}\" cannot be read: access denied; check its permissions",
        InvalidDataException => $"configuration file {e.Message}",
        _ => $"configuration file \"{path}\" cannot be read: {e.Message}",
    };

    /// <summary>The reader's message without its own position suffix, plus a 1-based line and byte (also the control API's 400 answers).</summary>
    public static string DescribeInvalidJson(JsonException e)
    {
        string reason = e.Message;
        int suffix = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (suffix >= 0)
        {
            reason = reason[..suffix];
        }

        long line = (e.LineNumber ?? 0) + 1;
        long position = (e.BytePositionInLine ?? 0) + 1;
        return string.Create(CultureInfo.InvariantCulture, $"not valid JSON at line {line}, byte {position}: {reason.TrimEnd()}");
    }
}
