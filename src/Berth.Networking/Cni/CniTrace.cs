using System.Diagnostics;

namespace Berth.Networking.Cni;

/// <summary>Step timings on stderr when BERTH_CNI_TRACE=1 (stdout belongs to the CNI result).</summary>
internal static class CniTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("BERTH_CNI_TRACE") == "1";
    private static readonly long Start = Stopwatch.GetTimestamp();

    public static void Mark(string step)
    {
        if (Enabled)
        {
            Console.Error.WriteLine($"berth-cni {Environment.ProcessId} {Stopwatch.GetElapsedTime(Start).TotalMilliseconds,8:F2} ms {step}");
        }
    }
}
