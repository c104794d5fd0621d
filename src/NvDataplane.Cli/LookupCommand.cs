using System.CommandLine;
using NvDataplane.Policy;

namespace NvDataplane.Cli;

/// <summary><c>nvdp lookup list|add|set|remove</c>: Get/New/Set/Remove-NetVirtualizationLookupRecord on the running daemon.</summary>
internal static class LookupCommand
{
    public static readonly PolicyField[] Fields =
    [
        new("customerAddress", "the VM's customer address (CA); 0.0.0.0 or :: for L2Only and GatewayWildcard records", FieldUse.Selects | FieldUse.Required),
        new("virtualSubnetId", "the virtual subnet (VSID, 4096..16777214)", FieldUse.Selects | FieldUse.Required, Number: true),
        new("macAddress", "the VM's MAC address", FieldUse.Required),
        new("providerAddress", "the provider address (PA) of the host the VM is on", FieldUse.Required),
        new("rule", "TranslationMethodEncap (default) or TranslationMethodNat"),
        new("type", "Static (default), Dynamic, L2Only or GatewayWildcard"),
        new("vmName", "the VM's name (kept and shown)"),
        new("customerId", "the customer's id (kept and shown)"),
        new("context", "free text (kept and shown)"),
    ];

    public static Command Build(TextWriter stdout, TextWriter stderr) =>
        PolicyVerbs.Build("lookup", "lookup records of the running daemon: (VSID, CA) → MAC, PA, rule, type", PolicySection.LookupRecords, Fields, stdout, stderr);
}
