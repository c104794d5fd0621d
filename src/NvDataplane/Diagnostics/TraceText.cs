using System.Text;

namespace NvDataplane.Diagnostics;

/// <summary>The text form of a <see cref="TraceResult"/>, for <c>nvdp trace</c> without <c>--format json</c>.</summary>
public static class TraceText
{
    /// <summary>Bytes of each sent frame shown before "…".</summary>
    public const int FrameBytesShown = 128;

    /// <summary>
    /// The trace as an operator reads it: the frame, the numbered steps (stage, then what was
    /// decided), the explained and actual outcomes, the frames sent (hex), and the notes.
    /// </summary>
    public static string Render(TraceResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var sb = new StringBuilder();
        sb.Append("trace: ").Append(r.FrameLength).Append("-byte frame in on ").Append(r.Port).Append(" (").Append(r.PortRole)
            .Append("), policy version ").Append(r.PolicyVersion).Append('\n');
        sb.Append("frame: ").Append(TraceInput.Spaced(r.Frame, FrameBytesShown)).Append('\n');
        int width = r.Steps.Count == 0 ? 0 : r.Steps.Max(s => s.Stage.Length);
        int number = 0;
        foreach (var step in r.Steps)
        {
            number++;
            sb.Append(number.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(3)).Append(". ")
                .Append(step.Stage.PadRight(width)).Append("  ").Append(step.Text).Append('\n');
            if (step.Acl is { } acl)
            {
                foreach (var rule in acl.Rules)
                {
                    sb.Append(' ', 7 + width).Append(rule.Matched ? "match " : "      ").Append(rule.Label)
                        .Append(" (priority ").Append(rule.Priority).Append(", ").Append(rule.Action).Append(")\n");
                }
            }
        }

        sb.Append("explained: ").Append(Describe(r.Explained)).Append('\n');
        sb.Append("actual:    ").Append(Describe(r.Actual)).Append('\n');
        foreach (var egress in r.Actual.Egress)
        {
            int i = 0;
            foreach (string frame in egress.Frames)
            {
                i++;
                sb.Append("  sent on ").Append(egress.Port).Append(" #").Append(i).Append(": ").Append(TraceInput.Spaced(frame, FrameBytesShown)).Append('\n');
            }
        }

        sb.Append(r.Agrees ? "the explanation agrees with the forwarder\n" : "THE EXPLANATION DISAGREES WITH THE FORWARDER\n");
        foreach (string note in r.Notes)
        {
            sb.Append("note: ").Append(note).Append('\n');
        }

        return sb.ToString();
    }

    private static string Describe(TraceOutcome o)
    {
        var sb = new StringBuilder();
        sb.Append(o.Fate.ToString().ToLowerInvariant());
        if (o.DropReason is { } reason)
        {
            sb.Append(" (").Append(reason).Append(')');
        }

        sb.Append(" — ").Append(o.Summary);
        if (o.LostCopies.Count > 0)
        {
            sb.Append(" [copies lost: ").Append(string.Join(", ", o.LostCopies)).Append(']');
        }

        if (o.AclHits.Count > 0)
        {
            sb.Append(" [ACL hits: ").Append(string.Join(", ", o.AclHits)).Append(']');
        }

        return sb.ToString();
    }
}
