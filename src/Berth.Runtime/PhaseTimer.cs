using System.Diagnostics;

namespace Berth.Runtime;

/// <summary>
/// Start-up phase timing for performance work: with BERTH_RUNTIME_TIMING=1 in the environment each mark prints
/// "berth-runtime[pid] 12345.678 ms phase" to stderr, on the monotonic clock shared by all processes (so the
/// runtime's and the init's marks line up). Otherwise a mark costs one branch.
/// </summary>
public static class PhaseTimer
{
    public const string Variable = "BERTH_RUNTIME_TIMING";

    public static bool Enabled { get; } = Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>The environment to hand to a spawned init or exec helper: empty, or the timing switch.</summary>
    public static string[] ChildEnvironment => Enabled ? [Variable + "=1"] : [];

    public static void Mark(string phase)
    {
        if (Enabled)
        {
            var ms = Stopwatch.GetTimestamp() * 1000.0 / Stopwatch.Frequency;
            Console.Error.WriteLine($"berth-runtime[{Environment.ProcessId}] {ms:F3} ms {phase}");
        }
    }
}
