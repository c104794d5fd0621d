using System.Globalization;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// <c>policySource</c>: where the lookup records and customer routes come from when not from
/// the file, as <c>etcd://HOST:PORT[,HOST:PORT...]/PREFIX</c> (an etcd v3 cluster reached through
/// its JSON gateway over plain HTTP; several members separated by commas, the port 2379 when
/// left out). The key prefix is the path as written, without a trailing slash:
/// <c>etcd://127.0.0.1:2379/nvdp/dc1</c> watches the keys under <c>/nvdp/dc1/</c>.
/// </summary>
/// <remarks>Two sources are the same when their URLs are the same text.</remarks>
public sealed record PolicySourceConfig
{
    public const int DefaultPort = 2379;
    public const string Example = "etcd://HOST:PORT/PREFIX, e.g. etcd://127.0.0.1:2379/nvdp";
    private const string Scheme = "etcd://";

    private PolicySourceConfig(string url, IReadOnlyList<Uri> endpoints, string prefix)
    {
        Url = url;
        Endpoints = endpoints;
        Prefix = prefix;
    }

    /// <summary>The URL as the file gives it.</summary>
    public string Url { get; }

    /// <summary>The members' gateway base addresses (<c>http://HOST:PORT/</c>), in the URL's order.</summary>
    public IReadOnlyList<Uri> Endpoints { get; }

    /// <summary>The key prefix, starting with '/' and without a trailing one (<c>/nvdp/dc1</c>).</summary>
    public string Prefix { get; }

    public bool Equals(PolicySourceConfig? other) => other is not null && Url == other.Url;

    public override int GetHashCode() => Url.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => Url;

    /// <summary>Reads <paramref name="url"/>; on failure <paramref name="problem"/> says what is wrong and what would be valid.</summary>
    public static bool TryParse(string url, out PolicySourceConfig? config, out string problem)
    {
        config = null;
        problem = "";
        string quoted = ConfigValueText.Quote(url);
        if (!url.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            problem = $"{quoted} is not an etcd URL; use {Example}";
            return false;
        }

        string rest = url[Scheme.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string authority = slash < 0 ? rest : rest[..slash];
        string prefix = slash < 0 ? "" : rest[slash..].TrimEnd('/');
        if (rest.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '?' or '#' or '@'))
        {
            problem = $"{quoted} has a space, control character, '?', '#' or '@'; use {Example} (no query, fragment or user)";
            return false;
        }

        if (prefix.Length == 0)
        {
            problem = $"{quoted} names no key prefix; add one after the address, e.g. {url.TrimEnd('/')}/nvdp";
            return false;
        }

        var endpoints = new List<Uri>();
        foreach (string member in authority.Split(','))
        {
            if (!TryParseMember(member, out var endpoint, out string why))
            {
                problem = $"{quoted}: {why}; use {Example}, several members separated by commas";
                return false;
            }

            endpoints.Add(endpoint!);
        }

        config = new PolicySourceConfig(url, endpoints, prefix);
        return true;
    }

    /// <summary><c>HOST</c>, <c>HOST:PORT</c>, <c>[IPv6]</c> or <c>[IPv6]:PORT</c>, as <c>http://HOST:PORT/</c>.</summary>
    private static bool TryParseMember(string member, out Uri? endpoint, out string why)
    {
        endpoint = null;
        string host = member;
        string? port = null;
        if (member.StartsWith('['))
        {
            int close = member.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || (close + 1 < member.Length && member[close + 1] != ':'))
            {
                why = $"\"{member}\" is not [IPv6]:PORT";
                return false;
            }

            host = member[1..close];
            port = close + 1 < member.Length ? member[(close + 2)..] : null;
            if (!IpAddr.TryParse(host, out var v6, out string? refused) || !v6.IsV6)
            {
                why = $"\"{host}\" in brackets {refused ?? "is not an IPv6 address"}";
                return false;
            }

            host = "[" + host + "]";
        }
        else if (member.Contains(':', StringComparison.Ordinal))
        {
            int colon = member.LastIndexOf(':');
            host = member[..colon];
            port = member[(colon + 1)..];
        }

        if (host.Length == 0)
        {
            why = member.Length == 0 ? "a member address is empty" : $"\"{member}\" has no host";
            return false;
        }

        if (!host.StartsWith('[') && !IsHostName(host))
        {
            why = $"\"{host}\" is not a host name or IPv4 address (write an IPv6 address in brackets)";
            return false;
        }

        int number = DefaultPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number is < 1 or > 65535))
        {
            why = $"port \"{port}\" of \"{member}\" is not a number in 1..65535";
            return false;
        }

        endpoint = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{host}:{number}/"));
        why = "";
        return true;
    }

    private static bool IsHostName(string host) =>
        host.Length <= 253 && host.Split('.').All(label =>
            label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && label[0] != '-' && label[^1] != '-');
}
