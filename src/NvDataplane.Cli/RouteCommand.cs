using System.CommandLine;
using NvDataplane.Policy;

namespace NvDataplane.Cli;

/// <summary><c>nvdp route list|add|set|remove</c>: Get/New/Set/Remove-NetVirtualizationCustomerRoute on the running daemon.</summary>
internal static class RouteCommand
{
    public static readonly PolicyField[] Fields =
    [
        new("routingDomainId", "the routing domain (a GUID such as {11111111-2222-3333-4444-000000000000})", FieldUse.Selects | FieldUse.Required),
        new("virtualSubnetId", "the virtual subnet (VSID)", FieldUse.Selects | FieldUse.Required, Number: true),
        new("destinationPrefix", "the customer prefix, e.g. 10.1.1.0/24 or 0.0.0.0/0", FieldUse.Selects | FieldUse.Required),
        new("nextHop", "the next hop CA; 0.0.0.0 or :: for on-link", FieldUse.Required),
        new("metric", "lowest wins (default 255)", Number: true),
    ];

    public static Command Build(TextWriter stdout, TextWriter stderr) =>
        PolicyVerbs.Build("route", "customer routes of the running daemon: (RDID, VSID, prefix) → next hop, metric", PolicySection.CustomerRoutes, Fields, stdout, stderr);
}
