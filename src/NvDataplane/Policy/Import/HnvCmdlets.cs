namespace NvDataplane.Policy.Import;

/// <summary>How a parameter's value is read, as PowerShell would convert it for the cmdlet.</summary>
internal enum HnvValueType
{
    String,
    UInt32,
    Byte,
    UInt16,
    Boolean,

    /// <summary>The RuleType enum: TranslationMethodEncap, TranslationMethodNat, TranslationMethodNone.</summary>
    Rule,

    /// <summary>The Type enum of lookup records: Static, Dynamic, L2Only, GatewayWildcard.</summary>
    RecordType,

    /// <summary>A switch that does not change the policy (-AsJob, -Verbose): accepted, no value.</summary>
    Switch,

    /// <summary>Takes a value that does not change the policy (-ThrottleLimit, -ErrorAction): accepted, value unread.</summary>
    Ignored,

    /// <summary>-CimSession: the command configures another computer.</summary>
    OtherComputer,
}

/// <param name="Field">The configuration field the value goes to; null when the importer places it itself or it changes nothing.</param>
internal sealed record HnvParameter(string Name, HnvValueType Type, string? Field = null, bool Required = false, string? Alias = null)
{
    public bool IsCommon => Type is HnvValueType.Switch or HnvValueType.Ignored or HnvValueType.OtherComputer;

    public bool Matches(string written) =>
        Name.Equals(written, StringComparison.OrdinalIgnoreCase) || (Alias?.Equals(written, StringComparison.OrdinalIgnoreCase) ?? false);

    public bool StartsWith(string written) =>
        Name.StartsWith(written, StringComparison.OrdinalIgnoreCase) || (Alias?.StartsWith(written, StringComparison.OrdinalIgnoreCase) ?? false);
}

/// <param name="Section">The configuration section its entries go to.</param>
internal sealed record HnvCmdlet(string Name, string Section, IReadOnlyList<HnvParameter> Parameters)
{
    /// <summary>The parameter <paramref name="written"/> names as PowerShell binds it: a full name or alias, else the one parameter it is a prefix of.</summary>
    /// <returns>The parameter, or null with the candidates: none (unknown) or several (ambiguous).</returns>
    public HnvParameter? Resolve(string written, out IReadOnlyList<HnvParameter> candidates)
    {
        candidates = [.. Parameters.Where(p => p.Matches(written))];
        if (candidates.Count == 0)
        {
            candidates = [.. Parameters.Where(p => p.StartsWith(written))];
        }

        return candidates.Count == 1 ? candidates[0] : null;
    }
}

/// <summary>
/// The NetWNV module of Windows Server 2012 R2 (HNV-NOTES.md section 2; the cmdlet help in
/// MicrosoftDocs/windows-powershell-docs, docset/winserver2012r2-ps/netwnv): the four New-
/// cmdlets whose policy the configuration file holds, with every parameter they accept, and the
/// names of the module's other cmdlets.
/// </summary>
internal static class HnvCmdlets
{
    public const string LookupRecord = "New-NetVirtualizationLookupRecord";
    public const string CustomerRoute = "New-NetVirtualizationCustomerRoute";
    public const string ProviderAddress = "New-NetVirtualizationProviderAddress";
    public const string ProviderRoute = "New-NetVirtualizationProviderRoute";

    /// <summary>Every cmdlet of the module; only the four New- ones are imported.</summary>
    public static readonly string[] ModuleCmdlets =
    [
        "Get-NetVirtualizationCustomerRoute", CustomerRoute, "Remove-NetVirtualizationCustomerRoute", "Set-NetVirtualizationCustomerRoute",
        "Get-NetVirtualizationLookupRecord", LookupRecord, "Remove-NetVirtualizationLookupRecord", "Set-NetVirtualizationLookupRecord",
        "Get-NetVirtualizationProviderAddress", ProviderAddress, "Remove-NetVirtualizationProviderAddress", "Set-NetVirtualizationProviderAddress",
        "Get-NetVirtualizationProviderRoute", ProviderRoute, "Remove-NetVirtualizationProviderRoute", "Set-NetVirtualizationProviderRoute",
        "Get-NetVirtualizationGlobal", "Set-NetVirtualizationGlobal", "Select-NetVirtualizationNextHop",
    ];

    /// <summary>The CIM cmdlet parameters and PowerShell's common parameters, with their aliases.</summary>
    private static readonly HnvParameter[] Common =
    [
        new("CimSession", HnvValueType.OtherComputer, Alias: "Session"),
        new("ThrottleLimit", HnvValueType.Ignored),
        new("AsJob", HnvValueType.Switch),
        new("Verbose", HnvValueType.Switch, Alias: "vb"),
        new("Debug", HnvValueType.Switch, Alias: "db"),
        new("ErrorAction", HnvValueType.Ignored, Alias: "ea"),
        new("WarningAction", HnvValueType.Ignored, Alias: "wa"),
        new("InformationAction", HnvValueType.Ignored, Alias: "infa"),
        new("ErrorVariable", HnvValueType.Ignored, Alias: "ev"),
        new("WarningVariable", HnvValueType.Ignored, Alias: "wv"),
        new("InformationVariable", HnvValueType.Ignored, Alias: "iv"),
        new("OutVariable", HnvValueType.Ignored, Alias: "ov"),
        new("OutBuffer", HnvValueType.Ignored, Alias: "ob"),
        new("PipelineVariable", HnvValueType.Ignored, Alias: "pv"),
    ];

    public static readonly HnvCmdlet[] Imported =
    [
        new(LookupRecord, "lookupRecords",
        [
            new("CustomerAddress", HnvValueType.String, "customerAddress", Required: true),
            new("VirtualSubnetID", HnvValueType.UInt32, "virtualSubnetId", Required: true),
            new("MACAddress", HnvValueType.String, "macAddress", Required: true),
            new("ProviderAddress", HnvValueType.String, "providerAddress", Required: true),
            new("CustomerID", HnvValueType.String, "customerId"),
            new("Context", HnvValueType.String, "context"),
            new("Rule", HnvValueType.Rule, "rule", Required: true),
            new("VMName", HnvValueType.String, "vmName"),
            new("UseVmMACAddress", HnvValueType.Boolean),
            new("Type", HnvValueType.RecordType, "type"),
            .. Common,
        ]),
        new(CustomerRoute, "customerRoutes",
        [
            new("RoutingDomainID", HnvValueType.String, "routingDomainId", Required: true),
            new("VirtualSubnetID", HnvValueType.UInt32, "virtualSubnetId", Required: true),
            new("DestinationPrefix", HnvValueType.String, "destinationPrefix", Required: true),
            new("NextHop", HnvValueType.String, "nextHop", Required: true),
            new("Metric", HnvValueType.UInt32, "metric"),
            .. Common,
        ]),
        new(ProviderAddress, "providerAddresses",
        [
            new("ProviderAddress", HnvValueType.String, "address", Required: true),
            new("InterfaceIndex", HnvValueType.UInt32, Required: true),
            new("PrefixLength", HnvValueType.Byte, "prefixLength", Required: true),
            new("VlanID", HnvValueType.UInt16, "vlanId"),
            new("MACAddress", HnvValueType.String),
            .. Common,
        ]),
        new(ProviderRoute, "providerRoutes",
        [
            new("InterfaceIndex", HnvValueType.UInt32, Required: true),
            new("DestinationPrefix", HnvValueType.String, "destinationPrefix", Required: true),
            new("NextHop", HnvValueType.String, "nextHop", Required: true),
            new("Metric", HnvValueType.UInt32, "metric"),
            .. Common,
        ]),
    ];

    public static HnvCmdlet? FindImported(string name) =>
        Imported.FirstOrDefault(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The module's spelling of <paramref name="name"/>, or null when the module has no such cmdlet.</summary>
    public static string? FindInModule(string name) =>
        ModuleCmdlets.FirstOrDefault(c => c.Equals(name, StringComparison.OrdinalIgnoreCase));
}
