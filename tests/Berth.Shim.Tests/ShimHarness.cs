using System.Text;
using System.Text.Json;
using Berth.Oci.Runtime;
using Berth.Runtime;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>One container under a real berth-shim over a real runtime (berth-runtime or runc) on the busybox rootfs.</summary>
public sealed class ShimHarness : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("berth-shim");

    public ShimHarness(Action<Spec>? configure = null, string runtime = "berth-runtime")
    {
        Id = "shim-" + Guid.NewGuid().ToString("N")[..12];
        RuntimePath = runtime == "runc" ? "/usr/bin/runc" : Repo.Executable("berth-runtime");
        Directory.CreateDirectory(BundleDir);
        Spec = DefaultSpec.Create();
        Spec.Root = new Root { Path = BusyboxRootfs.Path, Readonly = true };
        Spec.Process!.Terminal = false;
        Spec.Process.Env = ["PATH=/bin", "TERM=xterm"];
        Spec.Linux!.CgroupsPath = "/berth-shim-test/" + Id;
        configure?.Invoke(Spec);
        File.WriteAllBytes(Path.Combine(BundleDir, "config.json"), JsonSerializer.SerializeToUtf8Bytes(Spec, OciJsonContext.Default.Spec));
        Before = Leaks.Take(Id, _dir.Path);
    }

    public string Id { get; }

    public Spec Spec { get; }

    public string RuntimePath { get; }

    public string BundleDir => _dir.Combine("bundle");

    public string StateDir => _dir.Combine("state");

    public string RuntimeRoot => _dir.Combine("rt");

    public string LogPath => _dir.Combine("ctr.log");

    public Leaks Before { get; }

    public Leaks Now() => Leaks.Take(Id, _dir.Path);

    public ShimClient? Client { get; private set; }

    public static string ShimPath => Repo.Executable("berth-shim");

    public ShimOptions Options(bool openStdin = false, bool stdinOnce = false, long logMaxSize = 0, int logMaxFiles = 1) =>
        new(Id, BundleDir, StateDir, RuntimePath, RuntimeRoot, Spec.Process!.Terminal, openStdin, stdinOnce, LogPath, logMaxSize, logMaxFiles);

    public async Task<ShimClient> StartShimAsync(ShimOptions? options = null)
    {
        Client = await ShimProcess.StartAsync(ShimPath, options ?? Options(), Timeout());
        return Client;
    }

    public int ShimPid => ShimClient.ReadPid(StateDir);

    public static CancellationToken Timeout(int seconds = 30) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    /// <summary>Everything the stream delivers until its end, per stream id.</summary>
    public static async Task<(string Stdout, string Stderr, List<ShimFrame> Frames)> ReadAllAsync(ShimStream stream, int seconds = 30)
    {
        var ct = Timeout(seconds);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var frames = new List<ShimFrame>();
        while (await stream.ReadAsync(ct) is { } frame)
        {
            frames.Add(frame);
            (frame.Stream == 1 ? stdout : stderr).Append(Encoding.UTF8.GetString(frame.Data.Span));
        }
        return (stdout.ToString(), stderr.ToString(), frames);
    }

    /// <summary>Reads until <paramref name="text"/> has appeared in the output.</summary>
    public static async Task<string> ReadUntilAsync(ShimStream stream, string text, int seconds = 20)
    {
        var ct = Timeout(seconds);
        var all = new StringBuilder();
        while (!all.ToString().Contains(text, StringComparison.Ordinal))
        {
            var frame = await stream.ReadAsync(ct) ?? throw new InvalidOperationException($"stream ended before \"{text}\"; got: {all}");
            all.Append(Encoding.UTF8.GetString(frame.Data.Span));
        }
        return all.ToString();
    }

    public Cli.Result Runtime(params string[] args) => Cli.RunToFiles(RuntimePath, ["--root", RuntimeRoot, .. args]);

    public async ValueTask DisposeAsync()
    {
        if (Client is not null && Directory.Exists(StateDir))
        {
            try
            {
                await Client.DeleteAsync(Timeout(20));
            }
            catch (Core.BerthException)
            {
            }
        }
        var pid = ShimPid;
        if (pid > 0 && Directory.Exists($"/proc/{pid}"))
        {
            Linux.Sys.Kill(pid, 9);
        }
        if (Directory.Exists(Path.Combine(RuntimeRoot, Id)))
        {
            Runtime("delete", "--force", Id);
        }
        foreach (var h in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var d = Path.Combine(h, "berth-shim-test", Id);
            if (Directory.Exists(d))
            {
                try
                {
                    Directory.Delete(d);
                }
                catch (IOException)
                {
                }
            }
        }
        _dir.Dispose();
    }
}

/// <summary>What a container must not leave behind: mounts, cgroup dirs, processes in its cgroups.</summary>
public sealed record Leaks(string[] Mounts, string[] Cgroups, int[] Processes)
{
    /// <summary>Mounts are those naming the container or its directory (other work on this host mounts things too).</summary>
    public static Leaks Take(string id, string dir)
    {
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => string.Join(' ', l.Split(' ').Skip(3).Take(2)))
            .Where(m => m.Contains(id, StringComparison.Ordinal) || m.Contains(dir, StringComparison.Ordinal) || m.Contains(BusyboxRootfs.Path, StringComparison.Ordinal))
            .Order().ToArray();
        var cgroups = Directory.GetDirectories("/sys/fs/cgroup")
            .Select(h => Path.Combine(h, "berth-shim-test", id))
            .Concat(Directory.GetDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, "berth", id)))
            .Where(Directory.Exists).Order().ToArray();
        var processes = new List<int>();
        foreach (var d in Directory.GetDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(d), out var pid))
            {
                try
                {
                    var text = File.ReadAllText(Path.Combine(d, "cgroup")) + File.ReadAllText(Path.Combine(d, "cmdline"));
                    if (text.Contains(id, StringComparison.Ordinal))
                    {
                        processes.Add(pid);
                    }
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }
        return new Leaks(mounts, cgroups, processes.Order().ToArray());
    }

    public void AssertNoneSince(Leaks before)
    {
        Assert.Equal(before.Mounts, Mounts);
        Assert.Equal(before.Cgroups, Cgroups);
        Assert.Empty(Processes);
    }
}
