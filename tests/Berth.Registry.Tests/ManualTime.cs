namespace Berth.Registry.Tests;

/// <summary>A clock the test moves by hand; starts at the real time so that file mtimes compare sensibly.</summary>
internal sealed class ManualTime : TimeProvider
{
    public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
