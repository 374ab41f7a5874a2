using System.Globalization;
using System.Text.Json.Nodes;
using Berth.Cli.Docker;
using Berth.Core;

namespace Berth.Cli.Commands.Docker;

/// <summary>Image commands: images, rmi, tag, history, save, load, import, prune, build, pull, push, login, logout.</summary>
public static class ImageCommands
{
    private static FlagSet Set(string name, string usage, params Flag[] flags) => new(name, usage, interspersed: true, flags);

    /// <summary>"busybox" → "busybox:latest", as docker names images in its messages.</summary>
    public static string Normalize(string reference)
    {
        var lastSlash = reference.LastIndexOf('/');
        return reference.Contains('@', StringComparison.Ordinal) || reference.IndexOf(':', lastSlash + 1) > 0 ? reference : reference + ":latest";
    }

    /// <summary>Splits "repo[:tag|@digest]" into the repository and the tag (or digest).</summary>
    public static (string Repo, string? Tag) SplitReference(string reference)
    {
        var at = reference.IndexOf('@', StringComparison.Ordinal);
        if (at > 0)
        {
            return (reference[..at], reference[(at + 1)..]);
        }
        var colon = reference.LastIndexOf(':');
        return colon > reference.LastIndexOf('/') && colon > 0 ? (reference[..colon], reference[(colon + 1)..]) : (reference, null);
    }

    private static KeyValuePair<string, string>[] AuthHeader(string reference)
    {
        var registry = AuthConfigFile.RegistryOf(reference);
        return [new("X-Registry-Auth", AuthConfigFile.Header(registry, AuthConfigFile.Default().Get(registry)))];
    }

    /// <summary>Progress bars when the output is a terminal, plain lines otherwise.</summary>
    private static JsonMessageStream Renderer(TextWriter output) =>
        new(output, !ReferenceEquals(output, TextWriter.Null) && Berth.Linux.Terminal.IsTerminal(ReferenceEquals(output, Console.Error) ? 2 : 1), DockerCli.TerminalWidth);

    public static async Task PullImageAsync(DockerCli cli, string reference, bool quiet, TextWriter progress, CancellationToken ct)
    {
        var (repo, tag) = SplitReference(reference);
        using var response = await cli.Api.SendAsync(HttpMethod.Post, "/images/create" + DockerCli.Query(("fromImage", repo), ("tag", tag ?? "latest")),
            headers: AuthHeader(reference), stream: true, cancellationToken: ct).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await Renderer(quiet ? TextWriter.Null : progress).RenderAsync(body, ct).ConfigureAwait(false);
    }

    public static DockerCommandSpec Pull { get; } = new("pull", "Download an image from a registry",
        Set("pull", "pull [OPTIONS] NAME[:TAG|@DIGEST]",
            new Flag("quiet", 'q', FlagKind.Bool, "Suppress verbose output"),
            new Flag("all-tags", 'a', FlagKind.Bool, "Download all tagged images in the repository"),
            new Flag("platform", null, FlagKind.Value, "Set platform if server is multi-platform capable")),
        async (cli, f, ct) =>
        {
            f.Require(1, 1);
            if (f.Bool("all-tags"))
            {
                throw BerthException.Unsupported("pull --all-tags; pull the tags one by one");
            }
            await PullImageAsync(cli, f.Positionals[0], f.Bool("quiet"), cli.Out, ct).ConfigureAwait(false);
            if (f.Bool("quiet"))
            {
                cli.Out.WriteLine(Normalize(f.Positionals[0]));
            }
            return 0;
        });

    public static DockerCommandSpec Push { get; } = new("push", "Upload an image to a registry",
        Set("push", "push [OPTIONS] NAME[:TAG]",
            new Flag("quiet", 'q', FlagKind.Bool, "Suppress verbose output"),
            new Flag("all-tags", 'a', FlagKind.Bool, "Push all tags of an image to the repository")),
        async (cli, f, ct) =>
        {
            f.Require(1, 1);
            var (repo, tag) = SplitReference(f.Positionals[0]);
            var query = DockerCli.Query(("tag", f.Bool("all-tags") ? null : tag ?? "latest"));
            using var response = await cli.Api.SendAsync(HttpMethod.Post, $"/images/{repo}/push{query}", headers: AuthHeader(f.Positionals[0]), stream: true, cancellationToken: ct).ConfigureAwait(false);
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await Renderer(f.Bool("quiet") ? TextWriter.Null : cli.Out).RenderAsync(body, ct).ConfigureAwait(false);
            if (f.Bool("quiet"))
            {
                cli.Out.WriteLine(Normalize(f.Positionals[0]));
            }
            return 0;
        });

    public static DockerCommandSpec Login { get; } = new("login", "Log in to a registry",
        Set("login", "login [OPTIONS] [SERVER]",
            new Flag("username", 'u', FlagKind.Value, "Username"),
            new Flag("password", 'p', FlagKind.Value, "Password"),
            new Flag("password-stdin", null, FlagKind.Bool, "Take the password from stdin")),
        async (cli, f, ct) =>
        {
            f.Require(0, 1);
            var server = f.Positionals.Count > 0 ? f.Positionals[0] : AuthConfigFile.DefaultRegistry;
            var user = f.Value("username");
            var password = f.Value("password");
            if (f.Bool("password-stdin"))
            {
                if (password is not null)
                {
                    throw new UsageException("--password and --password-stdin are mutually exclusive");
                }
                if (user is null)
                {
                    throw new UsageException("Must provide --username with --password-stdin");
                }
                password = (await Console.In.ReadToEndAsync(ct).ConfigureAwait(false)).TrimEnd('\n', '\r');
            }
            else if (password is not null)
            {
                cli.Err.WriteLine("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            }
            if (user is null)
            {
                cli.Out.Write("Username: ");
                cli.Out.Flush();
                user = Console.In.ReadLine()?.Trim() ?? "";
            }
            if (password is null)
            {
                cli.Out.Write("Password: ");
                cli.Out.Flush();
                using (DockerCli.StdinIsTerminal ? new NoEcho() : null)
                {
                    password = Console.In.ReadLine() ?? "";
                }
                cli.Out.WriteLine();
            }
            if (user.Length == 0 || password.Length == 0)
            {
                throw new BerthException(ErrorCode.InvalidArgument, "Error: Username and password are required");
            }
            var result = await cli.Api.PostJsonAsync("/auth", new JsonObject { ["username"] = user, ["password"] = password, ["serveraddress"] = server }, ct).ConfigureAwait(false);
            var store = AuthConfigFile.Default();
            store.Set(server, user, password);
            cli.Err.WriteLine($"Credentials stored in {store.Path} (base64, not encrypted).");
            cli.Out.WriteLine(result?["Status"]?.GetValue<string>() is { Length: > 0 } s ? s : "Login Succeeded");
            return 0;
        });

    /// <summary>Turns terminal echo off while a password is typed (stty, restored after).</summary>
    private sealed class NoEcho : IDisposable
    {
        public NoEcho() => Stty("-echo");

        public void Dispose() => Stty("echo");

        private static void Stty(string arg)
        {
            try
            {
                var psi = new System.Diagnostics.ProcessStartInfo("stty", arg) { UseShellExecute = false };
                using var p = System.Diagnostics.Process.Start(psi);
                p?.WaitForExit();
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    public static DockerCommandSpec Logout { get; } = new("logout", "Log out from a registry",
        Set("logout", "logout [SERVER]"),
        (cli, f, ct) =>
        {
            f.Require(0, 1);
            var server = f.Positionals.Count > 0 ? f.Positionals[0] : AuthConfigFile.DefaultRegistry;
            if (AuthConfigFile.Default().Remove(server))
            {
                cli.Out.WriteLine("Removing login credentials for " + server);
            }
            else
            {
                cli.Out.WriteLine($"Not logged in to {server}");
            }
            return Task.FromResult(0);
        });

    public static DockerCommandSpec Images { get; } = new("images", "List images",
        Set("images", "images [OPTIONS] [REPOSITORY[:TAG]]",
            new Flag("all", 'a', FlagKind.Bool, "Show all images (default hides intermediate images)"),
            new Flag("quiet", 'q', FlagKind.Bool, "Only show image IDs"),
            new Flag("digests", null, FlagKind.Bool, "Show digests"),
            new Flag("filter", 'f', FlagKind.List, "Filter output based on conditions provided"),
            new Flag("no-trunc", null, FlagKind.Bool, "Don't truncate output"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template (basics)")),
        ImagesAsync);

    public static DockerCommandSpec ImageLs { get; } = Images with { Flags = new FlagSet("image ls", "image ls [OPTIONS] [REPOSITORY[:TAG]]", true, [.. Images.Flags.Flags]) };

    private static async Task<int> ImagesAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(0, 1);
        var extra = f.Positionals.Count > 0 ? new[] { ("reference", f.Positionals[0]) } : [];
        var list = await cli.Api.GetJsonAsync("/images/json" + DockerCli.Query(("all", f.Bool("all") ? "1" : null), ("filters", DockerCli.Filters(f.List("filter"), extra))), ct).ConfigureAwait(false) as JsonArray ?? [];
        var noTrunc = f.Bool("no-trunc");
        var now = DateTimeOffset.UtcNow;
        var rows = new List<JsonObject>();
        foreach (var image in list.OfType<JsonObject>().OrderByDescending(i => i["Created"]?.GetValue<long>() ?? 0))
        {
            var id = image["Id"]?.GetValue<string>() ?? "";
            var tags = (image["RepoTags"] as JsonArray ?? []).Select(t => t!.GetValue<string>()).Where(t => t != "<none>:<none>").ToList();
            var digests = (image["RepoDigests"] as JsonArray ?? []).Select(t => t!.GetValue<string>()).ToList();
            if (tags.Count == 0)
            {
                tags.Add("<none>:<none>");
            }
            var created = DateTimeOffset.FromUnixTimeSeconds(image["Created"]?.GetValue<long>() ?? 0);
            foreach (var t in tags)
            {
                var (repo, tag) = SplitReference(t);
                var digest = digests.FirstOrDefault(d => d.StartsWith(repo + "@", StringComparison.Ordinal)) is { } d ? d[(d.IndexOf('@', StringComparison.Ordinal) + 1)..] : "<none>";
                rows.Add(new JsonObject
                {
                    ["Repository"] = repo,
                    ["Tag"] = tag ?? "<none>",
                    ["Digest"] = digest,
                    ["ID"] = noTrunc ? id : ContainerCommands.Short(id),
                    ["CreatedSince"] = Units.HumanDuration(now - created) + " ago",
                    ["CreatedAt"] = created.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture),
                    ["Size"] = Units.HumanSize(image["Size"]?.GetValue<long>() ?? 0),
                });
            }
        }
        if (f.Bool("quiet"))
        {
            foreach (var id in rows.Select(r => r["ID"]!.GetValue<string>()).Distinct())
            {
                cli.Out.WriteLine(id);
            }
            return 0;
        }
        var columns = new List<(string, string)> { ("Repository", "REPOSITORY"), ("Tag", "TAG") };
        if (f.Bool("digests"))
        {
            columns.Add(("Digest", "DIGEST"));
        }
        columns.AddRange([("ID", "IMAGE ID"), ("CreatedSince", "CREATED"), ("Size", "SIZE")]);
        cli.WriteRows(f.Value("format"), false, rows, "ID", columns);
        return 0;
    }

    public static DockerCommandSpec Rmi { get; } = new("rmi", "Remove one or more images",
        Set("rmi", "rmi [OPTIONS] IMAGE [IMAGE...]",
            new Flag("force", 'f', FlagKind.Bool, "Force removal of the image"),
            new Flag("no-prune", null, FlagKind.Bool, "Do not delete untagged parents")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var failed = false;
            foreach (var image in f.Positionals)
            {
                try
                {
                    var r = await cli.Api.DeleteAsync($"/images/{DockerCli.Esc(image)}" + DockerCli.Query(("force", f.Bool("force") ? "1" : null), ("noprune", f.Bool("no-prune") ? "1" : null)), ct).ConfigureAwait(false);
                    foreach (var item in r as JsonArray ?? [])
                    {
                        if (item?["Untagged"]?.GetValue<string>() is { } u)
                        {
                            cli.Out.WriteLine("Untagged: " + u);
                        }
                        if (item?["Deleted"]?.GetValue<string>() is { } d)
                        {
                            cli.Out.WriteLine("Deleted: " + d);
                        }
                    }
                }
                catch (BerthException e)
                {
                    cli.Err.WriteLine("berth: " + e.Message);
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });

    public static DockerCommandSpec Tag { get; } = new("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        Set("tag", "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
        async (cli, f, ct) =>
        {
            f.Require(2, 2);
            var (repo, tag) = SplitReference(f.Positionals[1]);
            await cli.Api.PostJsonAsync($"/images/{DockerCli.Esc(f.Positionals[0])}/tag" + DockerCli.Query(("repo", repo), ("tag", tag ?? "latest")), null, ct).ConfigureAwait(false);
            return 0;
        });

    public static DockerCommandSpec History { get; } = new("history", "Show the history of an image",
        Set("history", "history [OPTIONS] IMAGE",
            new Flag("human", 'H', FlagKind.Bool, "Print sizes and dates in human readable format"),
            new Flag("no-trunc", null, FlagKind.Bool, "Don't truncate output"),
            new Flag("quiet", 'q', FlagKind.Bool, "Only show image IDs"),
            new Flag("format", null, FlagKind.Value, "Format output using a Go template (basics)")),
        async (cli, f, ct) =>
        {
            f.Require(1, 1);
            var list = await cli.Api.GetJsonAsync($"/images/{DockerCli.Esc(f.Positionals[0])}/history", ct).ConfigureAwait(false) as JsonArray ?? [];
            var noTrunc = f.Bool("no-trunc");
            var human = !f.Has("human") || f.Bool("human");
            var now = DateTimeOffset.UtcNow;
            var rows = list.OfType<JsonObject>().Select(h =>
            {
                var id = h["Id"]?.GetValue<string>() ?? "<missing>";
                var created = DateTimeOffset.FromUnixTimeSeconds(h["Created"]?.GetValue<long>() ?? 0);
                var by = (h["CreatedBy"]?.GetValue<string>() ?? "").Replace("\t", " ", StringComparison.Ordinal);
                var size = h["Size"]?.GetValue<long>() ?? 0;
                return new JsonObject
                {
                    ["ID"] = id == "<missing>" || noTrunc ? id : ContainerCommands.Short(id),
                    ["CreatedSince"] = human ? Units.HumanDuration(now - created) + " ago" : created.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture),
                    ["CreatedBy"] = noTrunc || by.Length <= 45 ? by : by[..44] + "…",
                    ["Size"] = human ? Units.HumanSize(size) : size.ToString(CultureInfo.InvariantCulture),
                    ["Comment"] = h["Comment"]?.GetValue<string>() ?? "",
                };
            }).ToList();
            cli.WriteRows(f.Value("format"), f.Bool("quiet"), rows, "ID",
                [("ID", "IMAGE"), ("CreatedSince", "CREATED"), ("CreatedBy", "CREATED BY"), ("Size", "SIZE"), ("Comment", "COMMENT")]);
            return 0;
        });

    public static DockerCommandSpec Save { get; } = new("save", "Save one or more images to a tar archive (streamed to STDOUT by default)",
        Set("save", "save [OPTIONS] IMAGE [IMAGE...]", new Flag("output", 'o', FlagKind.Value, "Write to a file, instead of STDOUT")),
        async (cli, f, ct) =>
        {
            f.Require(1);
            var query = string.Join('&', f.Positionals.Select(n => "names=" + DockerCli.Esc(n)));
            return await cli.DownloadArchiveAsync("/images/get?" + query, f.Value("output"), ct).ConfigureAwait(false);
        });

    public static DockerCommandSpec Load { get; } = new("load", "Load an image from a tar archive or STDIN",
        Set("load", "load [OPTIONS]",
            new Flag("input", 'i', FlagKind.Value, "Read from tar archive file, instead of STDIN"),
            new Flag("quiet", 'q', FlagKind.Bool, "Suppress the load output")),
        async (cli, f, ct) =>
        {
            f.Require(0, 0);
            var input = f.Value("input");
            if (input is null && DockerCli.StdinIsTerminal)
            {
                throw new BerthException(ErrorCode.InvalidArgument, "requested load from stdin, but stdin is empty; use -i FILE or redirect a tar archive");
            }
            await using var source = input is null ? DockerCli.OpenStdin() : OpenInput(input);
            using var content = new StreamContent(source);
            content.Headers.ContentType = DockerApiClient.Tar;
            var quiet = f.Bool("quiet") || !DockerCli.StdoutIsTerminal;
            using var response = await cli.Api.SendAsync(HttpMethod.Post, "/images/load" + (quiet ? "?quiet=1" : "?quiet=0"), content, stream: true, cancellationToken: ct).ConfigureAwait(false);
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await Renderer(cli.Out).RenderAsync(body, ct).ConfigureAwait(false);
            return 0;
        });

    private static FileStream OpenInput(string path)
    {
        try
        {
            return File.OpenRead(path);
        }
        catch (FileNotFoundException)
        {
            throw BerthException.NotFound($"open {path}: no such file or directory");
        }
        catch (DirectoryNotFoundException)
        {
            throw BerthException.NotFound($"open {path}: no such file or directory");
        }
    }

    public static DockerCommandSpec Import { get; } = new("import", "Import the contents from a tarball to create a filesystem image",
        Set("import", "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
            new Flag("change", 'c', FlagKind.List, "Apply Dockerfile instruction to the created image"),
            new Flag("message", 'm', FlagKind.Value, "Set commit message for imported image"),
            new Flag("platform", null, FlagKind.Value, "Set platform if server is multi-platform capable")),
        async (cli, f, ct) =>
        {
            f.Require(1, 2);
            var source = f.Positionals[0];
            var (repo, tag) = f.Positionals.Count > 1 ? SplitReference(f.Positionals[1]) : ("", null);
            var isUrl = source.StartsWith("http://", StringComparison.Ordinal) || source.StartsWith("https://", StringComparison.Ordinal);
            var query = "/images/create" + DockerCli.Query(("fromSrc", isUrl ? source : "-"), ("repo", repo.Length > 0 ? repo : null), ("tag", tag),
                ("message", f.Value("message")), ("platform", f.Value("platform"))) + string.Concat(f.List("change").Select(c => "&changes=" + DockerCli.Esc(c)));
            Stream? input = isUrl ? null : source == "-" ? DockerCli.OpenStdin() : OpenInput(source);
            await using (input)
            {
                using var content = input is null ? null : new StreamContent(input);
                if (content is not null)
                {
                    content.Headers.ContentType = DockerApiClient.Tar;
                }
                using var response = await cli.Api.SendAsync(HttpMethod.Post, query, content, stream: true, cancellationToken: ct).ConfigureAwait(false);
                await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                await Renderer(cli.Out).RenderAsync(body, ct).ConfigureAwait(false);
            }
            return 0;
        });

    public static DockerCommandSpec Prune { get; } = new("image prune", "Remove unused images",
        Set("image prune", "image prune [OPTIONS]",
            new Flag("all", 'a', FlagKind.Bool, "Remove all unused images, not just dangling ones"),
            new Flag("force", 'f', FlagKind.Bool, "Do not prompt for confirmation"),
            new Flag("filter", null, FlagKind.List, "Provide filter values (e.g. \"until=<timestamp>\")")),
        async (cli, f, ct) =>
        {
            var warning = f.Bool("all") ? "WARNING! This will remove all images without at least one container associated to them."
                : "WARNING! This will remove all dangling images.";
            if (!f.Bool("force") && !cli.Confirm(warning + "\nAre you sure you want to continue?"))
            {
                return 0;
            }
            var space = await PruneImagesAsync(cli, f.Bool("all"), f.List("filter"), ct).ConfigureAwait(false);
            cli.Out.WriteLine("Total reclaimed space: " + Units.HumanSize(space));
            return 0;
        });

    /// <summary>Prunes images, prints what went under "Deleted Images:" (image prune and system prune alike) and returns the space reclaimed.</summary>
    public static async Task<long> PruneImagesAsync(DockerCli cli, bool all, IEnumerable<string> filters, CancellationToken ct)
    {
        var r = await cli.Api.PostJsonAsync("/images/prune" + DockerCli.Query(("filters", DockerCli.Filters(filters, ("dangling", all ? "false" : "true")))), null, ct).ConfigureAwait(false);
        var lines = new List<string>();
        foreach (var item in r?["ImagesDeleted"] as JsonArray ?? [])
        {
            if (item?["Untagged"]?.GetValue<string>() is { } u)
            {
                lines.Add("untagged: " + u);
            }
            if (item?["Deleted"]?.GetValue<string>() is { } d)
            {
                lines.Add("deleted: " + d);
            }
        }
        if (lines.Count > 0)
        {
            cli.Out.WriteLine("Deleted Images:");
            foreach (var line in lines)
            {
                cli.Out.WriteLine(line);
            }
            cli.Out.WriteLine();
        }
        return r?["SpaceReclaimed"]?.GetValue<long>() ?? 0;
    }

    public static DockerCommandSpec Build { get; } = new("build", "Build an image from a Dockerfile",
        Set("build", "build [OPTIONS] PATH | -",
            new Flag("tag", 't', FlagKind.List, "Name and optionally a tag in the 'name:tag' format"),
            new Flag("file", 'f', FlagKind.Value, "Name of the Dockerfile (default: 'PATH/Dockerfile')"),
            new Flag("build-arg", null, FlagKind.List, "Set build-time variables"),
            new Flag("target", null, FlagKind.Value, "Set the target build stage to build"),
            new Flag("no-cache", null, FlagKind.Bool, "Do not use cache when building the image"),
            new Flag("quiet", 'q', FlagKind.Bool, "Suppress the build output and print image ID on success"),
            new Flag("label", null, FlagKind.List, "Set metadata for an image"),
            new Flag("pull", null, FlagKind.Bool, "Always attempt to pull a newer version of the image"),
            new Flag("rm", null, FlagKind.Bool, "Remove intermediate containers after a successful build"),
            new Flag("force-rm", null, FlagKind.Bool, "Always remove intermediate containers"),
            new Flag("network", null, FlagKind.Value, "Set the networking mode for the RUN instructions during build"),
            new Flag("platform", null, FlagKind.Value, "Set platform if server is multi-platform capable"),
            new Flag("iidfile", null, FlagKind.Value, "Write the image ID to the file")),
        BuildAsync);

    private static async Task<int> BuildAsync(DockerCli cli, ParsedFlags f, CancellationToken ct)
    {
        f.Require(1, 1);
        var context = f.Positionals[0];
        var file = f.Value("file");
        var buffer = new MemoryStream();
        string? dockerfileName = null;
        if (context == "-")
        {
            // stdin is the context tar (or a lone Dockerfile, which becomes a context of one file).
            var input = new MemoryStream();
            await using (var stdin = DockerCli.OpenStdin())
            {
                await stdin.CopyToAsync(input, ct).ConfigureAwait(false);
            }
            var bytes = input.ToArray();
            if (bytes.Length > 262 && System.Text.Encoding.ASCII.GetString(bytes, 257, 5) == "ustar")
            {
                buffer = new MemoryStream(bytes);
            }
            else
            {
                await using (var w = new System.Formats.Tar.TarWriter(buffer, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
                {
                    await w.WriteEntryAsync(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "Dockerfile") { DataStream = new MemoryStream(bytes), Mode = (UnixFileMode)0x1a4 }, ct).ConfigureAwait(false);
                }
            }
        }
        else
        {
            if (!Directory.Exists(context))
            {
                throw BerthException.NotFound($"unable to prepare context: path \"{context}\" not found");
            }
            var root = Path.GetFullPath(context);
            (string, byte[])? extra = null;
            if (file == "-")
            {
                using var ms = new MemoryStream();
                await using (var stdin = DockerCli.OpenStdin())
                {
                    await stdin.CopyToAsync(ms, ct).ConfigureAwait(false);
                }
                dockerfileName = $".dockerfile.{Guid.NewGuid():N}"[..22];
                extra = (dockerfileName, ms.ToArray());
            }
            else
            {
                var dockerfile = Path.GetFullPath(file ?? Path.Combine(root, "Dockerfile"));
                if (file is not null && !Path.IsPathRooted(file) && !File.Exists(dockerfile))
                {
                    dockerfile = Path.GetFullPath(Path.Combine(root, file));
                }
                if (!File.Exists(dockerfile))
                {
                    throw BerthException.NotFound($"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {dockerfile}: no such file or directory");
                }
                if (dockerfile.StartsWith(root + "/", StringComparison.Ordinal))
                {
                    dockerfileName = Path.GetRelativePath(root, dockerfile).Replace('\\', '/');
                }
                else
                {
                    // A Dockerfile outside the context travels inside it under a private name, as the docker CLI does.
                    dockerfileName = $".dockerfile.{Guid.NewGuid():N}"[..22];
                    extra = (dockerfileName, await File.ReadAllBytesAsync(dockerfile, ct).ConfigureAwait(false));
                }
            }
            await BuildContext.WriteAsync(root, buffer, [dockerfileName, ".dockerignore"], extra, ct).ConfigureAwait(false);
        }
        buffer.Position = 0;

        var buildArgs = new JsonObject();
        foreach (var a in f.List("build-arg"))
        {
            var kv = a.Split('=', 2);
            if (kv.Length == 2)
            {
                buildArgs[kv[0]] = kv[1];
            }
            else if (Environment.GetEnvironmentVariable(kv[0]) is { } v)
            {
                buildArgs[kv[0]] = v;
            }
        }
        var labels = new JsonObject();
        foreach (var l in f.List("label"))
        {
            var kv = l.Split('=', 2);
            labels[kv[0]] = kv.Length > 1 ? kv[1] : "";
        }
        var quiet = f.Bool("quiet");
        var query = DockerCli.Query(("dockerfile", dockerfileName ?? file), ("buildargs", buildArgs.Count > 0 ? buildArgs.ToJsonString() : null),
            ("labels", labels.Count > 0 ? labels.ToJsonString() : null), ("target", f.Value("target")), ("nocache", f.Bool("no-cache") ? "1" : null),
            ("q", quiet ? "1" : null), ("rm", f.Has("rm") && !f.Bool("rm") ? "0" : "1"), ("forcerm", f.Bool("force-rm") ? "1" : null),
            ("pull", f.Bool("pull") ? "1" : null), ("networkmode", f.Value("network")), ("platform", f.Value("platform")))
            + string.Concat(f.List("tag").Select(t => "&t=" + DockerCli.Esc(t)));
        if (query.Length > 0 && query[0] == '&')
        {
            query = "?" + query[1..];
        }
        using var content = new StreamContent(buffer);
        content.Headers.ContentType = DockerApiClient.Tar;
        string? imageId = null;
        using var response = await cli.Api.SendAsync(HttpMethod.Post, "/build" + query, content, stream: true, cancellationToken: ct).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var quietOutput = new StringWriter();
        await new JsonMessageStream(quiet ? quietOutput : cli.Out, DockerCli.StdoutIsTerminal, DockerCli.TerminalWidth)
        {
            OnAux = aux => imageId = aux["ID"]?.GetValue<string>() ?? imageId,
        }.RenderAsync(body, ct).ConfigureAwait(false);
        imageId ??= quietOutput.ToString().Trim() is { Length: > 0 } q ? q.Split('\n')[^1] : null;
        if (quiet && imageId is not null)
        {
            cli.Out.WriteLine(imageId);
        }
        if (f.Value("iidfile") is { } iid && imageId is not null)
        {
            await File.WriteAllTextAsync(iid, imageId, ct).ConfigureAwait(false);
        }
        return 0;
    }
}
