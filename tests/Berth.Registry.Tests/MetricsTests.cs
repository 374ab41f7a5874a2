namespace Berth.Registry.Tests;

/// <summary>/metrics as Prometheus's own linter (promtool) reads it.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Promtool_accepts_the_exposition_after_real_traffic()
    {
        await using var registry = await RegistryHost.StartAsync();
        var (manifest, _) = await Http.PushImageBlobsAsync(registry.Client, "metrics/app", layers: 2);
        await Http.PutManifestAsync(registry.Client, "metrics/app", "v1", manifest, "application/vnd.oci.image.manifest.v1+json");
        await registry.Client.GetAsync("/v2/metrics/app/manifests/v1");
        await registry.Client.GetAsync("/v2/metrics/app/manifests/missing");
        registry.Server.Service.CollectGarbage();

        var text = await registry.Client.GetStringAsync("/metrics");
        var result = await Tool.RunAsync("promtool", ["check", "metrics"], stdin: text);
        Assert.True(result.ExitCode == 0, $"promtool: {result.Stdout}{result.Stderr}\n{text}");
        Assert.Contains("berth_registry_uploads_total{result=\"completed\"} 3", text, StringComparison.Ordinal);
        Assert.Contains("berth_registry_gc_runs_total 1", text, StringComparison.Ordinal);
    }
}
