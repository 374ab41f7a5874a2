using System.Text.Json;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>Volumes through the real docker CLI against berth daemon: data that outlives containers, copy-up, ro, rm -v, prune.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class VolumeTests(EngineFixture f)
{
    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private string VolumesDir => Path.Combine(f.Root, "data", "volumes");

    private Cli.Result Run(params string[] args) => f.Run(["run", "--rm", "--network", "none", .. args]);

    [Fact]
    public void A_named_volume_keeps_data_across_container_recreation()
    {
        var vol = Unique("keep");
        Run("-v", vol + ":/data", "busybox", "sh", "-c", "echo persisted > /data/file").Ok();
        Assert.Equal("persisted\n", Run("-v", vol + ":/data", "busybox", "cat", "/data/file").Ok().Stdout);
        // --mount names the same volume.
        Assert.Equal("persisted\n", Run("--mount", $"type=volume,source={vol},target=/m", "busybox", "cat", "/m/file").Ok().Stdout);
        Assert.Equal("persisted\n", File.ReadAllText(Path.Combine(VolumesDir, vol, "_data", "file")));
        f.Run("volume", "rm", vol).Ok();
        Assert.False(Directory.Exists(Path.Combine(VolumesDir, vol)));
    }

    [Fact]
    public void Image_content_is_copied_into_a_new_volume_once_and_not_with_nocopy()
    {
        var vol = Unique("copy");
        var imageEtc = Run("busybox", "sh", "-c", "ls -A /etc; stat -c '%a %u %g' /etc/passwd").Ok().Stdout;
        var r = Run("-v", vol + ":/etc", "busybox", "sh", "-c", "ls -A /etc; stat -c '%a %u %g' /etc/passwd").Ok().Stdout;
        Assert.Equal(imageEtc, r); // the same names, and passwd's mode and owner
        var data = Path.Combine(VolumesDir, vol, "_data");
        Assert.StartsWith("root:", File.ReadAllText(Path.Combine(data, "passwd")), StringComparison.Ordinal);

        // An image path that does not exist copies nothing and leaves the volume empty.
        var none = Unique("none");
        Run("-v", none + ":/no/such/dir", "busybox", "true").Ok();
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(VolumesDir, none, "_data")));

        // nocopy: the volume stays empty.
        var empty = Unique("nocopy");
        Assert.Equal("0\n", Run("-v", empty + ":/etc:nocopy", "busybox", "sh", "-c", "ls -A /etc | wc -l").Ok().Stdout);
        var nc = Unique("nc");
        Assert.Equal("0\n", Run("--mount", $"type=volume,source={nc},target=/etc,volume-nocopy", "busybox", "sh", "-c", "ls -A /etc | wc -l").Ok().Stdout);

        // A volume that already has data is not overwritten by the image's content, and an emptied one is not refilled.
        Assert.Equal("mine\n", Run("-v", vol + ":/etc", "busybox", "sh", "-c", "rm -rf /etc/* && echo mine > /etc/only && cat /etc/only").Ok().Stdout);
        Assert.Equal("only\n", Run("-v", vol + ":/etc", "busybox", "ls", "/etc").Ok().Stdout);
        var name = Unique("once");
        f.Run("create", "--name", name, "--network", "none", "-v", "/etc", "busybox", "sh", "-c", "ls -A /etc | wc -l; rm -rf /etc/*").Ok();
        var first = f.Run("start", "-a", name).Ok().Stdout.Trim();
        Assert.NotEqual("0", first);
        Assert.Equal("0", f.Run("start", "-a", name).Ok().Stdout.Trim());
        f.Run("rm", "-v", name).Ok();
        f.Run("volume", "rm", vol, none, empty, nc).Ok();
    }

    [Fact]
    public void Copy_up_preserves_symlinks_owners_and_modes()
    {
        // An image whose /app holds a symlink, a file owned by 1000:1000 with mode 0640, and a directory owned 7:7 with mode 0750.
        using var ctx = new TempDirectory("vctx");
        File.WriteAllText(ctx.Combine("Dockerfile"), "FROM busybox\nRUN mkdir -p /app/sub && echo hi > /app/f && chown 1000:1000 /app/f && chmod 0640 /app/f && ln -s f /app/link && chmod 0750 /app && chown 7:7 /app && touch /app/sub/x\n");
        var tag = Unique("volimg");
        f.Run("build", "-q", "-t", tag, ctx.Path).Ok();
        var vol = Unique("app");
        var ls = Run("-v", vol + ":/app", tag, "sh", "-c", "ls -ln /app | tail -n +2 | awk '{print $1, $3, $4, $9, $10, $11}'; stat -c '%a %u %g' /app").Ok().Stdout;
        Assert.Contains("-rw-r----- 1000 1000 f", ls, StringComparison.Ordinal);
        Assert.Contains("lrwxrwxrwx 0 0 link -> f", ls, StringComparison.Ordinal);
        Assert.Contains("750 7 7", ls, StringComparison.Ordinal);
        var data = Path.Combine(VolumesDir, vol, "_data");
        Assert.Equal("f", new FileInfo(Path.Combine(data, "link")).LinkTarget);
        Assert.True(File.Exists(Path.Combine(data, "sub", "x")));
        f.Run("volume", "rm", vol).Ok();
        f.Run("rmi", tag).Ok();
    }

    [Fact]
    public void Read_only_volumes_refuse_writes()
    {
        var vol = Unique("ro");
        var w = Run("-v", vol + ":/data:ro", "busybox", "sh", "-c", "touch /data/x");
        Assert.NotEqual(0, w.ExitCode);
        Assert.Contains("Read-only file system", w.Stderr, StringComparison.Ordinal);
        var m = Run("--mount", $"type=volume,source={vol},target=/data,readonly", "busybox", "sh", "-c", "touch /data/x");
        Assert.Contains("Read-only file system", m.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, Run("-v", vol + ":/data:rw", "busybox", "touch", "/data/x").ExitCode);
        f.Run("volume", "rm", vol).Ok();
    }

    [Fact]
    public void Inspect_shows_volume_mounts_as_docker_prints_them()
    {
        var name = Unique("insp");
        var vol = Unique("iv");
        f.Run("create", "--name", name, "--network", "none", "-v", vol + ":/data:ro", "-v", "/anon", "busybox", "true").Ok();
        var mounts = JsonDocument.Parse(f.Run("inspect", "-f", "{{json .Mounts}}", name).Ok().Stdout).RootElement.EnumerateArray().ToList();
        var named = mounts.Single(m => m.GetProperty("Destination").GetString() == "/data");
        Assert.Equal("volume", named.GetProperty("Type").GetString());
        Assert.Equal(vol, named.GetProperty("Name").GetString());
        Assert.Equal(Path.Combine(VolumesDir, vol, "_data"), named.GetProperty("Source").GetString());
        Assert.Equal("local", named.GetProperty("Driver").GetString());
        Assert.Equal("ro", named.GetProperty("Mode").GetString());
        Assert.False(named.GetProperty("RW").GetBoolean());
        var anon = mounts.Single(m => m.GetProperty("Destination").GetString() == "/anon");
        Assert.Matches("^[0-9a-f]{64}$", anon.GetProperty("Name").GetString());
        Assert.True(anon.GetProperty("RW").GetBoolean());
        var labels = f.Run("volume", "inspect", "-f", "{{json .Labels}}", anon.GetProperty("Name").GetString()!).Ok().Stdout;
        Assert.Contains("com.docker.volume.anonymous", labels, StringComparison.Ordinal);
        // docker ps shows the volume names in the Mounts column.
        Assert.Contains(vol, f.Run("ps", "-a", "--filter", "name=" + name, "--format", "{{.Mounts}}").Ok().Stdout, StringComparison.Ordinal);
        f.Run("rm", "-v", name).Ok();
        f.Run("volume", "rm", vol).Ok();
    }

    [Fact]
    public void Rm_v_removes_anonymous_volumes_only_and_run_rm_too()
    {
        var name = Unique("rmv");
        var vol = Unique("named");
        f.Run("create", "--name", name, "--network", "none", "-v", vol + ":/n", "-v", "/a", "--mount", "type=volume,target=/b", "busybox", "true").Ok();
        var anon = f.Run("inspect", "-f", "{{range .Mounts}}{{if ne .Destination \"/n\"}}{{.Name}} {{end}}{{end}}", name).Ok().Stdout.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, anon.Length);
        var inUse = f.Run("volume", "rm", vol);
        Assert.Equal(1, inUse.ExitCode);
        Assert.Contains($"remove {vol}: volume is in use - [", inUse.Stderr, StringComparison.Ordinal);
        f.Run("rm", "-v", name).Ok();
        foreach (var a in anon)
        {
            Assert.False(Directory.Exists(Path.Combine(VolumesDir, a)), "anonymous volume " + a + " left");
        }
        Assert.Equal(vol + "\n", f.Run("volume", "ls", "-q", "--filter", "name=" + vol).Ok().Stdout);

        // Without -v the anonymous volume stays (dangling); docker run --rm removes it.
        var keep = Unique("keepanon");
        f.Run("create", "--name", keep, "--network", "none", "-v", "/kept", "busybox", "true").Ok();
        var kept = f.Run("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", keep).Ok().Stdout.Trim();
        f.Run("rm", keep).Ok();
        Assert.True(Directory.Exists(Path.Combine(VolumesDir, kept)));
        Assert.Contains(kept, f.Run("volume", "ls", "-q", "--filter", "dangling=true").Ok().Stdout, StringComparison.Ordinal);
        var before = Directory.EnumerateDirectories(VolumesDir).Count();
        Run("-v", "/tmpvol", "busybox", "true").Ok();
        Assert.Equal(before, Directory.EnumerateDirectories(VolumesDir).Count());
        f.Run("volume", "rm", vol, kept).Ok();
    }

    [Fact]
    public void Image_volumes_become_anonymous_volumes_unless_something_is_mounted_there()
    {
        using var ctx = new TempDirectory("vctx");
        File.WriteAllText(ctx.Combine("Dockerfile"), "FROM busybox\nRUN mkdir /state && echo seeded > /state/seed\nVOLUME /state\n");
        var tag = Unique("volimg");
        f.Run("build", "-q", "-t", tag, ctx.Path).Ok();
        var name = Unique("iv");
        f.Run("create", "--name", name, "--network", "none", tag, "cat", "/state/seed").Ok();
        var vol = f.Run("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", name).Ok().Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", vol);
        f.Run("start", "-a", name).Ok();
        Assert.Equal("seeded\n", f.Run("logs", name).Ok().Stdout);
        Assert.Equal("seeded\n", File.ReadAllText(Path.Combine(VolumesDir, vol, "_data", "seed")));
        f.Run("rm", "-v", name).Ok();
        // A tmpfs at the VOLUME path replaces the anonymous volume; tmpfs mounts keep working.
        Assert.Equal("tmpfs /state\n", Run("--tmpfs", "/state", tag, "sh", "-c", "grep ' /state ' /proc/mounts | cut -d' ' -f1,2").Ok().Stdout);
        f.Run("rmi", tag).Ok();
    }

    [Fact]
    public void Volume_commands_create_ls_inspect_rm_and_errors()
    {
        var vol = Unique("cmd");
        Assert.Equal(vol + "\n", f.Run("volume", "create", "--label", "team=a", "--label", "solo", vol).Ok().Stdout);
        var inspect = JsonDocument.Parse(f.Run("volume", "inspect", vol).Ok().Stdout).RootElement[0];
        Assert.Equal(vol, inspect.GetProperty("Name").GetString());
        Assert.Equal("local", inspect.GetProperty("Driver").GetString());
        Assert.Equal("local", inspect.GetProperty("Scope").GetString());
        Assert.Equal("a", inspect.GetProperty("Labels").GetProperty("team").GetString());
        Assert.Equal(Path.Combine(VolumesDir, vol, "_data"), inspect.GetProperty("Mountpoint").GetString());
        Assert.True(DateTimeOffset.TryParse(inspect.GetProperty("CreatedAt").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _));
        var ls = f.Run("volume", "ls", "--filter", "label=team=a").Ok().Stdout;
        Assert.Matches($"DRIVER +VOLUME NAME\nlocal +{vol}\n", ls);
        Assert.Equal("", f.Run("volume", "ls", "-q", "--filter", "label=team=b").Ok().Stdout);
        Assert.Contains(vol, f.Run("volume", "ls", "-q", "--filter", "driver=local").Ok().Stdout, StringComparison.Ordinal);

        var unnamed = f.Run("volume", "create").Ok().Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", unnamed);
        Assert.Equal("null", f.Run("volume", "inspect", "-f", "{{json .Labels}}", unnamed).Ok().Stdout.Trim()); // not anonymous
        f.Run("volume", "rm", unnamed).Ok();

        var bad = f.Run("volume", "create", "bad/name");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("\"bad/name\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed", bad.Stderr, StringComparison.Ordinal);
        var opt = f.Run("volume", "create", "-o", "colour=red", Unique("opt"));
        Assert.Contains("invalid option: \"colour\"", opt.Stderr, StringComparison.Ordinal);
        var missing = f.Run("volume", "rm", "nosuchvolume");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such volume", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, f.Run("volume", "rm", "-f", "nosuchvolume").ExitCode);
        Assert.Contains("get nosuchvolume: no such volume", f.Run("volume", "inspect", "nosuchvolume").Stderr, StringComparison.Ordinal);
        var badMount = f.Run("run", "--rm", "--network", "none", "-v", "a/b:/x", "busybox", "true");
        Assert.Equal(125, badMount.ExitCode);
        Assert.Contains("includes invalid characters", badMount.Stderr, StringComparison.Ordinal);
        var dup = f.Run("run", "--rm", "--network", "none", "-v", "dupa:/x", "-v", "dupb:/x", "busybox", "true");
        Assert.Contains("Duplicate mount point: /x", dup.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(VolumesDir, "dupa")), "a refused create must not leave volumes");
        // The second volume fails (no such driver) after the first was made: the create takes the first back.
        var fresh = Unique("fresh");
        var plugin = f.Run("run", "--rm", "--network", "none", "-v", fresh + ":/a", "--mount", $"type=volume,source={Unique("f2")},target=/b,volume-driver=nfs", "busybox", "true");
        Assert.Equal(125, plugin.ExitCode);
        Assert.Contains("plugin \"nfs\" not found", plugin.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(VolumesDir, fresh)), "a failed create must take back the volumes it made");
        Assert.Equal("", f.Run("volume", "ls", "-q", "--filter", "name=" + fresh).Ok().Stdout);
        Assert.DoesNotContain(Directory.EnumerateDirectories(VolumesDir), d => Path.GetFileName(d).StartsWith(".tmp-", StringComparison.Ordinal));
        f.Run("volume", "rm", vol).Ok();
    }

    [Fact]
    public void Tmpfs_and_bind_volumes_of_the_local_driver_mount_while_used()
    {
        var vol = Unique("tmpfsvol");
        f.Run("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m,mode=0700", vol).Ok();
        var mp = Path.Combine(VolumesDir, vol, "_data");
        var r = Run("-v", vol + ":/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts | cut -d' ' -f3; df -k /t | tail -1 | awk '{print $2}'; stat -c %a /t").Ok().Stdout.Split('\n');
        Assert.Equal("tmpfs", r[0]);
        Assert.Equal("2048", r[1]);
        Assert.Equal("700", r[2]);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == mp); // unmounted when the last user stopped
        // A start that fails after the volumes were mounted (the command is not in the image) unmounts them again.
        var notFound = Run("-v", vol + ":/t", "busybox", "/no/such/command");
        Assert.Equal(127, notFound.ExitCode);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == mp);

        using var host = new TempDirectory("vbind");
        File.WriteAllText(host.Combine("hostfile"), "from host\n");
        var bindVol = Unique("bindvol");
        f.Run("volume", "create", "--opt", "type=none", "--opt", "device=" + host.Path, "--opt", "o=bind", bindVol).Ok();
        Assert.Equal("from host\n", Run("-v", bindVol + ":/h", "busybox", "cat", "/h/hostfile").Ok().Stdout);
        f.Run("volume", "rm", vol, bindVol).Ok();
        Assert.True(File.Exists(host.Combine("hostfile")), "removing a bind volume must not delete the host directory's content");

        // A device that is not there: the start fails with exit 125 and a clear line, nothing stays mounted or created.
        var broken = Unique("broken");
        f.Run("volume", "create", "-o", "type=none", "-o", "device=" + host.Combine("missing"), "-o", "o=bind", broken).Ok();
        var failed = Run("-v", broken + ":/x", "busybox", "true");
        Assert.Equal(125, failed.ExitCode);
        Assert.Contains($"the device {host.Combine("missing")} of volume {broken} does not exist", failed.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(VolumesDir, StringComparison.Ordinal));
        Assert.False(Directory.Exists(host.Combine("missing")));
        f.Run("volume", "rm", broken).Ok();
    }

    [Fact]
    public void Prune_removes_unused_anonymous_volumes_and_all_with_the_flag()
    {
        var named = Unique("prunenamed");
        f.Run("volume", "create", named).Ok();
        var used = Unique("pruneused");
        var holder = Unique("holder");
        f.Run("create", "--name", holder, "--network", "none", "-v", used + ":/u", "-v", "/anonused", "busybox", "true").Ok();
        var anonHeld = f.Run("inspect", "-f", "{{range .Mounts}}{{if eq .Destination \"/anonused\"}}{{.Name}}{{end}}{{end}}", holder).Ok().Stdout.Trim();
        var tmp = Unique("tmp");
        f.Run("create", "--name", tmp, "--network", "none", "-v", "/gone", "busybox", "true").Ok();
        var anonFree = f.Run("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", tmp).Ok().Stdout.Trim();
        f.Run("rm", tmp).Ok();

        var pruned = f.Run("volume", "prune", "-f").Ok().Stdout;
        Assert.Contains(anonFree, pruned, StringComparison.Ordinal);
        Assert.DoesNotContain(named, pruned, StringComparison.Ordinal);
        Assert.DoesNotContain(anonHeld, pruned, StringComparison.Ordinal);
        Assert.Contains("Total reclaimed space:", pruned, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Path.Combine(VolumesDir, named)));

        var all = f.Run("volume", "prune", "-a", "-f").Ok().Stdout;
        Assert.Contains(named, all, StringComparison.Ordinal);
        Assert.DoesNotContain(used, all, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(VolumesDir, named)));
        // A client on API 1.41 gets the old prune: every unused volume, named ones too.
        var old = Unique("oldapi");
        f.Run("volume", "create", old).Ok();
        var oldPrune = Cli.Run(EngineFixture.Docker, ["-H", "unix://" + f.Socket, "volume", "prune", "-f"], env: new Dictionary<string, string> { ["DOCKER_API_VERSION"] = "1.41" }).Ok().Stdout;
        Assert.Contains(old, oldPrune, StringComparison.Ordinal);
        Assert.DoesNotContain(used, oldPrune, StringComparison.Ordinal);
        // system df counts the volumes.
        Assert.Contains("Local Volumes", f.Run("system", "df").Ok().Stdout, StringComparison.Ordinal);
        f.Run("rm", "-v", holder).Ok();
        f.Run("volume", "rm", used).Ok();
        Assert.False(Directory.Exists(Path.Combine(VolumesDir, anonHeld)));
    }

    [Fact]
    public void Volumes_from_shares_another_containers_volumes()
    {
        var src = Unique("src");
        var vol = Unique("shared");
        f.Run("create", "--name", src, "--network", "none", "-v", vol + ":/shared", "busybox", "true").Ok();
        Run("--volumes-from", src, "busybox", "sh", "-c", "echo via-from > /shared/x").Ok();
        Assert.Equal("via-from\n", Run("-v", vol + ":/s", "busybox", "cat", "/s/x").Ok().Stdout);
        var ro = Run("--volumes-from", src + ":ro", "busybox", "touch", "/shared/y");
        Assert.Contains("Read-only file system", ro.Stderr, StringComparison.Ordinal);
        // An explicit bind or tmpfs at an inherited destination wins, as in Docker.
        using var host = new TempDirectory("vfrom");
        File.WriteAllText(Path.Combine(host.Path, "x"), "from-bind\n");
        Assert.Equal("from-bind\n", Run("--volumes-from", src, "-v", host.Path + ":/shared", "busybox", "cat", "/shared/x").Ok().Stdout);
        Assert.Equal("tmpfs\n", Run("--volumes-from", src, "--tmpfs", "/shared", "busybox", "sh", "-c", "ls /shared; awk '$2 == \"/shared\" { print $3 }' /proc/mounts").Ok().Stdout);
        f.Run("rm", src).Ok();
        f.Run("volume", "rm", vol).Ok();
    }
}
