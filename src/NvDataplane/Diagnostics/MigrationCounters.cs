namespace NvDataplane.Diagnostics;

/// <summary>
/// What live migration did on one worker (docs/FORWARDING.md section 8): frames relayed for
/// records that moved away, and the MS-NVGREE REDIRECT / UNREACHABLE messages sent and received.
/// None of these is a drop: a relayed frame is also counted as forwarded, a received message as
/// answered (consumed). Written only by the owning worker, like <see cref="DataplaneCounters"/>.
/// </summary>
public sealed class MigrationCounters
{
    /// <summary>NVGRE for a moved record, relayed to its new PA during the grace period.</summary>
    public long Relayed { get; set; }

    /// <summary>
    /// Frames for a moved record not relayed because the relay would send them back where they
    /// came from: to the sender's own PA, or to the station that sent them (the new PA's host,
    /// which relayed them itself); the sender gets an UNREACHABLE, the frame is no_local_port.
    /// </summary>
    public long RelaysRefused { get; set; }

    /// <summary>REDIRECTs sent to the sender of a frame for a moved record (relayed or not).</summary>
    public long RedirectsSent { get; set; }

    /// <summary>REDIRECTs not sent because the new PA is of another family than the sender's (the message cannot carry it).</summary>
    public long RedirectsNotCarried { get; set; }

    /// <summary>REDIRECTs received (consumed, never delivered to a VM).</summary>
    public long RedirectsReceived { get; set; }

    /// <summary>Received REDIRECTs applied: this worker now sends the CA's traffic to the new PA.</summary>
    public long RedirectsApplied { get; set; }

    /// <summary>Received REDIRECTs refused with <c>trustRedirects</c> on: not from the PA that owns the flow, malformed, or naming no remote record.</summary>
    public long RedirectsIgnored { get; set; }

    /// <summary>Received REDIRECTs only counted, because <c>global.trustRedirects</c> is off.</summary>
    public long RedirectsUntrusted { get; set; }

    /// <summary>UNREACHABLEs sent for NVGRE naming a (VSID, CA) this host has no policy for.</summary>
    public long UnreachablesSent { get; set; }

    /// <summary>UNREACHABLEs received (consumed, never delivered to a VM).</summary>
    public long UnreachablesReceived { get; set; }

    /// <summary>REDIRECTs / UNREACHABLEs not sent: one went to the same (sender PA, VSID, CA) less than 100 ms before.</summary>
    public long RateLimited { get; set; }

    /// <summary>Messages that could not be sent: no free buffer, or the provider port's queue was full.</summary>
    public long MessagesLost { get; set; }

    /// <summary>Every counter with the name operators read (stopped line, replay JSON), in a fixed order.</summary>
    public IEnumerable<(string Name, long Value)> All()
    {
        yield return ("relayed", Relayed);
        yield return ("relays_refused", RelaysRefused);
        yield return ("redirects_sent", RedirectsSent);
        yield return ("redirects_not_carried", RedirectsNotCarried);
        yield return ("redirects_received", RedirectsReceived);
        yield return ("redirects_applied", RedirectsApplied);
        yield return ("redirects_ignored", RedirectsIgnored);
        yield return ("redirects_untrusted", RedirectsUntrusted);
        yield return ("unreachables_sent", UnreachablesSent);
        yield return ("unreachables_received", UnreachablesReceived);
        yield return ("rate_limited", RateLimited);
        yield return ("messages_lost", MessagesLost);
    }
}
