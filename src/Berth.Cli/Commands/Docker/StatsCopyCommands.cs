using System.Formats.Tar;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;

namespace Berth.Cli.Commands.Docker;

/// <summary>`berth stats` (docker's CPU/memory arithmetic over the stats API) and `berth cp` (the archive API both ways).</summary>
public static class StatsCopyCommands
{
    public static DockerCommandSpec Stats { get; } = new("stats", "Display a live stream of container(s) resource usage statistics",
        new FlagSet("stats", "stats [OPTIONS] [CONTAINER...]", interspersed: true,
            new Flag("all", 'a', FlagKind.Bool, "Show all containers (default shows just running)"),
            new Flag("no-stream", null, FlagKind.Bool, "Disable streaming stats and only pull the first result"),
            new Flag("no-trunc", null, FlagKind.Bool, "Do not truncate output"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template (basics)")),
        StatsAsync);

    private static async Task<int> StatsAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        var named = f.Positionals.Count > 0;
        while (true)
        {
            var names = named ? f.Positionals.ToList() :
                ((await cli.Api.GetJsonAsync("/containers/json" + (f.Bool("all") ? "?all=1" : ""), ct).ConfigureAwait(false)) as JsonArray ?? [])
                    .Select(c => c!["Id"]!.GetValue<string>()).ToList();
            var samples = await Task.WhenAll(names.Select(async n =>
            {
                try
                {
                    return (n, await cli.Api.GetJsonAsync($"/containers/{DockerCli.Esc(n)}/stats?stream=false", ct).ConfigureAwait(false), (string?)null);
                }
                catch (BerthException e)
                {
                    return (n, null, e.Message);
                }
            })).ConfigureAwait(false);
            var rows = new List<JsonObject>();
            foreach (var (name, s, error) in samples)
            {
                if (error is not null)
                {
                    if (named)
                    {
                        throw new BerthException(ErrorCode.NotFound, error);
                    }
                    continue;
                }
                rows.Add(Row(name, s!, f.Bool("no-trunc")));
            }
            var sb = new StringWriter();
            var output = new DockerCli(sb, cli.Err);
            output.WriteRows(f.Value("format"), quiet: false, rows, "ID",
                [("ID", "CONTAINER ID"), ("Name", "NAME"), ("CPUPerc", "CPU %"), ("MemUsage", "MEM USAGE / LIMIT"), ("MemPerc", "MEM %"), ("NetIO", "NET I/O"), ("BlockIO", "BLOCK I/O"), ("PIDs", "PIDS")]);
            if (!f.Bool("no-stream") && DockerCli.StdoutIsTerminal)
            {
                cli.Out.Write("\x1b[2J\x1b[H");
            }
            cli.Out.Write(sb.ToString());
            cli.Out.Flush();
            if (f.Bool("no-stream"))
            {
                return 0;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
        }
    }

    /// <summary>One stats row, computed the way the docker CLI does (CPU % from the deltas against precpu_stats).</summary>
    public static JsonObject Row(string name, JsonNode s, bool noTrunc)
    {
        static double D(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d : 0;
        var cpuDelta = D(s["cpu_stats"]?["cpu_usage"]?["total_usage"]) - D(s["precpu_stats"]?["cpu_usage"]?["total_usage"]);
        var systemDelta = D(s["cpu_stats"]?["system_cpu_usage"]) - D(s["precpu_stats"]?["system_cpu_usage"]);
        var online = D(s["cpu_stats"]?["online_cpus"]);
        if (online == 0)
        {
            online = (s["cpu_stats"]?["cpu_usage"]?["percpu_usage"] as JsonArray)?.Count ?? 1;
        }
        var cpu = systemDelta > 0 && cpuDelta > 0 ? cpuDelta / systemDelta * online * 100 : 0;
        var mem = s["memory_stats"];
        var usage = D(mem?["usage"]);
        var inactive = mem?["stats"]?["total_inactive_file"] is { } t ? D(t) : D(mem?["stats"]?["inactive_file"]);
        if (inactive < usage)
        {
            usage -= inactive;
        }
        var limit = D(mem?["limit"]);
        double rx = 0, tx = 0;
        foreach (var (_, n) in s["networks"] as JsonObject ?? [])
        {
            rx += D(n?["rx_bytes"]);
            tx += D(n?["tx_bytes"]);
        }
        double read = 0, write = 0;
        foreach (var e in s["blkio_stats"]?["io_service_bytes_recursive"] as JsonArray ?? [])
        {
            var op = e?["op"]?.GetValue<string>()?.ToLowerInvariant();
            if (op == "read")
            {
                read += D(e!["value"]);
            }
            else if (op == "write")
            {
                write += D(e!["value"]);
            }
        }
        var id = s["id"]?.GetValue<string>() ?? name;
        return new JsonObject
        {
            ["ID"] = noTrunc ? id : ContainerCommands.Short(id),
            ["Name"] = (s["name"]?.GetValue<string>() ?? name).TrimStart('/'),
            ["CPUPerc"] = cpu.ToString("0.00", CultureInfo.InvariantCulture) + "%",
            ["MemUsage"] = $"{Units.BytesSize(usage)} / {Units.BytesSize(limit)}",
            ["MemPerc"] = (limit > 0 ? usage / limit * 100 : 0).ToString("0.00", CultureInfo.InvariantCulture) + "%",
            ["NetIO"] = $"{Units.HumanSize(rx)} / {Units.HumanSize(tx)}",
            ["BlockIO"] = $"{Units.HumanSize(read)} / {Units.HumanSize(write)}",
            ["PIDs"] = ((long)D(s["pids_stats"]?["current"])).ToString(CultureInfo.InvariantCulture),
        };
    }

    public static DockerCommandSpec Cp { get; } = new("cp", "Copy files/folders between a container and the local filesystem",
        new FlagSet("cp", "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH", interspersed: true,
            new Flag("archive", 'a', FlagKind.Bool, "Archive mode (copy all uid/gid information)"),
            new Flag("follow-link", 'L', FlagKind.Bool, "Always follow symbol link in SRC_PATH"),
            new Flag("quiet", 'q', FlagKind.Bool, "Suppress progress output during copy")),
        CpAsync);

    public static DockerCommandSpec Export { get; } = new("export", "Export a container's filesystem as a tar archive",
        new FlagSet("export", "export [OPTIONS] CONTAINER", interspersed: true, new Flag("output", 'o', FlagKind.Value, "Write to a file, instead of STDOUT")),
        async (cli, f, ct) =>
        {
            f.Require(1, 1);
            return await cli.DownloadArchiveAsync($"/containers/{DockerCli.Esc(f.Positionals[0])}/export", f.Value("output"), ct).ConfigureAwait(false);
        });

    private static (string? Container, string Path) Split(string arg)
    {
        if (arg.StartsWith('/') || arg.StartsWith('.') || arg == "-")
        {
            return (null, arg);
        }
        var i = arg.IndexOf(':', StringComparison.Ordinal);
        return i > 0 ? (arg[..i], arg[(i + 1)..]) : (null, arg);
    }

    private static async Task<int> CpAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(2, 2);
        var (srcContainer, src) = Split(f.Positionals[0]);
        var (dstContainer, dst) = Split(f.Positionals[1]);
        if (srcContainer is not null && dstContainer is not null)
        {
            throw new UsageException("copying between containers is not supported");
        }
        if (srcContainer is null && dstContainer is null)
        {
            throw new UsageException("must specify at least one container source");
        }
        if (srcContainer is not null)
        {
            await CopyFromContainerAsync(cli, srcContainer, src, dst, ct).ConfigureAwait(false);
        }
        else
        {
            await CopyToContainerAsync(cli, src, dstContainer!, dst, f.Bool("archive"), ct).ConfigureAwait(false);
        }
        return 0;
    }

    private static async Task CopyFromContainerAsync(DockerCli cli, string container, string src, string dst, CancellationToken ct)
    {
        using var response = await cli.Api.SendAsync(HttpMethod.Get, $"/containers/{DockerCli.Esc(container)}/archive?path={DockerCli.Esc(src)}", stream: true, cancellationToken: ct).ConfigureAwait(false);
        await using var tar = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        if (dst == "-")
        {
            await using var stdout = DockerCli.OpenStdout();
            await tar.CopyToAsync(stdout, ct).ConfigureAwait(false);
            return;
        }
        // The archive's entries start with the source's base name; copy them into DEST when it is a directory,
        // else as DEST itself (renaming the top entry), the way docker cp does.
        var srcBase = Path.GetFileName(src.TrimEnd('/')) is { Length: > 0 } b ? b : ".";
        string targetDir;
        string? rename = null;
        if (Directory.Exists(dst))
        {
            targetDir = dst;
        }
        else
        {
            if (dst.EndsWith('/'))
            {
                throw new BerthException(ErrorCode.NotFound, $"destination directory {dst} does not exist; create it first");
            }
            targetDir = Path.GetDirectoryName(Path.GetFullPath(dst))!;
            if (!Directory.Exists(targetDir))
            {
                throw new BerthException(ErrorCode.NotFound, $"destination directory {targetDir} does not exist; create it first");
            }
            rename = Path.GetFileName(dst);
        }
        var root = Path.GetFullPath(targetDir);
        using var reader = new TarReader(tar);
        while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
        {
            var name = entry.Name.TrimStart('/');
            if (rename is not null && srcBase != ".")
            {
                name = name == srcBase || name == srcBase + "/" ? rename : name.StartsWith(srcBase + "/", StringComparison.Ordinal) ? rename + name[srcBase.Length..] : name;
            }
            var path = Path.GetFullPath(Path.Combine(root, name));
            if (!path.StartsWith(root, StringComparison.Ordinal))
            {
                throw new BerthException(ErrorCode.InvalidArgument, $"archive entry '{entry.Name}' points outside {root}; refusing to write it");
            }
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    if (!OperatingSystem.IsWindows())
                    {
                        File.SetUnixFileMode(path, entry.Mode);
                    }
                    break;
                case TarEntryType.SymbolicLink:
                    if (File.Exists(path) || Directory.Exists(path))
                    {
                        File.Delete(path);
                    }
                    File.CreateSymbolicLink(path, entry.LinkName);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await entry.ExtractToFileAsync(path, overwrite: true, ct).ConfigureAwait(false);
                    break;
                case TarEntryType.HardLink:
                    var target = Path.GetFullPath(Path.Combine(root, entry.LinkName.TrimStart('/')));
                    File.Copy(target, path, overwrite: true);
                    break;
                default:
                    // Devices, fifos: docker cp would need root to make them; skip with a note.
                    await cli.Err.WriteLineAsync($"skipping {entry.Name}: {entry.EntryType} entries are not copied").ConfigureAwait(false);
                    break;
            }
        }
    }

    private static async Task CopyToContainerAsync(DockerCli cli, string src, string container, string dst, bool archive, CancellationToken ct)
    {
        var name = DockerCli.Esc(container);
        if (src == "-")
        {
            // A tar on stdin is extracted into DEST, which must be a directory.
            await using var stdin = DockerCli.OpenStdin();
            using var content = new StreamContent(stdin);
            content.Headers.ContentType = DockerApiClient.Tar;
            using var _ = await cli.Api.SendAsync(HttpMethod.Put, $"/containers/{name}/archive?path={DockerCli.Esc(dst)}&noOverwriteDirNonDir=true", content, cancellationToken: ct).ConfigureAwait(false);
            return;
        }
        var full = Path.GetFullPath(src);
        if (!File.Exists(full) && !Directory.Exists(full))
        {
            throw new BerthException(ErrorCode.NotFound, $"lstat {full}: no such file or directory");
        }
        // Where does it go: into DEST when DEST is a directory in the container, else DEST is the new name.
        string targetDir;
        string entryName;
        var stat = await StatAsync(cli, name, dst, ct).ConfigureAwait(false);
        if (stat is { } s && (s["mode"]?.GetValue<long>() ?? 0) is var mode && (mode & (1L << 31)) != 0)
        {
            targetDir = dst;
            entryName = Path.GetFileName(full.TrimEnd('/'));
        }
        else
        {
            if (dst.EndsWith('/'))
            {
                throw new BerthException(ErrorCode.NotFound, $"destination directory {container}:{dst} does not exist; create it first");
            }
            targetDir = dst.Contains('/', StringComparison.Ordinal) ? (dst[..dst.LastIndexOf('/')] is { Length: > 0 } d ? d : "/") : ".";
            entryName = dst[(dst.LastIndexOf('/') + 1)..];
        }
        var buffer = new MemoryStream();
        await using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            if (Directory.Exists(full))
            {
                await AddDirectoryAsync(writer, full, entryName, archive, ct).ConfigureAwait(false);
            }
            else
            {
                await AddEntryAsync(writer, full, entryName, archive, ct).ConfigureAwait(false);
            }
        }
        buffer.Position = 0;
        using var body = new StreamContent(buffer);
        body.Headers.ContentType = DockerApiClient.Tar;
        using var __ = await cli.Api.SendAsync(HttpMethod.Put, $"/containers/{name}/archive?path={DockerCli.Esc(targetDir)}&noOverwriteDirNonDir=true", body, cancellationToken: ct).ConfigureAwait(false);
    }

    private static async Task<JsonNode?> StatAsync(DockerCli cli, string container, string path, CancellationToken ct)
    {
        try
        {
            using var response = await cli.Api.SendAsync(HttpMethod.Head, $"/containers/{container}/archive?path={DockerCli.Esc(path)}", cancellationToken: ct).ConfigureAwait(false);
            return response.Headers.TryGetValues("X-Docker-Container-Path-Stat", out var values)
                ? JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(values.First())))
                : null;
        }
        catch (DockerApiException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static async Task AddDirectoryAsync(TarWriter writer, string dir, string name, bool archive, CancellationToken ct)
    {
        await AddEntryAsync(writer, dir, name, archive, ct).ConfigureAwait(false);
        foreach (var child in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
        {
            var childName = name + "/" + Path.GetFileName(child);
            if (Directory.Exists(child) && !File.GetAttributes(child).HasFlag(FileAttributes.ReparsePoint))
            {
                await AddDirectoryAsync(writer, child, childName, archive, ct).ConfigureAwait(false);
            }
            else
            {
                await AddEntryAsync(writer, child, childName, archive, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task AddEntryAsync(TarWriter writer, string path, string name, bool archive, CancellationToken ct)
    {
        // With -a the owner comes along (the writer reads it with lstat); without, docker cp makes root the owner.
        if (archive)
        {
            await writer.WriteEntryAsync(path, Directory.Exists(path) && new FileInfo(path).LinkTarget is null ? name + "/" : name, ct).ConfigureAwait(false);
            return;
        }
        var info = new FileInfo(path);
        TarEntry entry;
        if (info.LinkTarget is { } link)
        {
            entry = new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = link };
        }
        else if (Directory.Exists(path))
        {
            entry = new PaxTarEntry(TarEntryType.Directory, name + "/");
        }
        else
        {
            entry = new PaxTarEntry(TarEntryType.RegularFile, name);
        }
        entry.Mode = File.GetUnixFileMode(path);
        entry.ModificationTime = info.LastWriteTimeUtc;
        if (entry.EntryType == TarEntryType.RegularFile)
        {
            await using var data = File.OpenRead(path);
            entry.DataStream = data;
            await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
        }
        else
        {
            await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
        }
    }
}
