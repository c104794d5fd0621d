namespace NvDataplane.Tests;

/// <summary>Waiting for something another process or thread does; the limit guards against a hang and is not a timing assertion.</summary>
public static class TestWait
{
    /// <summary>True as soon as <paramref name="condition"/> holds, polled every <paramref name="pollMs"/> ms; its last value after <paramref name="seconds"/> s.</summary>
    public static bool Until(Func<bool> condition, int seconds = 20, int pollMs = 50)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(pollMs);
        }

        return condition();
    }
}
