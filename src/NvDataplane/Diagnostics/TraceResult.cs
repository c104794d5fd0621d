using System.Text.Json;
using System.Text.Json.Serialization;

namespace NvDataplane.Diagnostics;

/// <summary>
/// What <see cref="PacketTracer"/> found for one frame: the decisions the policy tables lead to,
/// step by step (<see cref="Steps"/>, <see cref="Explained"/>), and what a private forwarder on
/// the same policy version actually did with the frame (<see cref="Actual"/>, with the frames it
/// sent). <see cref="Agrees"/> says whether the two outcomes are the same. Serializable with
/// System.Text.Json as is (<see cref="ToJson"/> uses a source-generated context, camelCase);
/// <see cref="TraceText.Render"/> gives the text form.
/// </summary>
public sealed class TraceResult
{
    /// <summary>The ingress port's name.</summary>
    public required string Port { get; init; }

    /// <summary><c>vm</c>, <c>provider</c> or <c>external</c>.</summary>
    public required string PortRole { get; init; }

    /// <summary>The policy version traced against.</summary>
    public required long PolicyVersion { get; init; }

    /// <summary>The frame as given (hex, no separators) and its length.</summary>
    public required string Frame { get; init; }

    public required int FrameLength { get; init; }

    /// <summary>The frame's headers (for NVGRE on a provider port: the outer ones); null when not even Ethernet parsed.</summary>
    public TraceHeaders? Outer { get; init; }

    /// <summary>The inner frame's headers of an NVGRE frame; null otherwise.</summary>
    public TraceHeaders? Inner { get; init; }

    /// <summary>Every decision, in the order the forwarder takes them.</summary>
    public required IReadOnlyList<TraceStep> Steps { get; init; }

    /// <summary>The outcome the steps lead to.</summary>
    public required TraceOutcome Explained { get; init; }

    /// <summary>What the forwarder did with the frame, with the frames it sent (<see cref="TraceEgress.Frames"/>).</summary>
    public required TraceOutcome Actual { get; init; }

    /// <summary>True when <see cref="Explained"/> and <see cref="Actual"/> are the same outcome (a false here is a bug to report).</summary>
    public required bool Agrees { get; init; }

    /// <summary>What a reader should know about the trace's limits.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>The result as JSON (camelCase, enums as snake_case strings, nulls left out).</summary>
    public string ToJson(bool indented = true) =>
        JsonSerializer.Serialize(this, indented ? TraceJsonContext.Indented.TraceResult : TraceJsonContext.Compact.TraceResult);

    /// <summary>A result read back from its JSON (<see cref="ToJson"/>), as <c>nvdp trace</c> gets it from the daemon.</summary>
    /// <exception cref="JsonException">The JSON is not a trace result.</exception>
    public static TraceResult FromJson(JsonElement json) =>
        json.Deserialize(TraceJsonContext.Compact.TraceResult) ?? throw new JsonException("a trace result cannot be null");

    /// <summary>The text an operator reads (<see cref="TraceText.Render"/>).</summary>
    public override string ToString() => TraceText.Render(this);
}

/// <summary>The fate of the frame itself, as the forwarder's counters tell it.</summary>
[JsonConverter(typeof(SnakeCaseEnumConverter<TraceFate>))]
public enum TraceFate
{
    /// <summary>Left again: delivered to a VM, encapsulated, rewritten, decapsulated, routed out, or flooded (at least one copy).</summary>
    Forwarded,

    /// <summary>Answered here (ARP, neighbor discovery, echo, DHCP) and consumed.</summary>
    Answered,

    /// <summary>Waiting for the next hop's MAC: an ARP / neighbor solicitation was sent and the frame leaves when it is answered.</summary>
    Waiting,

    /// <summary>Dropped (<see cref="TraceOutcome.DropReason"/>), or a flood none of whose copies could leave.</summary>
    Dropped,
}

/// <summary>An outcome, explained or actual; two outcomes agree when every field but <see cref="Summary"/> and the frames' bytes agree.</summary>
public sealed class TraceOutcome
{
    public required TraceFate Fate { get; init; }

    /// <summary>The reason the frame itself was counted under (snake_case, SPEC section 5); null when it was not dropped.</summary>
    public string? DropReason { get; init; }

    /// <summary>Copies or extra frames that could not leave, each under its reason (a flood's lost copies), in enum order.</summary>
    public required IReadOnlyList<string> LostCopies { get; init; }

    /// <summary>Ports frames left by (replies, ICMP errors, fragments, ARP requests included), in port order.</summary>
    public required IReadOnlyList<TraceEgress> Egress { get; init; }

    /// <summary>Frames parked until a next hop's MAC is learned.</summary>
    public required int Waiting { get; init; }

    /// <summary>The labels of the ACL rules that decided, one per evaluation that matched, sorted.</summary>
    public required IReadOnlyList<string> AclHits { get; init; }

    /// <summary>One line: "encapsulated to PA 192.168.1.11 via port pnic0", "dropped: spoofed_source", ...</summary>
    public required string Summary { get; init; }

    /// <summary>True when <paramref name="other"/> is the same outcome (the summary and frame bytes aside).</summary>
    public bool SameAs(TraceOutcome other) =>
        Fate == other.Fate
        && DropReason == other.DropReason
        && LostCopies.SequenceEqual(other.LostCopies)
        && Egress.Select(e => (e.Port, e.Count)).SequenceEqual(other.Egress.Select(e => (e.Port, e.Count)))
        && Waiting == other.Waiting
        && AclHits.SequenceEqual(other.AclHits);
}

/// <summary>Frames that left by one port.</summary>
public sealed class TraceEgress
{
    public required string Port { get; init; }

    public required int Count { get; init; }

    /// <summary>The frames as sent (hex), in the order they left; empty in an explained outcome.</summary>
    public required IReadOnlyList<string> Frames { get; init; }
}

/// <summary>One decision.</summary>
public sealed class TraceStep
{
    /// <summary>What part of the pipeline decided: port, parse, classify, source, arp, nd, dhcp, echo, route, destination, acl, tunnel, mtu, neighbor, nvgre, nat, flood, external, icmp, deliver, drop.</summary>
    public required string Stage { get; init; }

    /// <summary>The sentence an operator reads.</summary>
    public required string Text { get; init; }

    /// <summary>The lookup record this step used, when it used one.</summary>
    public TraceRecord? Record { get; init; }

    /// <summary>The customer route chosen, for a routing step.</summary>
    public TraceRoute? Route { get; init; }

    /// <summary>The rules tried, for an ACL step.</summary>
    public TraceAcl? Acl { get; init; }

    /// <summary>The outer headers (or NAT rewrite) toward a PA, for a tunnel step.</summary>
    public TraceTunnel? Tunnel { get; init; }
}

/// <summary>A lookup record as the trace shows it.</summary>
public sealed class TraceRecord
{
    /// <summary>Why the step looked at it: source, destination, next hop, target, gateway.</summary>
    public required string Role { get; init; }

    public required uint VirtualSubnetId { get; init; }

    public required string CustomerAddress { get; init; }

    public required string MacAddress { get; init; }

    public required string ProviderAddress { get; init; }

    /// <summary>TranslationMethodEncap or TranslationMethodNat.</summary>
    public required string Rule { get; init; }

    /// <summary>Static, Dynamic (a binding learned from an L2Only VM), L2Only or GatewayWildcard.</summary>
    public required string Type { get; init; }

    /// <summary>True when the PA is this host's.</summary>
    public required bool Local { get; init; }

    /// <summary>The port with the record's VSID and MAC on this host, if any.</summary>
    public string? LocalPort { get; init; }

    public string? VmName { get; init; }

    /// <summary>Its place in <c>lookupRecords</c>.</summary>
    public required int Index { get; init; }
}

/// <summary>A customer route as the trace shows it.</summary>
public sealed class TraceRoute
{
    public required string RoutingDomainId { get; init; }

    public required uint VirtualSubnetId { get; init; }

    public required string DestinationPrefix { get; init; }

    /// <summary>0.0.0.0 / :: when on-link.</summary>
    public required string NextHop { get; init; }

    public required uint Metric { get; init; }

    public required bool OnLink { get; init; }
}

/// <summary>One ACL evaluation.</summary>
public sealed class TraceAcl
{
    /// <summary>outbound or inbound.</summary>
    public required string Direction { get; init; }

    /// <summary>The vm port whose VSID's rules judged.</summary>
    public required string Port { get; init; }

    /// <summary>The rules tried, in order, up to the one that matched.</summary>
    public required IReadOnlyList<TraceAclRule> Rules { get; init; }

    /// <summary>The label of the rule that decided; null when none matched (default allow).</summary>
    public string? Hit { get; init; }

    /// <summary>allow or deny.</summary>
    public required string Verdict { get; init; }
}

public sealed class TraceAclRule
{
    public required string Label { get; init; }

    public required uint Priority { get; init; }

    /// <summary>allow or deny.</summary>
    public required string Action { get; init; }

    public required bool Matched { get; init; }
}

/// <summary>How a frame goes toward a remote PA: NVGRE (outer headers, GRE key) or NAT (addresses rewritten), with the provider side's next hop.</summary>
public sealed class TraceTunnel
{
    /// <summary>encap or nat.</summary>
    public required string Method { get; init; }

    public required string SourcePa { get; init; }

    public required string DestinationPa { get; init; }

    /// <summary>The GRE key VSID &lt;&lt; 8 | FlowID as 0x hex (encap only).</summary>
    public string? GreKey { get; init; }

    public uint? VirtualSubnetId { get; init; }

    public int? FlowId { get; init; }

    public required string ProviderPort { get; init; }

    /// <summary>The next hop toward the PA (the PA itself when on-link).</summary>
    public required string NextHop { get; init; }

    /// <summary>How the next hop was chosen: "on-link in 192.168.1.0/24" or "provider route 0.0.0.0/0 via 192.168.1.1 metric 5".</summary>
    public required string NextHopVia { get; init; }

    /// <summary>The next hop's MAC from providerNeighbors; null when it is resolved by ARP / ND.</summary>
    public string? NextHopMac { get; init; }

    public required int VlanId { get; init; }

    public int? OuterTtl { get; init; }

    /// <summary>The provider port's MTU and the size the packet has on it (inner IP packet + overhead).</summary>
    public required int Mtu { get; init; }

    public required int Overhead { get; init; }

    public required int PacketSize { get; init; }
}

/// <summary>A frame's parsed headers, as far as they parsed.</summary>
public sealed record TraceHeaders
{
    public required string SourceMac { get; init; }

    public required string DestinationMac { get; init; }

    public int? VlanId { get; init; }

    /// <summary>0x0800 (IPv4), 0x86dd (IPv6), 0x0806 (ARP), ...</summary>
    public required string EtherType { get; init; }

    public int? IpVersion { get; init; }

    public string? Source { get; init; }

    public string? Destination { get; init; }

    public int? Protocol { get; init; }

    /// <summary>TTL or hop limit.</summary>
    public int? Ttl { get; init; }

    /// <summary>TOS or traffic class.</summary>
    public int? Tos { get; init; }

    /// <summary>The IP packet's length.</summary>
    public int? IpLength { get; init; }

    public bool? DontFragment { get; init; }

    public bool? Fragment { get; init; }

    public int? SourcePort { get; init; }

    public int? DestinationPort { get; init; }

    /// <summary>For the outer headers of NVGRE: the GRE key (0x hex), VSID and FlowID.</summary>
    public string? GreKey { get; init; }

    public uint? VirtualSubnetId { get; init; }

    public int? FlowId { get; init; }
}

/// <summary>Enums as snake_case strings ("forwarded", "dropped").</summary>
public sealed class SnakeCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.SnakeCaseLower)
    where TEnum : struct, Enum;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TraceResult))]
[JsonSerializable(typeof(List<TraceResult>))]
internal sealed partial class TraceJsonContext : JsonSerializerContext
{
    /// <summary>Indented; text as written (arrows and all), since it goes to a terminal or a file, never into HTML.</summary>
    public static TraceJsonContext Indented { get; } = new(MakeOptions(indented: true));

    public static TraceJsonContext Compact { get; } = new(MakeOptions(indented: false));

    private static JsonSerializerOptions MakeOptions(bool indented) => new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = indented,
    };
}
