using System.Globalization;
using System.Runtime.InteropServices;

namespace Berth.Build;

/// <summary>What a build is asked to do (the options of <c>berth build</c>).</summary>
public sealed class BuildRequest
{
    /// <summary>The build context: the directory COPY/ADD sources are relative to.</summary>
    public required string ContextDirectory { get; init; }

    /// <summary>Values of <c>--build-arg NAME=value</c>.</summary>
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary><c>--target</c>: the stage to build (by name); null builds the last stage.</summary>
    public string? Target { get; init; }

    /// <summary><c>--no-cache</c>: run every step (results are still stored for later builds).</summary>
    public bool NoCache { get; init; }

    /// <summary><c>--platform</c>, "linux/amd64" by default.</summary>
    public string Platform { get; init; } = "linux/amd64";

    /// <summary><c>--label</c>s added to the final image.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>How many independent stages may build at the same time (1 = one after another, the classic order).</summary>
    public int MaxParallelStages { get; init; } = 1;

    /// <summary>The .dockerignore rules; null reads them from the context directory.</summary>
    public DockerIgnore? Ignore { get; init; }
}

/// <summary>Where a stage starts from.</summary>
public enum StageBaseKind
{
    Scratch,
    Stage,
    Image,
}

/// <summary>A stage's base after expanding FROM with the global ARGs.</summary>
public sealed record StageBase(StageBaseKind Kind, string Reference, int StageIndex, string Platform);

/// <summary>A stage that will be built, its base, and the stages it needs first.</summary>
public sealed record PlannedStage(Stage Stage, StageBase Base, IReadOnlyList<int> Dependencies);

/// <summary>
/// The static plan of a build: global ARG values, each stage's base, the dependency graph (FROM a stage,
/// COPY --from=name|index), and the stages a target needs in the order to build them. Steps are the FROM plus the
/// instructions of each needed stage.
/// </summary>
public sealed class BuildPlan
{
    /// <summary>Proxy variables usable with --build-arg without an ARG; kept out of history and cache keys.</summary>
    public static readonly IReadOnlySet<string> PredefinedArgs = new HashSet<string>(StringComparer.Ordinal)
    {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    };

    private BuildPlan(Dockerfile dockerfile, IReadOnlyDictionary<string, string> metaArgs, IReadOnlyDictionary<string, string> platformArgs,
        IReadOnlyList<PlannedStage> all, IReadOnlyList<PlannedStage> needed, PlannedStage target)
    {
        Dockerfile = dockerfile;
        MetaArgs = metaArgs;
        PlatformArgs = platformArgs;
        AllStages = all;
        Stages = needed;
        Target = target;
        TotalSteps = needed.Sum(s => 1 + s.Stage.Instructions.Count);
    }

    public Dockerfile Dockerfile { get; }

    /// <summary>Values of the ARGs declared before the first FROM (only those that have one).</summary>
    public IReadOnlyDictionary<string, string> MetaArgs { get; }

    /// <summary>BuildKit's automatic TARGETPLATFORM, TARGETOS, ... BUILDARCH values.</summary>
    public IReadOnlyDictionary<string, string> PlatformArgs { get; }

    public IReadOnlyList<PlannedStage> AllStages { get; }

    /// <summary>The stages to build, dependencies first, the target last.</summary>
    public IReadOnlyList<PlannedStage> Stages { get; }

    public PlannedStage Target { get; }

    public int TotalSteps { get; }

    private Dictionary<CopyInstruction, string> _copyFrom = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// <c>COPY --from</c> after expansion with the global ARGs (the only ones known when the stage graph is made,
    /// so <c>--from=$BUILDER</c> works with <c>ARG BUILDER=...</c> before the first FROM).
    /// </summary>
    public string CopyFrom(CopyInstruction copy) =>
        _copyFrom.TryGetValue(copy, out var from) ? from : new ShellLex(Dockerfile.EscapeChar).ProcessWord(copy.From!, Merge(PlatformArgs, MetaArgs));

    public static BuildPlan Create(Dockerfile dockerfile, BuildRequest request)
    {
        var lex = new ShellLex(dockerfile.EscapeChar);
        var platformArgs = PlatformArgsFor(request.Platform);
        var metaArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        var errors = new List<DockerfileError>();

        foreach (var arg in dockerfile.GlobalArgs)
        {
            foreach (var decl in arg.Args)
            {
                if (request.BuildArgs.TryGetValue(decl.Name, out var given))
                {
                    metaArgs[decl.Name] = given;
                }
                else if (decl.Default is not null)
                {
                    try
                    {
                        metaArgs[decl.Name] = lex.ProcessWord(decl.Default, Merge(platformArgs, metaArgs));
                    }
                    catch (ExpansionException e)
                    {
                        errors.Add(new DockerfileError(dockerfile.File, arg.Location.Line, "ARG: " + e.Message));
                    }
                }
                else if (platformArgs.TryGetValue(decl.Name, out var auto))
                {
                    metaArgs[decl.Name] = auto;
                }
            }
        }

        var fromEnv = Merge(platformArgs, metaArgs);
        var copyFrom = new Dictionary<CopyInstruction, string>(ReferenceEqualityComparer.Instance);
        var all = new List<PlannedStage>();
        foreach (var stage in dockerfile.Stages)
        {
            string image;
            string platform = request.Platform;
            try
            {
                image = lex.ProcessWord(stage.From.Image, fromEnv);
                if (stage.From.Platform is not null)
                {
                    platform = lex.ProcessWord(stage.From.Platform, fromEnv);
                }
            }
            catch (ExpansionException e)
            {
                errors.Add(new DockerfileError(dockerfile.File, stage.From.Location.Line, "FROM: " + e.Message));
                continue;
            }
            if (image.Length == 0)
            {
                errors.Add(new DockerfileError(dockerfile.File, stage.From.Location.Line,
                    $"FROM: base name ({stage.From.Image}) should not be blank; set the ARG it uses with --build-arg or a default"));
                continue;
            }
            StageBase baseRef;
            var earlier = dockerfile.Stages.Take(stage.Index).LastOrDefault(s => s.Name is not null && string.Equals(s.Name, image, StringComparison.OrdinalIgnoreCase));
            if (earlier is not null)
            {
                baseRef = new StageBase(StageBaseKind.Stage, image, earlier.Index, platform);
            }
            else if (string.Equals(image, "scratch", StringComparison.OrdinalIgnoreCase))
            {
                baseRef = new StageBase(StageBaseKind.Scratch, "scratch", -1, platform);
            }
            else
            {
                baseRef = new StageBase(StageBaseKind.Image, image, -1, platform);
            }

            var deps = new SortedSet<int>();
            if (baseRef.Kind == StageBaseKind.Stage)
            {
                deps.Add(baseRef.StageIndex);
            }
            // ONBUILD COPY --from runs in a child build, so only the stage's own COPY instructions count here.
            foreach (var copy in stage.Instructions.OfType<CopyInstruction>())
            {
                if (copy.From is null)
                {
                    continue;
                }
                string from;
                try
                {
                    from = lex.ProcessWord(copy.From, fromEnv);
                }
                catch (ExpansionException e)
                {
                    errors.Add(new DockerfileError(dockerfile.File, copy.Location.Line, "COPY --from: " + e.Message));
                    continue;
                }
                copyFrom[copy] = from;
                var source = FindCopySource(dockerfile, from);
                if (source is null)
                {
                    if (int.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    {
                        errors.Add(new DockerfileError(dockerfile.File, copy.Location.Line,
                            $"COPY --from={from}: there is no stage {n} (stages are numbered from 0; this Dockerfile has {dockerfile.Stages.Count})"));
                    }
                    continue;
                }
                if (source.Index == stage.Index)
                {
                    errors.Add(new DockerfileError(dockerfile.File, copy.Location.Line, $"COPY --from={from}: a stage cannot copy from itself"));
                    continue;
                }
                deps.Add(source.Index);
            }
            all.Add(new PlannedStage(stage, baseRef, deps.ToList()));
        }
        if (errors.Count > 0)
        {
            throw new DockerfileException(errors);
        }

        PlannedStage target;
        if (request.Target is null)
        {
            target = all[^1];
        }
        else
        {
            target = all.FirstOrDefault(s => s.Stage.Name is not null && string.Equals(s.Stage.Name, request.Target, StringComparison.OrdinalIgnoreCase))
                ?? throw new DockerfileException(new DockerfileError(dockerfile.File, 0,
                    $"target stage \"{request.Target}\" could not be found (stages: {string.Join(", ", all.Select(s => s.Stage.Name).Where(n => n is not null).DefaultIfEmpty("none named"))})"));
        }

        // Depth-first from the target: dependencies before dependents, cycles reported.
        var order = new List<PlannedStage>();
        var state = new Dictionary<int, bool>(); // false = visiting, true = done
        void Visit(PlannedStage s, List<int> path)
        {
            if (state.TryGetValue(s.Stage.Index, out var done))
            {
                if (!done)
                {
                    var cycle = path.SkipWhile(i => i != s.Stage.Index).Append(s.Stage.Index).Select(i => all[i].Stage.DisplayName);
                    throw new DockerfileException(new DockerfileError(dockerfile.File, s.Stage.From.Location.Line,
                        "circular dependency between stages: " + string.Join(" -> ", cycle)));
                }
                return;
            }
            state[s.Stage.Index] = false;
            path.Add(s.Stage.Index);
            foreach (var dep in s.Dependencies)
            {
                Visit(all[dep], path);
            }
            path.RemoveAt(path.Count - 1);
            state[s.Stage.Index] = true;
            order.Add(s);
        }
        Visit(target, []);
        return new BuildPlan(dockerfile, metaArgs, platformArgs, all, order, target) { _copyFrom = copyFrom };
    }

    /// <summary>COPY --from: a stage name (case-insensitive) or index, or null when it names an image.</summary>
    public static Stage? FindCopySource(Dockerfile dockerfile, string from)
    {
        foreach (var stage in dockerfile.Stages)
        {
            if (stage.Name is not null && string.Equals(stage.Name, from, StringComparison.OrdinalIgnoreCase))
            {
                return stage;
            }
        }
        if (int.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index >= 0 && index < dockerfile.Stages.Count)
        {
            return dockerfile.Stages[index];
        }
        return null;
    }

    internal static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var result = new Dictionary<string, string>(a, StringComparer.Ordinal);
        foreach (var (k, v) in b)
        {
            result[k] = v;
        }
        return result;
    }

    internal static Dictionary<string, string> PlatformArgsFor(string platform)
    {
        var (os, arch, variant) = SplitPlatform(platform);
        var buildArch = RuntimeInformation.OSArchitecture switch
        {
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            Architecture.X86 => "386",
            Architecture.S390x => "s390x",
            Architecture.Ppc64le => "ppc64le",
            Architecture.RiscV64 => "riscv64",
            _ => "amd64",
        };
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TARGETPLATFORM"] = platform,
            ["TARGETOS"] = os,
            ["TARGETARCH"] = arch,
            ["TARGETVARIANT"] = variant,
            ["BUILDPLATFORM"] = "linux/" + buildArch,
            ["BUILDOS"] = "linux",
            ["BUILDARCH"] = buildArch,
            ["BUILDVARIANT"] = string.Empty,
        };
    }

    internal static (string Os, string Arch, string Variant) SplitPlatform(string platform)
    {
        var parts = platform.Split('/');
        return (parts[0], parts.Length > 1 ? parts[1] : "amd64", parts.Length > 2 ? parts[2] : string.Empty);
    }
}
