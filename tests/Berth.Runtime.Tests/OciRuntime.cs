using System.Text.Json;
using Berth.Oci.Runtime;
using Berth.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>An OCI runtime CLI (berth-runtime or runc) with its own state root, driven the way engines drive it.</summary>
public sealed class OciRuntime : IDisposable
{
    private readonly TempDirectory _root = new("berth-rt-root");

    private OciRuntime(string name, string path)
    {
        Name = name;
        Path = path;
    }

    public string Name { get; }

    public string Path { get; }

    public string Root => _root.Path;

    public static OciRuntime Berth() => new("berth-runtime", Repo.Executable("berth-runtime"));

    /// <summary>berth-runtime from another path (a private copy no other test executes).</summary>
    public static OciRuntime BerthAt(string path) => new("berth-runtime", path);

    public static OciRuntime Runc() => new("runc", "/usr/bin/runc");

    public static IEnumerable<OciRuntime> Both() => [Berth(), Runc()];

    public Cli.Result Cmd(params string[] args) => Cli.RunToFiles(Path, ["--root", Root, .. args], timeout: TimeSpan.FromSeconds(60));

    /// <summary>Like <see cref="Cmd"/> with BERTH_RUNTIME_TIMING=1: berth-runtime's phase marks (and its children's) on stderr.</summary>
    public Cli.Result CmdTimed(params string[] args) =>
        Cli.RunToFiles("/usr/bin/env", [PhaseTimer.Variable + "=1", Path, "--root", Root, .. args], timeout: TimeSpan.FromSeconds(60));

    public override string ToString() => Name;

    public void Dispose()
    {
        foreach (var id in Directory.Exists(Root) ? Directory.GetDirectories(Root).Select(System.IO.Path.GetFileName) : [])
        {
            Cmd("delete", "--force", id!);
        }
        _root.Dispose();
    }
}

/// <summary>A bundle over the shared busybox rootfs, with a spec derived from the default one.</summary>
public sealed class Bundle : IDisposable
{
    private readonly TempDirectory _dir = new("berth-bundle");

    public Bundle(Action<Spec>? configure = null)
    {
        Spec = DefaultSpec.Create();
        Spec.Root = new Root { Path = BusyboxRootfs.Path, Readonly = true };
        Spec.Process!.Terminal = false;
        Spec.Process.Env = ["PATH=/bin", "TERM=xterm"];
        configure?.Invoke(Spec);
        Write();
    }

    public Spec Spec { get; }

    public string Path => _dir.Path;

    public void Write() => File.WriteAllBytes(System.IO.Path.Combine(Path, "config.json"), JsonSerializer.SerializeToUtf8Bytes(Spec, OciJsonContext.Default.Spec));

    public void Dispose() => _dir.Dispose();

    public static string NewId(string prefix = "t") => prefix + "-" + Guid.NewGuid().ToString("N")[..12];
}
