using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using Berth.Core;

namespace Berth.Build;

public sealed partial class Builder
{
    /// <summary>A resolved source; <see cref="Inline"/> ones (heredocs, downloads) are never extracted.</summary>
    private sealed record CopySource(SourceTree Tree, SourceEntry Entry, bool FromContext, bool Inline);

    private async Task<StepWork> PrepareCopyAsync(BuildRun run, StageState state, CopyInstruction instruction, CancellationToken cancellationToken)
    {
        var keyword = instruction.Keyword;
        var env = state.ExpansionEnv();
        string Expand(string word) => run.Lex.ProcessWord(word, env);

        var dest = Expand(instruction.Destination);
        if (dest.Length == 0)
        {
            throw Error(instruction, $"{keyword}: the destination expands to an empty string");
        }
        if (instruction.Sources.Count > 1 && !IsDirectoryDestination(dest))
        {
            throw Error(instruction, $"When using {keyword} with more than one source file, the destination must be a directory and end with a /");
        }
        var chown = instruction.Chown is null ? null : Expand(instruction.Chown);
        var chmodText = instruction.Chmod is null ? null : Expand(instruction.Chmod);
        UnixFileMode? chmod = null;
        if (chmodText is not null)
        {
            if (chmodText.Length is 0 or > 5 || !chmodText.All(c => c is >= '0' and <= '7'))
            {
                throw Error(instruction, $"{keyword}: invalid --chmod={chmodText}; use an octal mode such as 0755");
            }
            chmod = (UnixFileMode)Convert.ToInt32(chmodText, 8);
        }
        var workdir = state.Config.Config.WorkingDir is { Length: > 0 } w ? w : "/";
        var destAbs = dest.StartsWith('/') ? dest : workdir.TrimEnd('/') + "/" + dest;
        var destIsDir = IsDirectoryDestination(dest);
        var destRel = PathRules.RelativeInRoot(destAbs);

        var resources = new List<IAsyncDisposable>();
        try
        {
            // Where sources come from: the context, an earlier stage, or an image.
            var tree = run.Context;
            var fromContext = true;
            var fromId = "context";
            var copyFrom = instruction.From is null ? null : run.Plan.CopyFrom(instruction);
            if (copyFrom is not null)
            {
                fromContext = false;
                var stage = BuildPlan.FindCopySource(run.Plan.Dockerfile, copyFrom);
                string? layer;
                if (stage is not null)
                {
                    var result = run.Results[stage.Index];
                    layer = result.Layer;
                    // Content-based like BuildKit: the checksum of the copied files decides, not the stage's key,
                    // so a rebuilt stage that produced the same files is still a hit.
                    fromId = "other-filesystem";
                }
                else
                {
                    var image = await _backend.ResolveImageAsync(copyFrom, state.Planned.Base.Platform, cancellationToken).ConfigureAwait(false);
                    layer = image.Layer;
                    fromId = "other-filesystem";
                }
                var mount = await _backend.MountAsync(layer, readOnly: true, cancellationToken).ConfigureAwait(false);
                resources.Add(mount);
                tree = new SourceTree(mount.RootPath, null, _owners);
            }

            var sources = new List<CopySource>();
            var heredocIndex = 0;
            foreach (var raw in instruction.Sources)
            {
                var heredoc = raw.StartsWith("<<", StringComparison.Ordinal) && heredocIndex < instruction.Heredocs.Count
                    ? instruction.Heredocs[heredocIndex]
                    : null;
                if (heredoc is not null)
                {
                    heredocIndex++;
                    var temp = new TempTree();
                    resources.Add(temp);
                    var content = heredoc.Expand ? new ShellLex(run.Lex.Escape) { SkipProcessQuotes = true }.ProcessWord(heredoc.Content, env) : heredoc.Content;
                    var file = Path.Combine(temp.Path, heredoc.Name);
                    await File.WriteAllTextAsync(file, content, cancellationToken).ConfigureAwait(false);
                    File.SetUnixFileMode(file, (UnixFileMode)Convert.ToInt32("644", 8));
                    var heredocTree = new SourceTree(temp.Path);
                    sources.Add(new CopySource(heredocTree, heredocTree.Stat(heredoc.Name, follow: false)!, true, true));
                    continue;
                }
                var source = Expand(raw);
                if (instruction.IsAdd && IsRemote(source))
                {
                    throw Error(instruction, $"not supported: ADD from a git repository ({source}); clone it in a RUN step instead");
                }
                if (instruction.IsAdd && IsHttp(source))
                {
                    var temp = new TempTree();
                    resources.Add(temp);
                    var downloaded = await DownloadAsync(source, temp.Path, instruction, cancellationToken).ConfigureAwait(false);
                    var downloadTree = new SourceTree(temp.Path);
                    sources.Add(new CopySource(downloadTree, downloadTree.Stat(downloaded, follow: false)!, true, true));
                    continue;
                }
                if (instruction.Checksum is not null)
                {
                    throw Error(instruction, $"ADD --checksum applies to http(s) URLs only, not to \"{source}\"");
                }
                try
                {
                    foreach (var entry in tree.Resolve(source, keyword))
                    {
                        sources.Add(new CopySource(tree, entry, fromContext, false));
                    }
                }
                catch (BerthException e) when (e.Code == ErrorCode.NotFound)
                {
                    throw new BerthException(ErrorCode.NotFound, $"{instruction.Location}: {e.Message}");
                }
            }
            if (sources.Count > 1)
            {
                destIsDir = true;
            }

            var checksum = SourceTree.Checksum(sources.Select(s => (s.Tree, s.Entry)));
            var kind = sources.Count > 1 ? "multi" : sources[0].Entry.Type == SourceEntryType.Directory ? "dir" : "file";
            var flags = (copyFrom is null ? string.Empty : $"--from={copyFrom} ")
                + (chown is null ? string.Empty : $"--chown={chown} ")
                + (chmodText is null ? string.Empty : $"--chmod={chmodText} ");
            var history = $"{keyword} {flags}{kind}:{checksum["sha256:".Length..]} in {destAbs}";
            var descriptor = string.Join('\0', keyword, fromId, chown ?? string.Empty, chmodText ?? string.Empty,
                instruction.Link ? "link" : string.Empty, destAbs, destIsDir ? "dir" : "path", checksum);

            var work = new StepWork
            {
                Descriptor = descriptor,
                History = history,
                Execute = async (_, ct) =>
                {
                    var mount = await _backend.MountAsync(state.Layer, readOnly: false, ct).ConfigureAwait(false);
                    await using (mount.ConfigureAwait(false))
                    {
                        var root = mount.RootPath;
                        (int Uid, int Gid)? owner = chown is null ? null : ResolveChown(root, chown, instruction);
                        foreach (var source in sources)
                        {
                            ct.ThrowIfCancellationRequested();
                            CopyOne(instruction, source, root, destRel, destIsDir, owner, chmod);
                        }
                        var layer = await _backend.CommitAsync(mount, ct).ConfigureAwait(false);
                        return (state.Config.Clone(), (string?)layer);
                    }
                },
            };
            work.Resources.AddRange(resources);
            resources.Clear();
            return work;
        }
        finally
        {
            foreach (var resource in resources)
            {
                await resource.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// WORKDIR sets the working directory and, as BuildKit does, creates it (with parents, 0755, owned by the
    /// current USER) when it does not exist yet; that makes a layer. An existing directory adds no layer.
    /// </summary>
    private StepWork PrepareWorkdir(BuildRun run, StageState state, WorkdirInstruction instruction)
    {
        var path = run.Lex.ProcessWord(instruction.Path, state.ExpansionEnv());
        if (path.Length == 0)
        {
            throw Error(instruction, "WORKDIR expands to an empty string");
        }
        var current = state.Config.Config.WorkingDir is { Length: > 0 } cwd ? cwd : "/";
        var workdir = PathRules.Clean(path.StartsWith('/') ? path : current + "/" + path);
        var user = state.Config.Config.User;
        return new StepWork
        {
            Descriptor = "WORKDIR\0" + workdir + "\0" + user,
            History = "WORKDIR " + workdir,
            Execute = async (_, ct) =>
            {
                var config = state.Config.Clone();
                config.Config.WorkingDir = workdir;
                if (workdir == "/")
                {
                    return (config, state.Layer);
                }
                var mount = await _backend.MountAsync(state.Layer, readOnly: false, ct).ConfigureAwait(false);
                await using (mount.ConfigureAwait(false))
                {
                    var rel = PathRules.RelativeInRoot(workdir);
                    if (Directory.Exists(PathRules.SecureJoin(mount.RootPath, rel)))
                    {
                        return (config, state.Layer);
                    }
                    (int, int)? owner = user is { Length: > 0 } ? ResolveChown(mount.RootPath, user, instruction) : null;
                    EnsureDirectory(mount.RootPath, rel, owner);
                    return (config, (string?)await _backend.CommitAsync(mount, ct).ConfigureAwait(false));
                }
            },
        };
    }

    private static bool IsDirectoryDestination(string dest) =>
        dest.EndsWith('/') || dest == "." || dest.EndsWith("/.", StringComparison.Ordinal);

    private static bool IsHttp(string source) =>
        source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// ADD &lt;url&gt;: downloads into <paramref name="directory"/> under the URL's last path segment, mode 0600 and the
    /// Last-Modified time, as Docker does; checks <c>--checksum</c>. Never extracted. Returns the file name.
    /// </summary>
    private async Task<string> DownloadAsync(string url, string directory, CopyInstruction instruction, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            throw Error(instruction, $"ADD: \"{url}\" is not a valid URL");
        }
        var name = Uri.UnescapeDataString(uri.AbsolutePath.TrimEnd('/').Split('/')[^1]);
        if (name.Length == 0 || name is "." or "..")
        {
            name = "index.html";
        }
        var path = Path.Combine(directory, name);
        HttpResponseMessage response;
        try
        {
            response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new BerthException(ErrorCode.Unavailable, $"{instruction.Location}: ADD {url}: cannot download: {e.Message}", e);
        }
        using var disposeResponse = response;
        if (!response.IsSuccessStatusCode)
        {
            throw new BerthException(ErrorCode.Unavailable,
                $"{instruction.Location}: ADD {url}: the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            await response.Content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (response.Content.Headers.LastModified is { } modified)
        {
            File.SetLastWriteTimeUtc(path, modified.UtcDateTime);
        }
        if (instruction.Checksum is not null)
        {
            string actual;
            await using (var read = File.OpenRead(path))
            {
                actual = "sha256:" + Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(read, cancellationToken).ConfigureAwait(false));
            }
            if (actual != instruction.Checksum)
            {
                throw Error(instruction, $"ADD {url}: checksum mismatch: expected {instruction.Checksum}, got {actual}");
            }
        }
        return name;
    }

    private static bool IsRemote(string source) =>
        source.StartsWith("git@", StringComparison.Ordinal)
        || source.StartsWith("git://", StringComparison.OrdinalIgnoreCase)
        || source.EndsWith(".git", StringComparison.Ordinal) && source.Contains("://", StringComparison.Ordinal);

    private void CopyOne(CopyInstruction instruction, CopySource source, string root, string destRel, bool destIsDir, (int Uid, int Gid)? owner, UnixFileMode? chmod)
    {
        var entry = source.Entry;
        (int, int) OwnerOf(SourceEntry e) => owner ?? (source.FromContext ? (0, 0) : (e.Uid, e.Gid));

        if (entry.Type == SourceEntryType.Directory)
        {
            // A directory source copies its contents, not the directory itself.
            EnsureDirectory(root, destRel, owner);
            foreach (var child in source.Tree.List(entry))
            {
                CopyTree(source.Tree, child, root, Join(destRel, Name(child.Path)), OwnerOf, chmod);
            }
            return;
        }

        var existingDir = Directory.Exists(PathRules.SecureJoin(root, destRel)) && destRel != ".";
        if (instruction.IsAdd && source.FromContext && !source.Inline && entry.Type == SourceEntryType.File
            && TryOpenArchive(entry.FullPath, instruction) is { } archive)
        {
            using (archive)
            {
                EnsureDirectory(root, destRel, owner);
                Extract(archive, root, destRel, owner, instruction);
            }
            return;
        }
        var targetRel = destIsDir || existingDir || destRel == "." ? Join(destRel, Name(entry.Path)) : destRel;
        EnsureDirectory(root, ParentOf(targetRel), owner);
        CopyTree(source.Tree, entry, root, targetRel, OwnerOf, chmod);
    }

    private void CopyTree(SourceTree tree, SourceEntry entry, string root, string targetRel, Func<SourceEntry, (int Uid, int Gid)> ownerOf, UnixFileMode? chmod)
    {
        var target = PathRules.SecureJoin(root, targetRel, followLast: false);
        var (uid, gid) = ownerOf(entry);
        switch (entry.Type)
        {
            case SourceEntryType.Directory:
                if (!Directory.Exists(target) || new FileInfo(target).LinkTarget is not null)
                {
                    RemoveNonDirectory(target);
                    Directory.CreateDirectory(target);
                }
                File.SetUnixFileMode(target, chmod ?? entry.Mode);
                _owners.SetOwner(target, uid, gid);
                foreach (var child in tree.List(entry))
                {
                    CopyTree(tree, child, root, Join(targetRel, Name(child.Path)), ownerOf, chmod);
                }
                Directory.SetLastWriteTimeUtc(target, Directory.GetLastWriteTimeUtc(entry.FullPath));
                break;
            case SourceEntryType.File:
                RemoveNonDirectory(target);
                if (Directory.Exists(target))
                {
                    throw BerthException.FailedPrecondition($"cannot copy file {entry.Path} over the directory /{targetRel}");
                }
                File.Copy(entry.FullPath, target);
                File.SetUnixFileMode(target, chmod ?? entry.Mode);
                _owners.SetOwner(target, uid, gid);
                File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(entry.FullPath));
                break;
            case SourceEntryType.Symlink:
                RemoveNonDirectory(target);
                if (Directory.Exists(target))
                {
                    throw BerthException.FailedPrecondition($"cannot copy symlink {entry.Path} over the directory /{targetRel}");
                }
                File.CreateSymbolicLink(target, entry.LinkTarget!);
                _owners.SetOwner(target, uid, gid);
                break;
            default:
                throw BerthException.Unsupported($"copying {entry.Path}: device nodes, sockets and FIFOs are not copied by COPY/ADD");
        }
    }

    /// <summary>Deletes a file or symlink at <paramref name="path"/> so a new one never writes through an old link.</summary>
    private static void RemoveNonDirectory(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || info.Exists)
        {
            info.Delete();
        }
    }

    /// <summary>
    /// Creates a directory and its missing parents (0755) inside the root. Directories it creates belong to the
    /// --chown owner when there is one (as BuildKit and buildah do), otherwise to root; existing ones are left alone.
    /// </summary>
    private void EnsureDirectory(string root, string rel, (int Uid, int Gid)? owner)
    {
        if (rel == ".")
        {
            return;
        }
        var prefix = string.Empty;
        foreach (var part in rel.Split('/'))
        {
            prefix = prefix.Length == 0 ? part : prefix + "/" + part;
            var full = PathRules.SecureJoin(root, prefix);
            if (Directory.Exists(full))
            {
                continue;
            }
            RemoveNonDirectory(full);
            Directory.CreateDirectory(full);
            File.SetUnixFileMode(full, (UnixFileMode)Convert.ToInt32("755", 8));
            var (uid, gid) = owner ?? (0, 0);
            _owners.SetOwner(full, uid, gid);
        }
    }

    private static string Join(string dir, string name) => dir == "." ? name : dir + "/" + name;

    private static string Name(string rel)
    {
        var slash = rel.LastIndexOf('/');
        return slash < 0 ? rel : rel[(slash + 1)..];
    }

    private static string ParentOf(string rel)
    {
        var slash = rel.LastIndexOf('/');
        return slash < 0 ? "." : rel[..slash];
    }

    /// <summary>
    /// <c>--chown=user[:group]</c>: numbers are taken as they are; names are looked up in the destination's
    /// /etc/passwd and /etc/group. A user without a group gets the user's primary group (or the same number).
    /// </summary>
    internal static (int Uid, int Gid) ResolveChown(string root, string chown, Instruction instruction)
    {
        var colon = chown.IndexOf(':', StringComparison.Ordinal);
        var user = colon < 0 ? chown : chown[..colon];
        var group = colon < 0 ? null : chown[(colon + 1)..];
        int uid;
        int? primaryGid = null;
        if (int.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var numericUser))
        {
            uid = numericUser;
        }
        else
        {
            var entry = LookUp(root, "etc/passwd", user)
                ?? throw Error(instruction, $"{Describe(instruction, chown)}: unable to find user {user}: no matching entries in passwd file");
            uid = entry.Id;
            primaryGid = entry.Gid;
        }
        int gid;
        if (group is null || group.Length == 0)
        {
            gid = primaryGid ?? uid;
        }
        else if (int.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out var numericGroup))
        {
            gid = numericGroup;
        }
        else
        {
            gid = (LookUp(root, "etc/group", group)
                ?? throw Error(instruction, $"{Describe(instruction, chown)}: unable to find group {group}: no matching entries in group file")).Id;
        }
        return (uid, gid);
    }

    private static string Describe(Instruction instruction, string user) =>
        instruction is WorkdirInstruction ? $"WORKDIR as USER {user}" : $"{instruction.Keyword} --chown={user}";

    private static (int Id, int? Gid)? LookUp(string root, string file, string name)
    {
        var path = PathRules.SecureJoin(root, file);
        if (!File.Exists(path))
        {
            return null;
        }
        foreach (var line in File.ReadLines(path))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == name && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                int? gid = fields.Length >= 4 && int.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out var g) ? g : null;
                return (id, gid);
            }
        }
        return null;
    }

    /// <summary>ADD's local archive rule: a tar, plain or gzip-compressed, is extracted; anything else is copied.</summary>
    private static TarReader? TryOpenArchive(string path, Instruction instruction)
    {
        Span<byte> magic = stackalloc byte[6];
        int read;
        using (var probe = File.OpenRead(path))
        {
            read = probe.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        }
        if (read >= 3 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h'
            || read >= 6 && magic[0] == 0xFD && magic[1] == '7' && magic[2] == 'z' && magic[3] == 'X' && magic[4] == 'Z' && magic[5] == 0
            || read >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
        {
            throw Error(instruction, $"not supported: ADD of a bzip2, xz or zstd archive ({Path.GetFileName(path)}); use a plain or gzip-compressed tar");
        }
        var gzip = read >= 2 && magic[0] == 0x1F && magic[1] == 0x8B;
        Stream stream = File.OpenRead(path);
        try
        {
            if (gzip)
            {
                stream = new GZipStream(stream, CompressionMode.Decompress);
            }
            // A tar starts with a header block whose checksum validates; reading it is the test.
            var buffer = new BufferedStream(stream, 1 << 16);
            var header = new byte[512];
            var got = buffer.ReadAtLeast(header, 512, throwOnEndOfStream: false);
            if (got < 512 || !IsTarHeader(header))
            {
                buffer.Dispose();
                return null;
            }
            buffer.Dispose();
            Stream again = File.OpenRead(path);
            if (gzip)
            {
                again = new GZipStream(again, CompressionMode.Decompress);
            }
            return new TarReader(again, leaveOpen: false);
        }
        catch (InvalidDataException)
        {
            stream.Dispose();
            return null;
        }
    }

    private static bool IsTarHeader(byte[] header)
    {
        // The stored checksum (octal at 148..155) equals the sum of the header with that field as spaces.
        var text = System.Text.Encoding.ASCII.GetString(header, 148, 8).Trim('\0', ' ');
        if (text.Length == 0 || !text.All(c => c is >= '0' and <= '7'))
        {
            return false;
        }
        var stored = Convert.ToInt32(text, 8);
        var sum = 0;
        for (var i = 0; i < 512; i++)
        {
            sum += i is >= 148 and < 156 ? ' ' : header[i];
        }
        return sum == stored && header[0] != 0;
    }

    /// <summary>
    /// Extracts a tar under <paramref name="destRel"/>. Entry names are cleaned so none leaves the destination
    /// (<c>../x</c> lands at <c>x</c>); every path is resolved with links interpreted inside the root, and an
    /// existing link is replaced, never written through; hard links must point at a file already extracted.
    /// </summary>
    private void Extract(TarReader reader, string root, string destRel, (int Uid, int Gid)? owner, Instruction instruction)
    {
        var dirTimes = new List<(string Path, DateTimeOffset Time)>();
        while (reader.GetNextEntry() is { } entry)
        {
            var name = PathRules.RelativeInRoot(entry.Name);
            if (name == ".")
            {
                continue;
            }
            var rel = Join(destRel, name);
            EnsureDirectory(root, ParentOf(rel), owner);
            var target = PathRules.SecureJoin(root, rel, followLast: false);
            var (uid, gid) = owner ?? (entry.Uid, entry.Gid);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    if (!Directory.Exists(target) || new FileInfo(target).LinkTarget is not null)
                    {
                        RemoveNonDirectory(target);
                        Directory.CreateDirectory(target);
                    }
                    File.SetUnixFileMode(target, entry.Mode);
                    _owners.SetOwner(target, uid, gid);
                    dirTimes.Add((target, entry.ModificationTime));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    RemoveNonDirectory(target);
                    using (var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
                    {
                        entry.DataStream?.CopyTo(output);
                    }
                    File.SetUnixFileMode(target, entry.Mode);
                    _owners.SetOwner(target, uid, gid);
                    File.SetLastWriteTimeUtc(target, entry.ModificationTime.UtcDateTime);
                    break;
                case TarEntryType.SymbolicLink:
                    RemoveNonDirectory(target);
                    File.CreateSymbolicLink(target, entry.LinkName);
                    _owners.SetOwner(target, uid, gid);
                    break;
                case TarEntryType.HardLink:
                    {
                        var linked = PathRules.SecureJoin(root, Join(destRel, PathRules.RelativeInRoot(entry.LinkName)), followLast: false);
                        if (!File.Exists(linked) || new FileInfo(linked).LinkTarget is not null)
                        {
                            throw Error(instruction, $"ADD: archive entry {entry.Name} is a hard link to {entry.LinkName}, which is not a file extracted before it");
                        }
                        RemoveNonDirectory(target);
                        // .NET has no link(2); the content is copied, which is what the file reads as.
                        File.Copy(linked, target);
                        File.SetUnixFileMode(target, File.GetUnixFileMode(linked));
                        _owners.SetOwner(target, uid, gid);
                        break;
                    }
                case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                    break;
                default:
                    throw Error(instruction, $"not supported: ADD of archive entry {entry.Name} ({entry.EntryType}); only files, directories and links are extracted");
            }
        }
        foreach (var (path, time) in dirTimes)
        {
            Directory.SetLastWriteTimeUtc(path, time.UtcDateTime);
        }
    }

    /// <summary>A temporary directory for heredoc sources, removed with the step.</summary>
    private sealed class TempTree : IAsyncDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("berth-build-heredoc-").FullName;

        public ValueTask DisposeAsync()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
            return ValueTask.CompletedTask;
        }
    }
}
