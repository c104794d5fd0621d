namespace NvDataplane.Policy;

/// <summary>
/// Where a broadcast or multicast frame of a VSID with <c>flooding</c> on is replicated (WS2012
/// R2's unicast replication, no provider multicast): every vm port of the VSID on this host, and
/// one NVGRE copy to every distinct remote PA holding an Encap record of the VSID. NAT-rule
/// records get no copy: their PA is their VM's own address, with no NVGRE endpoint behind it.
/// </summary>
public sealed class FloodGroup
{
    /// <summary>
    /// The vm ports of the VSID on this host, in port order (the sender skips itself). Not an
    /// external port: it routes IP to a physical network, and a tenant's broadcast stays inside.
    /// </summary>
    public required int[] LocalPorts { get; init; }

    /// <summary>
    /// Indices into <see cref="PolicySnapshot.RemotePas"/>: each remote PA with an Encap record of
    /// the VSID once, in the order of its first record in <c>lookupRecords</c>.
    /// </summary>
    public required int[] RemotePas { get; init; }

    /// <summary>Gives each VSID that floods its group (<see cref="VsidInfo.Flood"/>); the rest keep null. One pass over the records.</summary>
    internal static void Attach(PolicySnapshot snapshot)
    {
        var remotes = new Dictionary<uint, (List<int> InOrder, HashSet<int> Seen)>();
        foreach (var subnet in snapshot.Config.VirtualSubnets)
        {
            if (subnet.Flooding && snapshot.Vsids.ContainsKey(subnet.VirtualSubnetId))
            {
                remotes[subnet.VirtualSubnetId] = ([], []);
            }
        }

        if (remotes.Count == 0)
        {
            return;
        }

        foreach (var r in snapshot.Records)
        {
            if (r.Rule == TranslationRule.Encap && r.RemotePaIndex >= 0 && remotes.TryGetValue(r.Vsid, out var pas) && pas.Seen.Add(r.RemotePaIndex))
            {
                pas.InOrder.Add(r.RemotePaIndex);
            }
        }

        foreach (var (vsid, pas) in remotes)
        {
            var info = snapshot.Vsids[vsid];
            info.Flood = new FloodGroup
            {
                LocalPorts = [.. snapshot.Ports.Where(p => p.Role == PortRole.Vm && p.Vsid == info).Select(p => p.Index)],
                RemotePas = [.. pas.InOrder],
            };
        }
    }
}
