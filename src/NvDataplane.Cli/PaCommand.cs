using System.CommandLine;
using NvDataplane.Policy;

namespace NvDataplane.Cli;

/// <summary>
/// <c>nvdp pa list|add|set|remove</c>: Get/New/Set/Remove-NetVirtualizationProviderAddress on the
/// running daemon. HNV's -InterfaceIndex is <c>--port</c>, the name of a provider port.
/// </summary>
internal static class PaCommand
{
    public static readonly PolicyField[] Fields =
    [
        new("address", "the provider address (PA) this host owns", FieldUse.Selects | FieldUse.Required) { Option = "--provider-address" },
        new("prefixLength", "the PA's prefix length", FieldUse.Required, Number: true),
        new("vlanId", "the PA's VLAN (0, the default: untagged)", Number: true),
        new("port", "the provider port it lives on (HNV's -InterfaceIndex)", FieldUse.Required),
    ];

    public static Command Build(TextWriter stdout, TextWriter stderr) =>
        PolicyVerbs.Build("pa", "provider addresses of the running daemon", PolicySection.ProviderAddresses, Fields, stdout, stderr);
}
