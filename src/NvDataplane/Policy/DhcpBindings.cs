using System.Buffers.Binary;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// What DHCP tells the VM of one vm port, compiled with the policy: its address, the server
/// (gateway) address, and the option bytes of the answers, ready to be copied (docs/FORWARDING.md
/// section 5). The option blocks leave out 53 (message type) and 255 (end), which the responder
/// writes around them.
/// </summary>
public sealed class DhcpBinding
{
    /// <summary>The CA of the port's record: yiaddr of an OFFER / ACK.</summary>
    public required IpAddr ClientAddress { get; init; }

    /// <summary>The gateway address of the on-link route holding the CA: server id, router, reply source.</summary>
    public required IpAddr ServerAddress { get; init; }

    /// <summary>54, 51, 58, 59, 1, 3, 6, 15, 26 (58/59 without an infinite lease; 6 and 15 when configured).</summary>
    public required byte[] LeaseOptions { get; init; }

    /// <summary>The answer to DHCPINFORM: as <see cref="LeaseOptions"/> without 51, 58 and 59.</summary>
    public required byte[] InformOptions { get; init; }
}

/// <summary>The <see cref="DhcpBinding"/> of every vm port, or the reason its VM gets no answer.</summary>
public sealed class DhcpBindings
{
    /// <summary>
    /// The longest option block: 54, 51, 58, 59, 1, 3, 26 (6 bytes each but 26: 4), 63 DNS
    /// servers (2 + 252) and a 253-character domain name (2 + 253). With 53 and 255 around it
    /// the largest reply is 14 + 20 + 8 + 240 + 3 + 549 + 1 = 835 bytes, within every buffer.
    /// </summary>
    public const int MaxOptionsSize = (6 * 6) + 4 + 2 + (4 * RoutingDomainConfig.MaxDnsServers) + 2 + RoutingDomainConfig.MaxDomainNameLength;

    private readonly DhcpBinding?[] _bindings;
    private readonly DropReason[] _missing;

    private DhcpBindings(DhcpBinding?[] bindings, DropReason[] missing)
    {
        _bindings = bindings;
        _missing = missing;
    }

    public static DhcpBindings Empty { get; } = new([], []);

    /// <summary>The binding of vm port <paramref name="port"/>; null, with the reason in <paramref name="missing"/> (no_lookup_record, no_route), when it has none.</summary>
    public DhcpBinding? Find(int port, out DropReason missing)
    {
        var binding = (uint)port < (uint)_bindings.Length ? _bindings[port] : null;
        missing = binding is not null ? DropReason.None
            : (uint)port < (uint)_missing.Length && _missing[port] != DropReason.None ? _missing[port]
            : DropReason.NoLookupRecord;
        return binding;
    }

    /// <summary>
    /// For each vm port: the first IPv4 record (file order) whose PA is local and whose VSID and
    /// MAC are the port's; the longest on-link IPv4 route of the port VSID that holds its CA and
    /// has a gateway address; the routing domain's DNS settings; the MTU the dataplane enforces.
    /// </summary>
    public static DhcpBindings Build(PolicySnapshot p)
    {
        var bindings = new DhcpBinding?[p.Ports.Length];
        var missing = new DropReason[p.Ports.Length];
        var first = new int[p.Ports.Length];
        Array.Fill(first, -1);
        for (int i = 0; i < p.Records.Length; i++)
        {
            ref readonly RecordEntry r = ref p.Records[i];
            if (r.LocalPortIndex >= 0 && r.Type != RecordType.GatewayWildcard && r.CustomerAddress.IsV4 && first[r.LocalPortIndex] < 0)
            {
                first[r.LocalPortIndex] = i;
            }
        }

        var settings = new Dictionary<Guid, RoutingDomainConfig>();
        foreach (var d in p.Config.RoutingDomains)
        {
            settings.TryAdd(d.RoutingDomainId, d);
        }

        foreach (var port in p.Ports)
        {
            if (port.Vsid is not { } vsid)
            {
                continue;
            }

            if (first[port.Index] < 0)
            {
                missing[port.Index] = DropReason.NoLookupRecord;
                continue;
            }

            ref readonly RecordEntry record = ref p.Records[first[port.Index]];
            if (!TryGetSubnet(vsid, record.CustomerAddress, out var gateway))
            {
                missing[port.Index] = DropReason.NoRoute;
                continue;
            }

            RoutingDomainConfig? domain = null;
            if (vsid.DomainIndex >= 0)
            {
                settings.TryGetValue(p.Domains[vsid.DomainIndex].Id, out domain);
            }

            int mtu = InterfaceMtu(p, in record);
            uint lease = p.Global.DhcpLeaseSeconds;
            bindings[port.Index] = new DhcpBinding
            {
                ClientAddress = record.CustomerAddress,
                ServerAddress = gateway.Address,
                LeaseOptions = Options(gateway, domain, mtu, lease),
                InformOptions = Options(gateway, domain, mtu, lease: null),
            };
        }

        return new DhcpBindings(bindings, missing);
    }

    /// <summary>The longest on-link IPv4 prefix of the VSID that holds <paramref name="ca"/> (and so has a gateway address).</summary>
    private static bool TryGetSubnet(VsidInfo vsid, IpAddr ca, out GatewayAddress subnet)
    {
        subnet = default;
        bool found = false;
        foreach (var g in vsid.Gateways)
        {
            if (g.Prefix.IsV4 && g.Prefix.Contains(ca) && (!found || g.Prefix.Length > subnet.Prefix.Length))
            {
                subnet = g;
                found = true;
            }
        }

        return found;
    }

    /// <summary>The largest IP packet the VM may send without the MTU rule: provider MTU less the NVGRE overhead (42 / 62), or all of it for Nat.</summary>
    private static int InterfaceMtu(PolicySnapshot p, in RecordEntry record)
    {
        int port = p.LocalPas[record.LocalPaIndex].PortIndex;
        int mtu = port >= 0 ? p.Ports[port].Mtu : PortConfig.DefaultMtu;
        if (record.Rule == TranslationRule.Nat)
        {
            return mtu;
        }

        int outerIp = record.ProviderAddress.IsV4 ? Ipv4.MinHeaderSize : Ipv6.HeaderSize;
        return mtu - outerIp - Gre.NvgreSize - Ethernet.HeaderSize;
    }

    private static byte[] Options(GatewayAddress subnet, RoutingDomainConfig? domain, int mtu, uint? lease)
    {
        var o = new List<byte>(MaxOptionsSize);
        Option32(o, Dhcp.OptionServerId, subnet.Address.V4);
        if (lease is { } l)
        {
            Option32(o, Dhcp.OptionLeaseTime, l);
            if (l != Dhcp.InfiniteLease)
            {
                Option32(o, Dhcp.OptionRenewalTime, l / 2);                     // T1 = 0.5 × lease
                Option32(o, Dhcp.OptionRebindingTime, (uint)((ulong)l * 7 / 8)); // T2 = 0.875 × lease (RFC 2131 4.4.5)
            }
        }

        Option32(o, Dhcp.OptionSubnetMask, subnet.Prefix.Length == 0 ? 0 : uint.MaxValue << (32 - subnet.Prefix.Length));
        Option32(o, Dhcp.OptionRouter, subnet.Address.V4);
        // The loader keeps both within one option each; the bounds only hold MaxOptionsSize for
        // a HostConfig built in code.
        int servers = Math.Min(domain?.DnsServers.Count ?? 0, RoutingDomainConfig.MaxDnsServers);
        if (servers > 0)
        {
            o.Add(Dhcp.OptionDnsServers);
            o.Add((byte)(4 * servers));
            for (int i = 0; i < servers; i++)
            {
                AddUInt32(o, domain!.DnsServers[i].V4);
            }
        }

        if (domain?.DomainName is { Length: > 0 } name)
        {
            int length = Math.Min(name.Length, RoutingDomainConfig.MaxDomainNameLength);
            o.Add(Dhcp.OptionDomainName);
            o.Add((byte)length);
            for (int i = 0; i < length; i++)
            {
                o.Add((byte)name[i]); // validated: ASCII letters, digits, hyphens, dots
            }
        }

        o.Add(Dhcp.OptionInterfaceMtu);
        o.Add(2);
        o.Add((byte)(mtu >> 8));
        o.Add((byte)mtu);
        return [.. o];
    }

    /// <summary>A 4-byte option: an address or a 32-bit time.</summary>
    private static void Option32(List<byte> o, byte code, uint value)
    {
        o.Add(code);
        o.Add(4);
        AddUInt32(o, value);
    }

    private static void AddUInt32(List<byte> o, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        foreach (byte x in b)
        {
            o.Add(x);
        }
    }
}
