using System.Diagnostics;

namespace Berth.Runtime;

/// <summary>
/// Start-up phase timing for performance work: with BERTH_RUNTIME_TIMING=1 in the environment each mark prints
/// "berth-runtime[pid] +1.234 ms phase" to stderr, measured from process start. Otherwise a mark costs one branch.
/// </summary>
public static class PhaseTimer
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("BERTH_RUNTIME_TIMING") == "1";
    private static readonly DateTime ProcessStart = Enabled ? Process.GetCurrentProcess().StartTime.ToUniversalTime() : default;

    public static void Mark(string phase)
    {
        if (Enabled)
        {
            Console.Error.WriteLine($"berth-runtime[{Environment.ProcessId}] +{(DateTime.UtcNow - ProcessStart).TotalMilliseconds:F3} ms {phase}");
        }
    }
}
