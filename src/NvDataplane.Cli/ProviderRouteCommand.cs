using System.CommandLine;
using NvDataplane.Policy;

namespace NvDataplane.Cli;

/// <summary><c>nvdp provider-route list|add|set|remove</c>: Get/New/Set/Remove-NetVirtualizationProviderRoute on the running daemon.</summary>
internal static class ProviderRouteCommand
{
    public static readonly PolicyField[] Fields =
    [
        new("destinationPrefix", "the PA-space prefix, e.g. 0.0.0.0/0", FieldUse.Selects | FieldUse.Required),
        new("nextHop", "the next hop PA", FieldUse.Required),
        new("metric", "lowest wins (default 0)", Number: true),
    ];

    public static Command Build(TextWriter stdout, TextWriter stderr) =>
        PolicyVerbs.Build("provider-route", "provider routes of the running daemon: PA prefix → next hop, metric", PolicySection.ProviderRoutes, Fields, stdout, stderr);
}
