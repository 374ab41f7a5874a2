namespace Berth.ApiServer.Tests;

/// <summary>Keeps a server up for exploring with kubectl by hand (BERTH_MANUAL=seconds); skipped otherwise.</summary>
public class ManualServerTests
{
    [Fact]
    public async Task Serve()
    {
        var seconds = Environment.GetEnvironmentVariable("BERTH_MANUAL");
        if (string.IsNullOrEmpty(seconds))
        {
            return;
        }
        var f = new ServerFixture();
        await f.InitializeAsync();
        File.WriteAllText("/tmp/berth-manual.kubeconfig", File.ReadAllText(f.Kubeconfig));
        await Task.Delay(TimeSpan.FromSeconds(int.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)));
        await f.DisposeAsync();
    }
}
