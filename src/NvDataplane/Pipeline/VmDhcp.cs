using System.Runtime.CompilerServices;
using NvDataplane.Diagnostics;
using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

// DHCP from policy on vm ports (docs/FORWARDING.md section 5): the answer goes back on the port
// the request came in on, never anywhere else.
public sealed partial class Forwarder
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    private DropReason VmDhcp(PortInfo port, PacketBuffer buffer, in PacketInfo info)
    {
        DropReason r = DhcpResponder.Respond(buffer, in info, port.Mac, port.Index, _p.Dhcp, _gatewayMac);
        return r != DropReason.None ? r : Answer(port.Index, buffer);
    }
}
