using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace NvDataplane.Headers;

/// <summary>A 48-bit Ethernet address in the low bits of a ulong (first wire byte most significant).</summary>
public readonly struct MacAddress : IEquatable<MacAddress>
{
    public const int Size = 6;

    public readonly ulong Value;

    public MacAddress(ulong value) => Value = value & 0xFFFF_FFFF_FFFFUL;

    public static MacAddress Broadcast => new(0xFFFF_FFFF_FFFFUL);

    public bool IsBroadcast => Value == 0xFFFF_FFFF_FFFFUL;

    /// <summary>Group bit (I/G) set: broadcast or multicast.</summary>
    public bool IsMulticast => (Value & 0x0100_0000_0000UL) != 0;

    public bool IsZero => Value == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MacAddress Read(ReadOnlySpan<byte> wire) =>
        new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(wire) << 32) | BinaryPrimitives.ReadUInt32BigEndian(wire[2..]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> wire)
    {
        BinaryPrimitives.WriteUInt16BigEndian(wire, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(wire[2..], (uint)Value);
    }

    /// <summary>Accepts 00-15-5D-00-00-01, 00:15:5d:00:00:01 and 00155D000001 (SPEC section 2).</summary>
    public static bool TryParse(string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null)
        {
            return false;
        }

        string hex;
        if (text.Length == 12)
        {
            hex = text;
        }
        else if (text.Length == 17 && (AllSeparators(text, '-') || AllSeparators(text, ':')))
        {
            hex = string.Concat(text[0..2], text[3..5], text[6..8], text[9..11], text[12..14], text[15..17]);
        }
        else
        {
            return false;
        }

        if (!ulong.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v))
        {
            return false;
        }

        mac = new MacAddress(v);
        return true;
    }

    private static bool AllSeparators(string text, char sep)
    {
        for (int i = 2; i < 17; i += 3)
        {
            if (text[i] != sep)
            {
                return false;
            }
        }

        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var m) ? m : throw new FormatException($"'{text}' is not a MAC address");

    public bool Equals(MacAddress other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is MacAddress other && Equals(other);

    public override int GetHashCode() => Value.GetHashCode();

    /// <summary>HNV style: 00-15-5D-00-00-01.</summary>
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        Write(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:X2}-{b[1]:X2}-{b[2]:X2}-{b[3]:X2}-{b[4]:X2}-{b[5]:X2}");
    }

    public static bool operator ==(MacAddress left, MacAddress right) => left.Equals(right);

    public static bool operator !=(MacAddress left, MacAddress right) => !left.Equals(right);
}
