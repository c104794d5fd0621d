using NvDataplane.Headers;

namespace NvDataplane.Policy;

/// <summary>
/// A lookup record that a policy version moved from a PA of this host to a remote PA (live
/// migration: the CA stays, the PA changes). NVGRE that still arrives here for it is relayed to
/// <see cref="NewProviderAddress"/> until <see cref="ExpiresNs"/> (docs/FORWARDING.md section 8).
/// </summary>
public readonly record struct MovedRecord(uint Vsid, IpAddr CustomerAddress, IpAddr NewProviderAddress, long ExpiresNs);

/// <summary>
/// The moved records of one policy version, worked out by <see cref="PolicyStore.Replace"/> from
/// the version before: new moves get <c>global.migrationGraceSeconds</c>; earlier ones are kept
/// until they expire, following their record (moved on to another remote PA: the new one; moved
/// back here or removed: gone). Immutable once published; read without locks.
/// </summary>
public sealed class MovedRecords
{
    private readonly Dictionary<(uint Vsid, IpAddr Ca), MovedRecord> _entries;

    private MovedRecords(Dictionary<(uint, IpAddr), MovedRecord> entries) => _entries = entries;

    public static MovedRecords Empty { get; } = new([]);

    public int Count => _entries.Count;

    /// <summary>Every entry (expired ones too, until the next version drops them), by VSID then CA.</summary>
    public IReadOnlyList<MovedRecord> All =>
        [.. _entries.Values.OrderBy(e => e.Vsid).ThenBy(e => e.CustomerAddress)];

    /// <summary>The new PA of (vsid, ca) while its grace period runs at <paramref name="nowNs"/>.</summary>
    public bool TryFind(uint vsid, IpAddr ca, long nowNs, out IpAddr newProviderAddress)
    {
        if (_entries.Count != 0 && _entries.TryGetValue((vsid, ca), out var e) && nowNs < e.ExpiresNs)
        {
            newProviderAddress = e.NewProviderAddress;
            return true;
        }

        newProviderAddress = default;
        return false;
    }

    /// <summary>The moved records of <paramref name="next"/>, which replaces <paramref name="previous"/> at <paramref name="nowNs"/>.</summary>
    public static MovedRecords Next(PolicySnapshot previous, PolicySnapshot next, long nowNs)
    {
        var entries = new Dictionary<(uint, IpAddr), MovedRecord>();
        foreach (var e in previous.Moved._entries.Values)
        {
            if (nowNs < e.ExpiresNs && RemoteRecord(next, e.Vsid, e.CustomerAddress) is { } pa)
            {
                entries[(e.Vsid, e.CustomerAddress)] = e with { NewProviderAddress = pa };
            }
        }

        long graceNs = next.Global.MigrationGraceSeconds * 1_000_000_000L;
        if (graceNs > 0)
        {
            foreach (ref readonly var old in previous.Records.AsSpan())
            {
                if (old.IsLocal && Relayable(in old) && RemoteRecord(next, old.Vsid, old.CustomerAddress) is { } pa)
                {
                    entries[(old.Vsid, old.CustomerAddress)] = new MovedRecord(old.Vsid, old.CustomerAddress, pa, nowNs + graceNs);
                }
            }
        }

        return entries.Count == 0 ? Empty : new MovedRecords(entries);
    }

    /// <summary>The PA of (vsid, ca) in <paramref name="policy"/> when its record is remote and relayable, else null.</summary>
    private static IpAddr? RemoteRecord(PolicySnapshot policy, uint vsid, IpAddr ca)
    {
        int r = policy.FindRecord(vsid, ca);
        return r >= 0 && !policy.Records[r].IsLocal && Relayable(in policy.Records[r]) ? policy.Records[r].ProviderAddress : null;
    }

    /// <summary>NVGRE records of one VM: Encap, Static or Dynamic (NAT traffic is no NVGRE; L2Only and wildcard records name no CA).</summary>
    private static bool Relayable(in RecordEntry r) =>
        r.Rule == TranslationRule.Encap && r.Type is RecordType.Static or RecordType.Dynamic;
}
