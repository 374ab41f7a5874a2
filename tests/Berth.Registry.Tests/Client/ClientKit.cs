using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Berth.Images.BaseImages;
using Berth.Images.Content;
using Berth.Images.Distribution;
using Berth.Images.Formats;
using Berth.Images.Store;
using Berth.Oci.Image;
using Berth.Testing;
using CoreDigest = Berth.Core.Digest;

namespace Berth.Registry.Tests.Client;

/// <summary>Local image stores, test images and progress recording for the registry client tests.</summary>
internal static class ClientKit
{
    public static ImageStore Store(TempDirectory temp, string name) =>
        new(new LocalContentStore(temp.Combine(name, "content")), null, temp.Combine(name, "images"));

    public static RegistryClient Client(ImageStore store, CredentialStore? credentials = null, long? chunk = null) =>
        new(store, new RegistryClientOptions { Credentials = credentials, UploadChunkSize = chunk, RetryDelay = TimeSpan.FromMilliseconds(50) });

    /// <summary>The busybox base image (from the host's busybox-static), named busybox:latest.</summary>
    public static async Task<Descriptor> BusyboxAsync(ImageStore store)
    {
        var descriptor = await BaseImageBuilder.BuildBusyboxAsync(store.Content);
        await store.TagAsync("busybox:latest", descriptor);
        return descriptor;
    }

    /// <summary>An image of random gzip layers for <paramref name="architecture"/>, named <paramref name="name"/>.</summary>
    public static async Task<Descriptor> RandomImageAsync(ImageStore store, string name, int layers = 2, int layerSize = 64 * 1024, string architecture = "amd64", bool docker = false)
    {
        var descriptors = new List<Descriptor>();
        var diffIds = new List<CoreDigest>();
        for (var i = 0; i < layers; i++)
        {
            var (compressed, diffId) = TestImage.RandomLayer(layerSize, $"{architecture}-{i}.bin");
            var info = await store.Content.WriteBytesAsync(compressed);
            descriptors.Add(new Descriptor { MediaType = docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip, Digest = info.Digest, Size = info.Size });
            diffIds.Add(CoreDigest.Parse(diffId));
        }
        var config = new ImageConfig
        {
            Architecture = architecture,
            Os = "linux",
            Created = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
            RootFs = new RootFs { DiffIds = diffIds },
            Config = new ContainerConfig { Cmd = ["/bin/sh"] },
        };
        var manifest = await ImageWriter.WriteImageAsync(store.Content, config, descriptors, docker);
        await store.TagAsync(name, manifest);
        return manifest;
    }

    public static CoreDigest Sha256(byte[] bytes) => CoreDigest.Compute(bytes);
}

/// <summary>Records progress events (they arrive from several threads).</summary>
internal sealed class ProgressLog : IProgress<TransferProgress>
{
    public ConcurrentQueue<TransferProgress> Events { get; } = new();

    public void Report(TransferProgress value) => Events.Enqueue(value);

    public IReadOnlyList<TransferStatus> StatusesOf(CoreDigest digest) => Events.Where(e => e.Digest == digest).Select(e => e.Status).ToList();

    public bool Any(TransferStatus status) => Events.Any(e => e.Status == status);
}

/// <summary>Debian's docker-registry (distribution 2.8) on a free loopback port over a temp root; killed by its PID on dispose.</summary>
internal sealed class DistributionHost : IAsyncDisposable
{
    private readonly Process _process;

    private DistributionHost(Process process, string hostPort)
    {
        _process = process;
        HostPort = hostPort;
    }

    public string HostPort { get; }

    public static async Task<DistributionHost> StartAsync(TempDirectory temp, string? htpasswd = null)
    {
        var port = FreePort();
        var config = temp.Combine("distribution.yml");
        var auth = htpasswd is null ? "" : $"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n";
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {temp.Combine("distribution-root")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            {auth}
            """);
        var psi = new ProcessStartInfo("docker-registry") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(config);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start docker-registry");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var host = new DistributionHost(process, $"127.0.0.1:{port}");
        using var http = new HttpClient();
        for (var i = 0; i < 100; i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"docker-registry exited with {process.ExitCode} at start");
            }
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{port}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return host;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        await host.DisposeAsync();
        throw new InvalidOperationException("docker-registry did not start listening");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
