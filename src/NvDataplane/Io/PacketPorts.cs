namespace NvDataplane.Io;

/// <summary>Opens the port a configuration's <c>device</c> names (SPEC.md section 2).</summary>
public static class PacketPorts
{
    /// <summary>
    /// Opens <c>tap:NAME</c> (<see cref="TapPort"/>) or <c>afpacket:IFNAME</c>
    /// (<see cref="AfPacketPort"/>) in the calling thread's network namespace.
    /// </summary>
    /// <exception cref="ArgumentException">The text is not one of the device forms.</exception>
    /// <exception cref="NotSupportedException">A <c>pcap:</c> device (not implemented yet).</exception>
    /// <exception cref="PlatformNotSupportedException">A Linux device on another system.</exception>
    /// <exception cref="IOException">The device cannot be opened; the message says why.</exception>
    /// <exception cref="UnauthorizedAccessException">The process lacks CAP_NET_ADMIN.</exception>
    public static IPacketPort Open(string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        int colon = device.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? device : device[..colon];
        string name = colon < 0 ? "" : device[(colon + 1)..];
        return kind switch
        {
            "tap" => new TapPort(name),
            "afpacket" => new AfPacketPort(name),
            "pcap" => new PcapPort(name),
            _ => throw new ArgumentException($"device '{device}' is not one of afpacket:IFNAME, tap:NAME, pcap:NAME", nameof(device)),
        };
    }
}
