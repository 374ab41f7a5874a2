using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>
/// `berth registry` as a child process killed with SIGKILL in the middle of an upload, then restarted on the same
/// root: the store is consistent and the upload resumes. Needs the berth executable (make build); BERTH=path overrides.
/// </summary>
public sealed class KillTests
{
    private static string Berth() => Environment.GetEnvironmentVariable("BERTH") is { Length: > 0 } path ? path : Repo.Executable("berth");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<Process> StartAsync(string root, int port)
    {
        var psi = new ProcessStartInfo(Berth()) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "registry", "--addr", $"127.0.0.1:{port}", "--root", root })
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi)!;
        using var client = new HttpClient();
        for (var i = 0; i < 200; i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"berth registry exited {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
            }
            try
            {
                if ((await client.GetAsync($"http://127.0.0.1:{port}/v2/")).IsSuccessStatusCode)
                {
                    return process;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        process.Kill();
        throw new TimeoutException("berth registry did not answer /v2/ within 20 s");
    }

    /// <summary>A request body that sends <paramref name="first"/> bytes, then signals and stalls until cancelled.</summary>
    private sealed class StallingContent(byte[] content, int first, TaskCompletionSource sent) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(content.AsMemory(0, first), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            sent.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = content.Length;
            return true;
        }
    }

    [Fact]
    public async Task Kill_9_mid_upload_then_restart_resumes_with_a_consistent_store()
    {
        using var temp = new TempDirectory();
        var root = temp.Combine("root");
        var port = FreePort();
        var content = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var digest = TestImage.Sha256(content);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var process = await StartAsync(root, port);
        string location;
        try
        {
            location = (await client.PostAsync("/v2/kill/blobs/uploads/", null)).Headers.Location!.OriginalString;
            var first = new HttpRequestMessage(HttpMethod.Patch, location) { Content = Http.Bytes(content[..1_000_000]) };
            first.Content.Headers.TryAddWithoutValidation("Content-Range", "0-999999");
            Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(first)).StatusCode);

            // The second chunk is half sent when the registry dies.
            var sent = new TaskCompletionSource();
            using var second = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new StallingContent(content[1_000_000..], 3_000_000, sent) };
            second.Content.Headers.TryAddWithoutValidation("Content-Range", $"1000000-{content.Length - 1}");
            using var abandon = new CancellationTokenSource();
            var pending = client.SendAsync(second, abandon.Token);
            await sent.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(500);
            using (var kill = Process.Start("kill", ["-9", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
            {
                await kill.WaitForExitAsync();
            }
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(137, process.ExitCode);
            // The client's half-sent request can only fail now; stop waiting for it.
            await abandon.CancelAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => pending.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
            process.Dispose();
        }

        var restarted = await StartAsync(root, port);
        try
        {
            using (var head = new HttpRequestMessage(HttpMethod.Head, $"/v2/kill/blobs/{digest}"))
            {
                Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(head)).StatusCode);
            }
            var status = await client.GetAsync(location);
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            var range = status.Headers.GetValues("Range").Single();
            var offset = long.Parse(range.Split('-')[1], System.Globalization.CultureInfo.InvariantCulture) + 1;
            Assert.InRange(offset, 1_000_000, 4_000_000);

            var rest = new HttpRequestMessage(HttpMethod.Patch, location) { Content = Http.Bytes(content[(int)offset..]) };
            rest.Content.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{content.Length - 1}");
            Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(rest)).StatusCode);
            // The digest check proves the bytes that survived the kill were exactly the client's prefix.
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"{location}?digest={digest}", null)).StatusCode);
            Assert.Equal(content, await client.GetByteArrayAsync($"/v2/kill/blobs/{digest}"));
        }
        finally
        {
            restarted.Kill();
            await restarted.WaitForExitAsync();
            restarted.Dispose();
        }
    }
}
