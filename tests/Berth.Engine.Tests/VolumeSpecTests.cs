using Berth.Core;
using Berth.Engine.Api;
using Berth.Engine.Containers;
using Berth.Engine.Volumes;
using Berth.Linux;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>Unit tests (no root): volume specs (-v, --mount, Config.Volumes), names, driver options, the store on disk.</summary>
public sealed class VolumeSpecTests
{
    [Fact]
    public void Named_volume_binds_parse_with_modes_and_host_paths_are_left_to_binds()
    {
        var v = VolumeSpec.ParseBind("data:/var/lib/data:ro,nocopy")!;
        Assert.Equal(("data", "/var/lib/data", true, true, "ro,nocopy"), (v.Name, v.Destination, v.ReadOnly, v.NoCopy, v.Mode));
        var plain = VolumeSpec.ParseBind("data:/d")!;
        Assert.Equal((false, false, "z"), (plain.ReadOnly, plain.NoCopy, plain.Mode));
        Assert.Null(VolumeSpec.ParseBind("/host:/d"));
        var m = SpecGenerator.ParseBind("data:/d:ro");
        Assert.Equal(("volume", "data", "/d"), (m.Type, m.Source, m.Destination));
        Assert.Contains("ro", m.Options!);
    }

    [Theory]
    [InlineData("a/b:/d", "includes invalid characters for a local volume name")]
    [InlineData("./rel:/d", "If you intended to pass a host directory, use absolute path")]
    [InlineData("x:/d", "create x: volume name is too short, names should be at least two alphanumeric characters")]
    [InlineData(".ab:/d", "\".ab\" includes invalid characters")]
    [InlineData("data:rel", "must be absolute")]
    [InlineData("data:/", "destination can't be '/'")]
    [InlineData("data:/d:rshared", "invalid mode: rshared")]
    [InlineData("data:/d:bogus", "invalid mode: bogus")]
    public void Bad_volume_binds_are_refused_with_dockers_words(string bind, string expected)
    {
        var e = Assert.Throws<BerthException>(() => SpecGenerator.ParseBind(bind));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mount_type_volume_carries_nocopy_labels_and_driver_options()
    {
        var r = VolumeSpec.FromMount(new MountSpec
        {
            Type = "volume",
            Source = "cache",
            Target = "/cache",
            ReadOnly = true,
            VolumeOptions = new VolumeOptions
            {
                NoCopy = true,
                Labels = new Dictionary<string, string> { ["team"] = "a" },
                DriverConfig = new VolumeDriverConfig { Options = new Dictionary<string, string> { ["type"] = "tmpfs", ["device"] = "tmpfs", ["o"] = "size=1m" } },
            },
        });
        Assert.Equal(("cache", "/cache", true, true), (r.Name, r.Destination, r.ReadOnly, r.NoCopy));
        Assert.Equal("a", r.Labels!["team"]);
        Assert.Equal("tmpfs", r.Options!["type"]);
        Assert.Null(VolumeSpec.FromMount(new MountSpec { Type = "volume", Target = "/anon" }).Name);
        Assert.Throws<BerthException>(() => VolumeSpec.FromMount(new MountSpec { Type = "volume", Source = "/abs", Target = "/x" }));
        Assert.Throws<BerthException>(() => VolumeSpec.FromMount(new MountSpec { Type = "volume", Source = "v1", Target = "/x", BindOptions = new BindOptions { Propagation = "rshared" } }));
        var bad = Assert.Throws<BerthException>(() => VolumeSpec.FromMount(new MountSpec
        {
            Type = "volume",
            Source = "v1",
            Target = "/x",
            VolumeOptions = new VolumeOptions { DriverConfig = new VolumeDriverConfig { Options = new Dictionary<string, string> { ["colour"] = "red" } } },
        }));
        Assert.Contains("invalid option: \"colour\"", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_makes_anonymous_volumes_only_where_nothing_else_is_mounted_and_refuses_duplicates()
    {
        var h = new HostConfig
        {
            Binds = ["named:/data", "/host:/etc/app"],
            Mounts = [new MountSpec { Type = "volume", Target = "/cache" }],
            Tmpfs = new Dictionary<string, string> { ["/run/x"] = "" },
        };
        var plan = VolumeSpec.Plan(h, ["/data", "/etc/app/", "/run/x", "/image/vol"]);
        Assert.Equal(["named:/data", "anonymous:/cache", "anonymous:/image/vol"], plan.Select(p => (p.Name ?? "anonymous") + ":" + p.Destination));
        var dup = Assert.Throws<BerthException>(() => VolumeSpec.Plan(new HostConfig { Binds = ["a1:/d", "/h:/d/"] }, []));
        Assert.Equal("Duplicate mount point: /d", dup.Message);
    }

    [Fact]
    public void Plan_lets_explicit_mounts_win_over_volumes_from_and_volumes_from_over_image_volumes()
    {
        var h = new HostConfig
        {
            Binds = ["/host:/bound"],
            Mounts = [new MountSpec { Type = "tmpfs", Target = "/mounted" }],
            Tmpfs = new Dictionary<string, string> { ["/tmp/fs"] = "" },
        };
        VolumeMountPoint From(string destination) => new() { Name = "from" + destination.Replace('/', '-'), Destination = destination };
        var plan = VolumeSpec.Plan(h, ["/kept/", "/image"], [From("/bound/"), From("/mounted"), From("/tmp/fs"), From("/kept"), From("/kept")], out var kept);
        Assert.Equal(["anonymous:/image"], plan.Select(p => (p.Name ?? "anonymous") + ":" + p.Destination));
        Assert.Equal("from-kept", Assert.Single(kept).Name);
    }

    [Theory]
    [InlineData("type=tmpfs;device=tmpfs;o=size=1m,uid=1000", null)]
    [InlineData("type=none;device=/srv;o=bind", null)]
    [InlineData("size=10G", "not supported: option \"size\"")]
    [InlineData("foo=bar", "invalid option: \"foo\"")]
    [InlineData("device=tmpfs", "missing required option: \"type\"")]
    [InlineData("type=tmpfs", "missing required option: \"device\"")]
    [InlineData("type=none;device=rel;o=bind", "must be an absolute host path")]
    public void Local_driver_options(string options, string? error)
    {
        var map = options.Split(';').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        if (error is null)
        {
            VolumeStore.ValidateOptions("v1", map);
            return;
        }
        var e = Assert.Throws<BerthException>(() => VolumeStore.ValidateOptions("v1", map));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains(error, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("create v1: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mount_options_split_into_flags_and_data()
    {
        var (flags, data) = VolumeStore.ParseMountOptions("ro,nosuid,size=1m,bind,mode=0700");
        Assert.Equal(MountFlags.ReadOnly | MountFlags.NoSuid | MountFlags.Bind, flags);
        Assert.Equal("size=1m,mode=0700", data);
    }

    [Fact]
    public void Store_creates_whole_volumes_reloads_them_and_cleans_leftovers()
    {
        using var dir = new TempDirectory("vol");
        var store = VolumeStore.Open(dir.Path, TimeProvider.System);
        var v = store.Create("data", null, new Dictionary<string, string> { ["k"] = "v" }, null, out var created);
        Assert.True(created);
        Assert.True(Directory.Exists(store.Mountpoint("data")));
        store.Create("data", "local", null, null, out created);
        Assert.False(created); // idempotent, as docker volume create
        var anon = store.Create(null, null, null, null, out _);
        Assert.Matches("^[0-9a-f]{64}$", anon.Name);
        Assert.True(anon.Anonymous);
        Assert.False(v.Anonymous);

        // Failed creates leave nothing.
        Assert.Throws<BerthException>(() => store.Create("bad/name", null, null, null, out _));
        Assert.Throws<BerthException>(() => store.Create("opt", null, null, new Dictionary<string, string> { ["foo"] = "1" }, out _));
        Assert.Throws<BerthException>(() => store.Create("drv", "nfs-plugin", null, null, out _));
        Assert.Equal(new[] { "data", anon.Name }.Order(StringComparer.Ordinal), Directory.EnumerateDirectories(dir.Path).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal));

        // A create that died half-way (its temp dir) is removed at the next open; records come back.
        Directory.CreateDirectory(Path.Combine(dir.Path, ".tmp-dead", "_data"));
        File.WriteAllText(Path.Combine(store.Mountpoint("data"), "f"), "x");
        var reopened = VolumeStore.Open(dir.Path, TimeProvider.System);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".tmp-dead")));
        Assert.Equal("v", reopened.Get("data").Labels!["k"]);
        Assert.True(reopened.Get(anon.Name).Anonymous);
        Assert.Equal(1, reopened.Size("data"));

        reopened.Remove("data");
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "data")));
        var missing = Assert.Throws<BerthException>(() => reopened.Get("data"));
        Assert.Equal(("get data: no such volume", ErrorCode.NotFound), (missing.Message, missing.Code));
    }
}

/// <summary>Copy-up on real files (root: owners, xattrs, devices): what the volume gets from the image's directory.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class VolumeCopierTests
{
    [Fact]
    public async Task Copy_up_keeps_owners_modes_links_hard_links_fifos_and_xattrs_and_skips_non_empty_volumes()
    {
        Privileged.Require();
        using var dir = new TempDirectory("vcopy");
        var root = dir.Combine("rootfs");
        var src = Path.Combine(root, "srv", "app");
        Directory.CreateDirectory(Path.Combine(src, "sub"));
        File.WriteAllText(Path.Combine(src, "f"), "data");
        File.SetUnixFileMode(Path.Combine(src, "f"), (UnixFileMode)0x1a0); // 0640
        Cli.Run("chown", ["1000:1001", Path.Combine(src, "f")]).Ok();
        Cli.Run("setfattr", ["-n", "trusted.berth", "-v", "kept", Path.Combine(src, "f")]).Ok();
        File.CreateSymbolicLink(Path.Combine(src, "link"), "f");
        Cli.Run("ln", [Path.Combine(src, "f"), Path.Combine(src, "sub", "hard")]).Ok();
        Cli.Run("mkfifo", [Path.Combine(src, "fifo")]).Ok();
        File.SetUnixFileMode(src, (UnixFileMode)0x1e8); // 0750
        Cli.Run("chown", ["7:8", src]).Ok();
        // /srv/via -> /srv/app (absolute): the destination is resolved inside the rootfs, not on the host.
        File.CreateSymbolicLink(Path.Combine(root, "srv", "via"), "/srv/app");

        var volume = dir.Combine("vol", "_data");
        Directory.CreateDirectory(volume);
        Assert.True(await VolumeCopier.CopyUpAsync(root, "/srv/via", volume, CancellationToken.None));

        Assert.Equal("data", File.ReadAllText(Path.Combine(volume, "f")));
        Assert.Equal((UnixFileMode)0x1a0, File.GetUnixFileMode(Path.Combine(volume, "f")));
        Assert.Equal("1000 1001\n", Cli.Run("stat", ["-c", "%u %g", Path.Combine(volume, "f")]).Ok().Stdout);
        Assert.Contains("kept", Cli.Run("getfattr", ["-n", "trusted.berth", "--only-values", Path.Combine(volume, "f")]).Ok().Stdout, StringComparison.Ordinal);
        Assert.Equal("f", new FileInfo(Path.Combine(volume, "link")).LinkTarget);
        Assert.Equal(Cli.Run("stat", ["-c", "%i", Path.Combine(volume, "f")]).Ok().Stdout, Cli.Run("stat", ["-c", "%i", Path.Combine(volume, "sub", "hard")]).Ok().Stdout);
        Assert.Equal("fifo\n", Cli.Run("stat", ["-c", "%F", Path.Combine(volume, "fifo")]).Ok().Stdout);
        Assert.Equal("750 7 8\n", Cli.Run("stat", ["-c", "%a %u %g", volume]).Ok().Stdout);

        // Not again into a volume that has content; not from a path the image does not have.
        File.Delete(Path.Combine(volume, "f"));
        Assert.False(await VolumeCopier.CopyUpAsync(root, "/srv/via", volume, CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(volume, "f")));
        var other = dir.Combine("other");
        Directory.CreateDirectory(other);
        Assert.False(await VolumeCopier.CopyUpAsync(root, "/no/such", other, CancellationToken.None));
        Assert.Empty(Directory.EnumerateFileSystemEntries(other));
    }
}
