using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace NvDataplane.Headers;

/// <summary>
/// An IPv4 or IPv6 address as a 128-bit value, allocation-free, usable as a hash key.
/// IPv4 is kept in its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so one type and one table serve
/// both families. <see cref="Hi"/>/<see cref="Lo"/> hold the address in host order for arithmetic
/// (prefix masks); wire bytes are read and written through <see cref="BinaryPrimitives"/>.
/// </summary>
public readonly struct IpAddr : IEquatable<IpAddr>, IComparable<IpAddr>
{
    private const ulong V4MappedHi = 0;
    private const ulong V4MappedLoPrefix = 0x0000_FFFF_0000_0000UL;

    public readonly ulong Hi;
    public readonly ulong Lo;

    public IpAddr(ulong hi, ulong lo)
    {
        Hi = hi;
        Lo = lo;
    }

    public static IpAddr Any4 => FromV4(0);

    public static IpAddr Any6 => new(0, 0);

    public bool IsV4 => Hi == V4MappedHi && (Lo & 0xFFFF_FFFF_0000_0000UL) == V4MappedLoPrefix;

    public bool IsV6 => !IsV4;

    /// <summary>The IPv4 address in host order (valid only when <see cref="IsV4"/>).</summary>
    public uint V4 => (uint)Lo;

    /// <summary>0.0.0.0 or ::, the "on-link" next hop and the GatewayWildcard CA.</summary>
    public bool IsUnspecified => IsV4 ? V4 == 0 : (Hi | Lo) == 0;

    /// <summary>IPv4 limited broadcast, IPv4 multicast (224.0.0.0/4) or IPv6 multicast (ff00::/8).</summary>
    public bool IsBroadcastOrMulticast => IsV4 ? V4 == 0xFFFF_FFFF || (V4 >> 28) == 0xE : (Hi >> 56) == 0xFF;

    /// <summary>IPv6 link-local (fe80::/10): never forwarded off its link (RFC 4291 2.5.6).</summary>
    public bool IsV6LinkLocal => IsV6 && (Hi >> 54) == (0xfe80UL >> 6);

    /// <summary>
    /// Not a single host's address, so never the destination of an ICMP error (RFC 1812
    /// 4.3.2.7, RFC 4443 2.4): unspecified, loopback (127.0.0.0/8, ::1), IPv4 limited broadcast,
    /// IPv4 multicast or class E (224.0.0.0/3), IPv6 multicast.
    /// </summary>
    public bool IsNotAHost => IsV4 ? V4 == 0 || (V4 >> 24) == 127 || (V4 >> 29) == 0x7 : (Hi | Lo) == 0 || (Hi == 0 && Lo == 1) || (Hi >> 56) == 0xFF;

    public int BitLength => IsV4 ? 32 : 128;

    public int ByteLength => IsV4 ? 4 : 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr FromV4(uint hostOrder) => new(V4MappedHi, V4MappedLoPrefix | hostOrder);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr ReadV4(ReadOnlySpan<byte> wire) => FromV4(BinaryPrimitives.ReadUInt32BigEndian(wire));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr ReadV6(ReadOnlySpan<byte> wire) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(wire), BinaryPrimitives.ReadUInt64BigEndian(wire[8..]));

    /// <summary>Writes the address in wire order: 4 bytes for IPv4, 16 for IPv6.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> wire)
    {
        if (IsV4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(wire, V4);
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(wire, Hi);
            BinaryPrimitives.WriteUInt64BigEndian(wire[8..], Lo);
        }
    }

    public static IpAddr FromIPAddress(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return ReadV4(bytes);
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return FromIPAddress(address.MapToIPv4());
        }

        address.TryWriteBytes(bytes, out _);
        return ReadV6(bytes);
    }

    public static bool TryParse(string? text, out IpAddr address) => TryParse(text, out address, out _);

    /// <summary>
    /// As <see cref="TryParse(string?, out IpAddr)"/>; when the text is refused though .NET reads
    /// it as an address, <paramref name="why"/> says why, as a phrase to follow the quoted text
    /// (and null when the text is no address at all).
    /// </summary>
    /// <remarks>
    /// Refused besides what is not an address: a zone ID (<c>fe80::1%eth1</c>: it names an
    /// interface of one host and was dropped without a word), brackets (<c>[2001:db8::1]:80</c>,
    /// whose port was dropped as well), and an IPv4-mapped IPv6 address
    /// (<c>::ffff:10.1.1.9</c>, never on the wire: it was taken for the IPv4 address).
    /// </remarks>
    public static bool TryParse(string? text, out IpAddr address, out string? why)
    {
        address = default;
        why = null;
        if (string.IsNullOrWhiteSpace(text) || text.Contains('/', StringComparison.Ordinal) || !IPAddress.TryParse(text, out var ip))
        {
            return false;
        }

        if (text.Contains('[', StringComparison.Ordinal))
        {
            why = $"is written with brackets, as in a URL; give the address alone, such as {new IPAddress(ip.GetAddressBytes())}";
            return false;
        }

        if (text.Contains('%', StringComparison.Ordinal))
        {
            why = $"has a zone ID ({text[text.IndexOf('%', StringComparison.Ordinal)..]}), which names an interface of one host; give the address alone, {new IPAddress(ip.GetAddressBytes())}";
            return false;
        }

        if (ip.IsIPv4MappedToIPv6)
        {
            why = $"is an IPv4-mapped IPv6 address, which is never on the wire; give the IPv4 address {ip.MapToIPv4()}";
            return false;
        }

        // IPAddress.TryParse accepts "1" or "1.2" as IPv4 shorthand, and reads "010" as octal and
        // "0x0a" as hex (inet_aton); an operator never means those. Dotted decimal only.
        if (ip.AddressFamily == AddressFamily.InterNetwork && !IsDottedDecimal(text))
        {
            return false;
        }

        address = FromIPAddress(ip);
        return true;
    }

    /// <summary>Four decimal numbers of one to three digits, none with a leading zero, between three dots.</summary>
    private static bool IsDottedDecimal(string text)
    {
        int parts = 0, digits = 0;
        char first = '\0';
        foreach (char c in text)
        {
            if (c == '.')
            {
                if (digits == 0 || (digits > 1 && first == '0'))
                {
                    return false;
                }

                parts++;
                digits = 0;
            }
            else if (c is >= '0' and <= '9' && digits < 3)
            {
                first = digits == 0 ? c : first;
                digits++;
            }
            else
            {
                return false;
            }
        }

        return parts == 3 && digits > 0 && !(digits > 1 && first == '0');
    }

    public static IpAddr Parse(string text) =>
        TryParse(text, out var a) ? a : throw new FormatException($"'{text}' is not an IPv4 or IPv6 address");

    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        Write(bytes);
        return new IPAddress(bytes[..ByteLength]);
    }

    /// <summary>This address plus <paramref name="n"/> (no overflow handling beyond 128 bits).</summary>
    public IpAddr Add(ulong n)
    {
        ulong lo = Lo + n;
        ulong hi = Hi + (lo < Lo ? 1UL : 0UL);
        return new IpAddr(hi, lo);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(IpAddr other) => Hi == other.Hi && Lo == other.Lo;

    public override bool Equals(object? obj) => obj is IpAddr other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Hi, Lo);

    public int CompareTo(IpAddr other) => Hi != other.Hi ? Hi.CompareTo(other.Hi) : Lo.CompareTo(other.Lo);

    public override string ToString() => ToIPAddress().ToString();

    public static bool operator ==(IpAddr left, IpAddr right) => left.Equals(right);

    public static bool operator !=(IpAddr left, IpAddr right) => !left.Equals(right);

    public static bool operator <(IpAddr left, IpAddr right) => left.CompareTo(right) < 0;

    public static bool operator >(IpAddr left, IpAddr right) => left.CompareTo(right) > 0;

    public static bool operator <=(IpAddr left, IpAddr right) => left.CompareTo(right) <= 0;

    public static bool operator >=(IpAddr left, IpAddr right) => left.CompareTo(right) >= 0;
}

/// <summary>A CIDR prefix over <see cref="IpAddr"/>. The address is stored masked.</summary>
public readonly struct IpPrefix : IEquatable<IpPrefix>
{
    public IpPrefix(IpAddr address, int length)
    {
        Length = length;
        Address = Mask(address, length);
    }

    public IpAddr Address { get; }

    /// <summary>Prefix length in the address's own family (0..32 for IPv4, 0..128 for IPv6).</summary>
    public int Length { get; }

    public bool IsV4 => Address.IsV4;

    public static IpPrefix Parse(string text) =>
        TryParse(text, out var p, out string? why) ? p : throw new FormatException(why);

    /// <summary>Parses "a.b.c.d/n" or "x::/n". <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(string? text, out IpPrefix prefix, out string? error)
    {
        prefix = default;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; use a CIDR prefix such as 10.1.1.0/24 or 2001:db8::/64";
            return false;
        }

        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            error = $"\"{text}\" has no prefix length; use a CIDR prefix such as 10.1.1.0/24 or 2001:db8::/64";
            return false;
        }

        if (!IpAddr.TryParse(text[..slash], out var address, out string? why))
        {
            error = why is null
                ? $"\"{text}\" does not start with an IPv4 or IPv6 address; use a CIDR prefix such as 10.1.1.0/24"
                : $"\"{text}\": the address {why}";
            return false;
        }

        int max = address.BitLength;
        if (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int length) || length > max)
        {
            error = $"\"{text}\" has a bad prefix length; use 0..{max}";
            return false;
        }

        prefix = new IpPrefix(address, length);
        return true;
    }

    /// <summary>The length counted over the 128-bit mapped form (IPv4 lengths + 96).</summary>
    private static int Length128(IpAddr a, int length) => a.IsV4 ? length + 96 : length;

    public static IpAddr Mask(IpAddr a, int length)
    {
        int l = Length128(a, length);
        ulong hiMask = l >= 64 ? ulong.MaxValue : l == 0 ? 0 : ulong.MaxValue << (64 - l);
        ulong loMask = l <= 64 ? 0 : l >= 128 ? ulong.MaxValue : ulong.MaxValue << (128 - l);
        return new IpAddr(a.Hi & hiMask, a.Lo & loMask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Contains(IpAddr a) => a.IsV4 == IsV4 && Mask(a, Length) == Address;

    /// <summary>
    /// The subnet's gateway address: the lowest usable address (network + 1), owned by the dataplane.
    /// None for IPv4 /31 and /32 and IPv6 /127 and /128, which have no room for one.
    /// </summary>
    public bool TryGetGatewayAddress(out IpAddr gateway)
    {
        gateway = default;
        if (Length > Address.BitLength - 2)
        {
            return false;
        }

        gateway = Address.Add(1);
        return true;
    }

    public bool Equals(IpPrefix other) => Address == other.Address && Length == other.Length;

    public override bool Equals(object? obj) => obj is IpPrefix other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Address, Length);

    public override string ToString() => $"{Address}/{Length}";

    public static bool operator ==(IpPrefix left, IpPrefix right) => left.Equals(right);

    public static bool operator !=(IpPrefix left, IpPrefix right) => !left.Equals(right);
}
