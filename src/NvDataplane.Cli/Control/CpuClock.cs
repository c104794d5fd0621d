using System.Globalization;

namespace NvDataplane.Cli.Control;

/// <summary>
/// The CPU clock that turns ns/packet into cycles/packet, read once at start: the nominal
/// frequency the kernel reports in <c>/sys/devices/system/cpu/cpu0/cpufreq/base_frequency</c>
/// (kHz; the TSC rate on Intel), else the first <c>cpu MHz</c> of <c>/proc/cpuinfo</c> (on a VM,
/// the host's TSC rate; on bare metal with frequency scaling, cpu 0's clock at that moment),
/// else <c>cpuinfo_max_freq</c>. Cycles are ns × GHz, an estimate where the clock scales; null
/// where none of these exists.
/// </summary>
internal sealed record CpuClock(double? Mhz, string Source)
{
    private const string CpuFreq = "/sys/devices/system/cpu/cpu0/cpufreq/";

    public static readonly CpuClock Unknown = new(null, "unknown");

    public static CpuClock Detect() =>
        FromKhzFile(CpuFreq + "base_frequency") ?? FromCpuInfo() ?? FromKhzFile(CpuFreq + "cpuinfo_max_freq") ?? Unknown;

    /// <summary>ns × clock; 0 where the clock is unknown.</summary>
    public double Cycles(double ns) => Mhz is { } mhz ? ns * mhz / 1000 : 0;

    private static CpuClock? FromKhzFile(string path) =>
        TryRead(path) is { } text && double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double khz) && khz > 0
            ? new CpuClock(khz / 1000, path)
            : null;

    private static CpuClock? FromCpuInfo()
    {
        foreach (string line in (TryRead("/proc/cpuinfo") ?? "").Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim() == "cpu MHz"
                && double.TryParse(line[(colon + 1)..].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double mhz) && mhz > 0)
            {
                return new CpuClock(mhz, "/proc/cpuinfo cpu MHz");
            }
        }

        return null;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
