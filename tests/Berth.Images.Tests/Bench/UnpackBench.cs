using System.Diagnostics;
using System.Globalization;
using System.Text;
using Berth.Images.Content;
using Berth.Images.Formats;
using Berth.Images.Layers;
using Berth.Oci.Image;
using Berth.Testing;

namespace Berth.Images.Tests.Bench;

/// <summary>Runs only when BERTH_BENCH=1 (bench/images.sh sets it); otherwise reported as skipped.</summary>
public sealed class BenchFactAttribute : FactAttribute
{
    public BenchFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("BERTH_BENCH") != "1")
        {
            Skip = "benchmark: run bench/images.sh";
        }
    }
}

/// <summary>
/// Unpack of a large multi-layer image (parts of this machine's /usr, one layer each, plus a layer of whiteouts):
/// Berth vs `umoci raw unpack` (rootfs only, the same work) in the same run, alternating, same input.
/// </summary>
[Trait(Traits.Category, "Bench")]
public sealed class UnpackBench : IDisposable
{
    private static readonly string[] Sources =
    [
        "/usr/include", "/usr/share/doc", "/usr/lib/python3.11", "/usr/share/perl", "/usr/share/zoneinfo",
        "/usr/sbin", "/usr/lib/x86_64-linux-gnu/perl",
    ];

    private readonly TempDirectory _temp = new("berth-bench");

    public void Dispose() => _temp.Dispose();

    [BenchFact]
    public async Task Unpack_a_large_multi_layer_image_berth_vs_umoci()
    {
        Privileged.Require();
        var iterations = int.Parse(Environment.GetEnvironmentVariable("BERTH_BENCH_ITERATIONS") ?? "3", CultureInfo.InvariantCulture);
        var content = new LocalContentStore(_temp.Combine("content"));
        var layers = new List<Descriptor>();
        var diffIds = new List<Berth.Core.Digest>();
        long totalSize = 0;
        var entries = 0;
        foreach (var source in Sources.Where(Directory.Exists))
        {
            var blob = _temp.Combine("layer.tmp");
            LayerWriteResult written;
            await using (var file = File.Create(blob))
            {
                written = await LayerWriter.WriteAsync(source, file, new LayerWriteOptions { Prefix = source.TrimStart('/') });
            }
            await using (var file = File.OpenRead(blob))
            {
                var info = await content.WriteAsync(file, written.Size, written.Digest);
                layers.Add(new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = info.Digest, Size = info.Size });
            }
            diffIds.Add(written.DiffId);
            totalSize += written.UncompressedSize;
            entries += written.Entries;
            File.Delete(blob);
        }
        var whiteouts = new TestTar().File("usr/share/doc/.wh..wh..opq", "").File("usr/include/.wh.linux", "").File("usr/sbin/.wh.ip", "").ToArray();
        var w = await content.WriteBytesAsync(whiteouts);
        layers.Add(new Descriptor { MediaType = MediaTypes.OciLayer, Digest = w.Digest, Size = w.Size });
        diffIds.Add(w.Digest);
        var config = new ImageConfig { Architecture = "amd64", Os = "linux", RootFs = new RootFs { DiffIds = diffIds } };
        var manifest = await ImageWriter.WriteImageAsync(content, config, layers);
        var layout = _temp.Combine("layout");
        await OciLayout.WriteAsync(layout, content, [(manifest, "bench")]);
        var manifestDoc = await content.ReadJsonAsync(manifest.Digest, ImageJsonContext.Default.ImageManifest);

        var berth = new List<double>();
        var umoci = new List<double>();
        for (var i = 0; i < iterations; i++)
        {
            var target = _temp.Combine($"berth-{i}");
            var sw = Stopwatch.StartNew();
            await ImageUnpacker.UnpackAsync(content, manifestDoc, target);
            berth.Add(sw.Elapsed.TotalSeconds);

            var umociTarget = _temp.Combine($"umoci-{i}");
            sw.Restart();
            Run("umoci", "raw", "unpack", "--image", layout + ":bench", umociTarget);
            umoci.Add(sw.Elapsed.TotalSeconds);

            if (i == 0)
            {
                // Same result, or the timing means nothing.
                Assert.Equal("", TreeSnapshot.Diff(TreeSnapshot.Take(umociTarget), TreeSnapshot.Take(target)));
            }
            Directory.Delete(target, true);
            Directory.Delete(umociTarget, true);
        }

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"image: {layers.Count} layers, {entries} entries, {totalSize / (1 << 20)} MiB uncompressed, {layers.Sum(l => l.Size) / (1 << 20)} MiB gzip");
        report.AppendLine(CultureInfo.InvariantCulture, $"berth unpack      median {Median(berth):F2} s  p95 {P95(berth):F2} s  (n={iterations})");
        report.AppendLine(CultureInfo.InvariantCulture, $"umoci raw unpack  median {Median(umoci):F2} s  p95 {P95(umoci):F2} s  (n={iterations})");
        report.AppendLine(CultureInfo.InvariantCulture, $"ratio umoci/berth (median): {Median(umoci) / Median(berth):F2}x  (>1 means Berth is faster)");
        var path = Environment.GetEnvironmentVariable("BERTH_BENCH_REPORT");
        if (path is not null)
        {
            await File.WriteAllTextAsync(path, report.ToString());
        }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
    }

    private static double P95(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s[Math.Min(s.Count - 1, (int)Math.Ceiling(0.95 * s.Count) - 1)];
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} exited {p.ExitCode}: {error}");
    }
}
