using System.Diagnostics;
using Berth.Core;
using Berth.Testing;

namespace Berth.Build.Tests;

/// <summary>
/// A test backend that runs RUN for real: the process executes with util-linux <c>unshare</c> in new PID, mount
/// and (for no network) network namespaces, with the mount as its root and the step's working directory. Layers
/// and mounts are the recording backend's directory snapshots. It stands in for berth-runtime until the host wires
/// the real backend; USER is not supported here.
/// </summary>
internal sealed class UnshareBackend(RecordingBackend inner) : IBuildBackend
{
    public Task<BaseImage> ResolveImageAsync(string reference, string platform, CancellationToken cancellationToken) => inner.ResolveImageAsync(reference, platform, cancellationToken);

    public Task<IBuildMount> MountAsync(string? layer, bool readOnly, CancellationToken cancellationToken) => inner.MountAsync(layer, readOnly, cancellationToken);

    public Task<string> CommitAsync(IBuildMount mount, CancellationToken cancellationToken) => inner.CommitAsync(mount, cancellationToken);

    public Task<bool> LayerExistsAsync(string layer, CancellationToken cancellationToken) => inner.LayerExistsAsync(layer, cancellationToken);

    public async Task<int> RunAsync(IBuildMount mount, RunSpec spec, Action<string> output, CancellationToken cancellationToken)
    {
        if (spec.User is not null)
        {
            throw BerthException.Unsupported("USER in the unshare test backend");
        }
        Directory.CreateDirectory(Path.Combine(mount.RootPath, spec.WorkingDir.TrimStart('/')));
        var psi = new ProcessStartInfo("unshare")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment.Clear();
        foreach (var entry in spec.Env)
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            psi.Environment[entry[..eq]] = entry[(eq + 1)..];
        }
        foreach (var arg in (string[])["--fork", "--pid", "--mount", "--kill-child", "--net", "--root=" + mount.RootPath, "--wd=" + spec.WorkingDir, "--", .. spec.Args])
        {
            psi.ArgumentList.Add(arg);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start unshare");
        var lines = new List<string>();
        async Task PumpAsync(StreamReader reader)
        {
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                lock (lines)
                {
                    output(line);
                }
            }
        }
        await Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError));
        await process.WaitForExitAsync(cancellationToken);
        return process.ExitCode;
    }

    /// <summary>A busybox image from the host's busybox-static: /bin/busybox, its applet links, /etc/passwd.</summary>
    public static void AddBusybox(RecordingBackend backend, string reference = "busybox")
    {
        using var dir = new TempDirectory("berth-build-busybox");
        Directory.CreateDirectory(dir.Combine("bin"));
        Directory.CreateDirectory(dir.Combine("etc"));
        File.Copy("/bin/busybox", dir.Combine("bin/busybox"));
        foreach (var applet in new[] { "sh", "cat", "cp", "echo", "mkdir", "ls", "env", "true", "false", "test", "touch", "rm", "sleep", "wc", "ip" })
        {
            File.CreateSymbolicLink(dir.Combine("bin", applet), "busybox");
        }
        File.WriteAllText(dir.Combine("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(dir.Combine("etc/group"), "root:x:0:\n");
        backend.AddImageFromDirectory(reference, dir.Path, new ImageConfigDraft
        {
            Config = { Env = ["PATH=/bin"], Cmd = ["sh"] },
        });
    }
}

/// <summary>The conformance suite with real processes.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class UnshareBackendConformance : BuildBackendConformance, IDisposable
{
    private readonly RecordingBackend _inner = new();

    public UnshareBackendConformance()
    {
        Privileged.Require();
        UnshareBackend.AddBusybox(_inner);
        Backend = new UnshareBackend(_inner);
    }

    protected override IBuildBackend Backend { get; }

    protected override string ImageWithShell => "busybox";

    public void Dispose() => _inner.Dispose();
}
