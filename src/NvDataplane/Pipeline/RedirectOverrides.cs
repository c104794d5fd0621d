using NvDataplane.Headers;
using NvDataplane.Policy;

namespace NvDataplane.Pipeline;

/// <summary>A REDIRECT one worker applied: (VSID, CA) is sent to <see cref="NewProviderAddress"/> instead of its record's PA.</summary>
public readonly record struct RedirectOverride(uint Vsid, IpAddr CustomerAddress, IpAddr NewProviderAddress, IpAddr PolicyProviderAddress);

/// <summary>
/// The REDIRECTs one forwarder applied with <c>global.trustRedirects</c> on (docs/FORWARDING.md
/// section 8): (VSID, CA) → the new PA, kept until a policy version changes that record (its PA,
/// or the record is gone). Worker-local like <see cref="LearnedBindings"/>: owned and used by one
/// worker thread, no lock; bounded by <see cref="Capacity"/>.
/// </summary>
public sealed class RedirectOverrides
{
    public const int Capacity = 65_536;

    private readonly Dictionary<(uint Vsid, IpAddr Ca), RedirectOverride> _table = [];

    public int Count => _table.Count;

    /// <summary>The PA (VSID, CA) was redirected to, if it was.</summary>
    public bool TryGet(uint vsid, IpAddr ca, out IpAddr newProviderAddress)
    {
        if (_table.TryGetValue((vsid, ca), out var o))
        {
            newProviderAddress = o.NewProviderAddress;
            return true;
        }

        newProviderAddress = default;
        return false;
    }

    /// <summary>Applies a REDIRECT for a record whose policy PA is <paramref name="policyPa"/>; false when the table is full.</summary>
    public bool Set(uint vsid, IpAddr ca, IpAddr newPa, IpAddr policyPa)
    {
        if (_table.Count >= Capacity && !_table.ContainsKey((vsid, ca)))
        {
            return false;
        }

        _table[(vsid, ca)] = new RedirectOverride(vsid, ca, newPa, policyPa);
        return true;
    }

    /// <summary>
    /// A new policy version: drops every override whose record is gone or has another PA now —
    /// all of them when the version no longer trusts REDIRECTs (turning trust off undoes what it
    /// let in).
    /// </summary>
    public void Revalidate(PolicySnapshot policy)
    {
        if (!policy.Global.TrustRedirects)
        {
            _table.Clear();
            return;
        }

        foreach (var (key, o) in _table)
        {
            // Kept only while it could be applied anew (Migration.cs): the record still a remote
            // Encap one on the same PA, the new PA still a target a REDIRECT may name (not one
            // of ours, nor the broadcast of one of our PA prefixes). A record become Nat kept
            // vouching for NVGRE from the redirected PA.
            int r = policy.FindRecord(key.Vsid, key.Ca);
            if (r < 0 || policy.Records[r].ProviderAddress != o.PolicyProviderAddress
                || policy.Records[r].IsLocal || policy.Records[r].Rule != TranslationRule.Encap
                || Forwarder.RefusedRedirectTarget(policy, o.NewProviderAddress))
            {
                _table.Remove(key); // allowed while enumerating a Dictionary
            }
        }
    }

    /// <summary>The overrides held (owner's thread only), by VSID then CA.</summary>
    public List<RedirectOverride> Snapshot() =>
        [.. _table.Values.OrderBy(o => o.Vsid).ThenBy(o => o.CustomerAddress)];
}
