using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Berth.Core;

namespace Berth.Build;

/// <summary>The outcome of a build: the target stage's config and top layer, and what each built stage produced.</summary>
public sealed record BuildResult(
    ImageConfigDraft Config,
    string? Layer,
    string CacheKey,
    IReadOnlyDictionary<int, StageResult> Stages,
    int Steps,
    int CachedSteps,
    IReadOnlyList<string> Warnings);

/// <summary>What one stage produced.</summary>
public sealed record StageResult(int Index, string? Name, ImageConfigDraft Config, string? Layer, string CacheKey);

/// <summary>A RUN that exited non-zero. The step left no layer; <see cref="Output"/> holds what it printed.</summary>
public sealed class BuildStepFailedException(SourceLocation location, string instruction, int exitCode, string command, IReadOnlyList<string> output)
    : BerthException(ErrorCode.FailedPrecondition, Format(location, instruction, exitCode, command, output))
{
    public SourceLocation Location { get; } = location;

    public int ExitCode { get; } = exitCode;

    public IReadOnlyList<string> Output { get; } = output;

    private static string Format(SourceLocation location, string instruction, int exitCode, string command, IReadOnlyList<string> output)
    {
        var sb = new StringBuilder();
        sb.Append(location).Append(": ").Append(instruction).Append(": the command '").Append(command)
          .Append("' returned a non-zero code: ").Append(exitCode);
        if (output.Count > 0)
        {
            sb.Append("\noutput (last ").Append(output.Count).Append(" lines):");
            foreach (var line in output)
            {
                sb.Append("\n  ").Append(line);
            }
        }
        return sb.ToString();
    }
}

/// <summary>
/// Runs a Dockerfile: plans the stages the target needs, then walks each one step by step against an
/// <see cref="IBuildBackend"/>, consulting the <see cref="ICacheStore"/> with BuildKit-style keys (parent key +
/// the expanded instruction; COPY/ADD add the checksum of the copied content; RUN adds the build args in effect).
/// </summary>
public sealed partial class Builder
{
    private const int OutputTail = 30;

    private static readonly HttpClient SharedHttp = new() { Timeout = TimeSpan.FromMinutes(10) };

    /// <summary>Part of every key: bump it when a step's meaning changes, so old cache entries stop matching.</summary>
    private const string CacheVersion = "berth-build-cache-v1";

    /// <summary>The PATH a RUN gets when the image sets none (Docker's default for Linux).</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private readonly IBuildBackend _backend;
    private readonly ICacheStore _cache;
    private readonly IFileOwnership _owners;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;

    /// <param name="http">Downloads ADD &lt;url&gt; sources; a shared default client when null.</param>
    public Builder(IBuildBackend backend, ICacheStore cache, IFileOwnership owners, TimeProvider? time = null, HttpClient? http = null)
    {
        _http = http ?? SharedHttp;
        _backend = backend;
        _cache = cache;
        _owners = owners;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Parses <c>Dockerfile</c> (or <paramref name="dockerfilePath"/>) and builds it.</summary>
    public async Task<BuildResult> BuildFileAsync(BuildRequest request, IBuildProgress? progress, CancellationToken cancellationToken, string? dockerfilePath = null)
    {
        var path = dockerfilePath ?? Path.Combine(request.ContextDirectory, "Dockerfile");
        if (!File.Exists(path))
        {
            throw BerthException.NotFound($"Dockerfile {path} does not exist; pass -f with the Dockerfile's path");
        }
        var dockerfile = DockerfileParser.Parse(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), Path.GetFileName(path));
        var ignore = request.Ignore ?? DockerIgnore.Load(request.ContextDirectory, path);
        return await BuildAsync(dockerfile, new BuildRequest
        {
            ContextDirectory = request.ContextDirectory,
            BuildArgs = request.BuildArgs,
            Target = request.Target,
            NoCache = request.NoCache,
            Platform = request.Platform,
            Labels = request.Labels,
            Ignore = ignore,
            MaxParallelStages = request.MaxParallelStages,
        }, progress, cancellationToken).ConfigureAwait(false);
    }

    public async Task<BuildResult> BuildAsync(Dockerfile dockerfile, BuildRequest request, IBuildProgress? progress, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var plan = BuildPlan.Create(dockerfile, request);
        var run = new BuildRun(plan, request, progress ?? NullBuildProgress.Instance,
            new SourceTree(request.ContextDirectory, request.Ignore ?? DockerIgnore.Load(request.ContextDirectory)));
        foreach (var warning in dockerfile.Warnings)
        {
            run.Warn(warning);
        }
        foreach (var decl in dockerfile.GlobalArgs.SelectMany(a => a.Args))
        {
            if (request.BuildArgs.ContainsKey(decl.Name))
            {
                run.Consume(decl.Name);
            }
        }

        await BuildStagesAsync(run, cancellationToken).ConfigureAwait(false);

        var unused = request.BuildArgs.Keys.Where(k => !run.IsConsumed(k) && !BuildPlan.PredefinedArgs.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
        {
            run.Warn($"one or more build-args [{string.Join(' ', unused)}] were not consumed");
        }

        var target = run.Results[plan.Target.Stage.Index];
        var config = target.Config;
        if (request.Labels.Count > 0)
        {
            config = config.Clone();
            config.Config.Labels ??= [];
            foreach (var (k, v) in request.Labels)
            {
                config.Config.Labels[k] = v;
            }
        }
        run.Progress.Report(new BuildCompleted(target.CacheKey, target.Layer, run.StepsRun, run.CachedSteps, _time.GetElapsedTime(started)));
        return new BuildResult(config, target.Layer, target.CacheKey, new Dictionary<int, StageResult>(run.Results), run.StepsRun, run.CachedSteps, run.Warnings);
    }

    /// <summary>
    /// Builds the planned stages, each after the stages it needs; up to <see cref="BuildRequest.MaxParallelStages"/>
    /// independent stages at a time. The first failure cancels the rest and is the one reported.
    /// </summary>
    private async Task BuildStagesAsync(BuildRun run, CancellationToken cancellationToken)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var gate = new SemaphoreSlim(Math.Max(1, run.Request.MaxParallelStages));
        var tasks = new Dictionary<int, Task>();
        async Task BuildOneAsync(PlannedStage planned, Task[] dependencies)
        {
            await Task.WhenAll(dependencies).ConfigureAwait(false);
            await gate.WaitAsync(failed.Token).ConfigureAwait(false);
            try
            {
                run.Results[planned.Stage.Index] = await BuildStageAsync(run, planned, failed.Token).ConfigureAwait(false);
            }
            catch
            {
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                gate.Release();
            }
        }
        // The plan lists dependencies before dependents, so every dependency already has its task.
        foreach (var planned in run.Plan.Stages)
        {
            tasks[planned.Stage.Index] = BuildOneAsync(planned, planned.Dependencies.Select(d => tasks[d]).ToArray());
        }
        try
        {
            await Task.WhenAll(tasks.Values).ConfigureAwait(false);
        }
        catch (Exception) when (tasks.Values.Any(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException))
        {
            var first = tasks.Values.First(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first.Exception!.InnerException!);
        }
    }

    private sealed class BuildRun(BuildPlan plan, BuildRequest request, IBuildProgress progress, SourceTree context)
    {
        public BuildPlan Plan { get; } = plan;

        public BuildRequest Request { get; } = request;

        public IBuildProgress Progress { get; } = progress;

        public SourceTree Context { get; } = context;

        public ShellLex Lex { get; } = new(plan.Dockerfile.EscapeChar);

        public System.Collections.Concurrent.ConcurrentDictionary<int, StageResult> Results { get; } = new();

        private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

        private readonly Dictionary<int, int> _firstStep = FirstSteps(plan);

        private int _stepsRun;

        private int _cachedSteps;

        public List<string> Warnings { get; } = [];

        public int StepsRun => Volatile.Read(ref _stepsRun);

        public int CachedSteps => Volatile.Read(ref _cachedSteps);

        /// <summary>Step numbers are fixed by the plan, so stages built side by side still print Step N/M in order.</summary>
        public int FirstStep(int stageIndex) => _firstStep[stageIndex];

        public void CountStep() => Interlocked.Increment(ref _stepsRun);

        public void CountCached() => Interlocked.Increment(ref _cachedSteps);

        public void Consume(string name)
        {
            lock (_consumed)
            {
                _consumed.Add(name);
            }
        }

        public bool IsConsumed(string name)
        {
            lock (_consumed)
            {
                return _consumed.Contains(name);
            }
        }

        public void Warn(string message)
        {
            lock (Warnings)
            {
                Warnings.Add(message);
            }
            Progress.Report(new BuildWarning(message));
        }

        private static Dictionary<int, int> FirstSteps(BuildPlan plan)
        {
            var result = new Dictionary<int, int>();
            var next = 1;
            foreach (var stage in plan.Stages)
            {
                result[stage.Stage.Index] = next;
                next += 1 + stage.Stage.Instructions.Count;
            }
            return result;
        }
    }

    /// <summary>The evolving state of one stage.</summary>
    private sealed class StageState
    {
        public required PlannedStage Planned { get; init; }

        public required ImageConfigDraft Config { get; set; }

        public string? Layer { get; set; }

        public required string Key { get; set; }

        /// <summary>ARGs declared in this stage that have a value.</summary>
        public Dictionary<string, string> Args { get; } = new(StringComparer.Ordinal);

        /// <summary>True once this stage set CMD (then ENTRYPOINT no longer clears it).</summary>
        public bool CmdSet { get; set; }

        /// <summary>The environment words expand with: the stage's ARGs, overridden by ENV (ENV always wins).</summary>
        public Dictionary<string, string> ExpansionEnv()
        {
            var env = new Dictionary<string, string>(Args, StringComparer.Ordinal);
            foreach (var entry in Config.Config.Env ?? [])
            {
                var eq = entry.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    env[entry[..eq]] = entry[(eq + 1)..];
                }
                else if (eq < 0)
                {
                    env[entry] = string.Empty;
                }
            }
            return env;
        }
    }

    private async Task<StageResult> BuildStageAsync(BuildRun run, PlannedStage planned, CancellationToken cancellationToken)
    {
        var stage = planned.Stage;
        var step = run.FirstStep(stage.Index);
        var watch = Stopwatch.StartNew();
        run.Progress.Report(new StepStarted(step, run.Plan.TotalSteps, stage.DisplayName, stage.From.Original));
        run.CountStep();

        var (os, arch, variant) = BuildPlan.SplitPlatform(planned.Base.Platform);
        ImageConfigDraft config;
        string? layer;
        string baseId;
        switch (planned.Base.Kind)
        {
            case StageBaseKind.Scratch:
                config = new ImageConfigDraft { Os = os, Architecture = arch, Variant = variant.Length > 0 ? variant : null };
                layer = null;
                baseId = "scratch";
                break;
            case StageBaseKind.Stage:
                var parent = run.Results[planned.Base.StageIndex];
                config = parent.Config.Clone();
                layer = parent.Layer;
                baseId = parent.CacheKey;
                break;
            default:
                var image = await _backend.ResolveImageAsync(planned.Base.Reference, planned.Base.Platform, cancellationToken).ConfigureAwait(false);
                config = image.Config.Clone();
                layer = image.Layer;
                baseId = image.Id;
                break;
        }
        if (config.Os == "linux" && config.Config.GetEnv("PATH") is null)
        {
            // Docker gives every stage a PATH when its base has none (scratch, minimal images).
            config.Config.SetEnv("PATH", DefaultPath);
        }
        var state = new StageState
        {
            Planned = planned,
            Config = config,
            Layer = layer,
            Key = Hash(CacheVersion, "FROM", baseId, planned.Base.Platform),
        };
        run.Progress.Report(new StepCompleted(step, PlainBuildProgress.Short(baseId), watch.Elapsed, Cached: false));

        // ONBUILD triggers of the base run first, as if they followed FROM; grandchildren do not inherit them.
        var triggers = state.Config.Config.OnBuild;
        if (triggers is { Count: > 0 })
        {
            state.Config.Config.OnBuild = null;
            run.Progress.Report(new StepOutput(step, $"# Executing {triggers.Count} build trigger{(triggers.Count == 1 ? string.Empty : "s")}"));
            foreach (var trigger in triggers)
            {
                var instruction = DockerfileParser.ParseTrigger(trigger, run.Plan.Dockerfile.EscapeChar, run.Plan.Dockerfile.File, stage.From.Location.Line);
                if (instruction is CopyInstruction { From: not null })
                {
                    throw new DockerfileException(new DockerfileError(run.Plan.Dockerfile.File, stage.From.Location.Line,
                        $"not supported: ONBUILD trigger \"{trigger}\" uses COPY --from"));
                }
                run.Progress.Report(new StepOutput(step, " ---> Running trigger: " + trigger.Split('\n')[0]));
                await ExecuteAsync(run, state, instruction, step, cancellationToken).ConfigureAwait(false);
            }
        }

        var n = step;
        foreach (var instruction in stage.Instructions)
        {
            n++;
            run.Progress.Report(new StepStarted(n, run.Plan.TotalSteps, stage.DisplayName, instruction.Original));
            run.CountStep();
            await ExecuteAsync(run, state, instruction, n, cancellationToken).ConfigureAwait(false);
        }
        return new StageResult(stage.Index, stage.Name, state.Config, state.Layer, state.Key);
    }

    /// <summary>One instruction: expand, compute its key, take the cached result or execute it and remember it.</summary>
    private async Task ExecuteAsync(BuildRun run, StageState state, Instruction instruction, int step, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        StepWork work;
        try
        {
            work = await PrepareAsync(run, state, instruction, cancellationToken).ConfigureAwait(false);
        }
        catch (ExpansionException e)
        {
            throw new DockerfileException(new DockerfileError(instruction.Location.File, instruction.Location.Line, $"{instruction.Keyword}: {e.Message}"));
        }
        catch (BadPatternException e)
        {
            throw new DockerfileException(new DockerfileError(instruction.Location.File, instruction.Location.Line, $"{instruction.Keyword}: {e.Message}"));
        }

        var key = Hash(state.Key, work.Descriptor);
        if (!run.Request.NoCache)
        {
            var hit = await _cache.GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (hit is not null && (hit.Layer is null || await _backend.LayerExistsAsync(hit.Layer, cancellationToken).ConfigureAwait(false)))
            {
                state.Config = ImageConfigDraft.FromJson(hit.ConfigJson);
                state.Layer = hit.Layer;
                state.Key = key;
                work.AfterState?.Invoke();
                run.CountCached();
                run.Progress.Report(new StepCached(step, key));
                run.Progress.Report(new StepCompleted(step, PlainBuildProgress.Short(hit.Layer ?? key), watch.Elapsed, Cached: true));
                await work.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }

        ImageConfigDraft config;
        string? layer;
        try
        {
            (config, layer) = await work.Execute(step, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A filesystem error while copying or creating directories: say which step, keep the cause.
            throw new BerthException(ErrorCode.Internal, $"{instruction.Location}: {instruction.Keyword}: {e.Message}", e);
        }
        finally
        {
            await work.DisposeAsync().ConfigureAwait(false);
        }
        var now = _time.GetUtcNow();
        config.Created = now;
        if (work.History is not null)
        {
            config.History.Add(new HistoryDraft { Created = now, CreatedBy = work.History, EmptyLayer = layer == state.Layer, Comment = "berth" });
        }
        await _cache.PutAsync(key, new CacheEntry(layer, config.ToJson()), cancellationToken).ConfigureAwait(false);
        state.Config = config;
        state.Layer = layer;
        state.Key = key;
        work.AfterState?.Invoke();
        run.Progress.Report(new StepCompleted(step, PlainBuildProgress.Short(layer ?? key), watch.Elapsed, Cached: false));
    }

    /// <summary>
    /// A prepared step: <see cref="Descriptor"/> is what its cache key hashes; <see cref="Execute"/> produces the new
    /// config (a copy) and layer; <see cref="AfterState"/> updates state that is not in the config (ARG values,
    /// CMD seen) whether or not the cache was used.
    /// </summary>
    private sealed class StepWork : IAsyncDisposable
    {
        public required string Descriptor { get; init; }

        public required Func<int, CancellationToken, Task<(ImageConfigDraft Config, string? Layer)>> Execute { get; init; }

        /// <summary>The history created_by; null adds no history entry (ARG).</summary>
        public string? History { get; init; }

        public Action? AfterState { get; init; }

        public List<IAsyncDisposable> Resources { get; } = [];

        public async ValueTask DisposeAsync()
        {
            foreach (var resource in Resources)
            {
                await resource.DisposeAsync().ConfigureAwait(false);
            }
            Resources.Clear();
        }
    }

    private static string Hash(params string[] parts)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var part in parts)
        {
            var bytes = Encoding.UTF8.GetBytes(part);
            hash.AppendData(BitConverter.GetBytes(bytes.Length));
            hash.AppendData(bytes);
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private Task<StepWork> PrepareAsync(BuildRun run, StageState state, Instruction instruction, CancellationToken cancellationToken) => instruction switch
    {
        RunInstruction r => Task.FromResult(PrepareRun(run, state, r)),
        CopyInstruction c => PrepareCopyAsync(run, state, c, cancellationToken),
        ArgInstruction a => Task.FromResult(PrepareArg(run, state, a)),
        WorkdirInstruction w => Task.FromResult(PrepareWorkdir(run, state, w)),
        _ => Task.FromResult(PrepareMetadata(run, state, instruction)),
    };

    private StepWork PrepareArg(BuildRun run, StageState state, ArgInstruction arg)
    {
        var values = new List<(string Name, string? Value)>();
        var env = state.ExpansionEnv();
        foreach (var decl in arg.Args)
        {
            string? value = null;
            if (run.Request.BuildArgs.TryGetValue(decl.Name, out var given))
            {
                value = given;
                run.Consume(decl.Name);
            }
            else if (decl.Default is not null)
            {
                value = run.Lex.ProcessWord(decl.Default, env);
            }
            else if (run.Plan.MetaArgs.TryGetValue(decl.Name, out var global))
            {
                value = global;
            }
            else if (run.Plan.PlatformArgs.TryGetValue(decl.Name, out var auto))
            {
                value = auto;
            }
            values.Add((decl.Name, value));
            if (value is not null)
            {
                env[decl.Name] = value;
            }
        }
        var descriptor = "ARG\0" + string.Join('\0', values.Select(v => v.Name + (v.Value is null ? string.Empty : "=" + v.Value)));
        return new StepWork
        {
            Descriptor = descriptor,
            History = null,
            Execute = (_, _) => Task.FromResult((state.Config.Clone(), state.Layer)),
            AfterState = () =>
            {
                foreach (var (name, value) in values)
                {
                    if (value is not null)
                    {
                        state.Args[name] = value;
                    }
                    else
                    {
                        state.Args.Remove(name);
                    }
                }
            },
        };
    }

    private StepWork PrepareRun(BuildRun run, StageState state, RunInstruction instruction)
    {
        var shell = state.Config.Config.Shell is { Count: > 0 } s ? s : ["/bin/sh", "-c"];
        var argv = instruction.Command.ToArgv(shell);

        // Build args reach the process as environment (ENV wins); they are part of the key, proxies excepted.
        var env = new List<string>(state.Config.Config.Env ?? []);
        var envNames = new HashSet<string>(env.Select(e => e.Split('=', 2)[0]), StringComparer.Ordinal);
        var keyArgs = new List<string>();
        foreach (var (name, value) in state.Args.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            if (envNames.Contains(name))
            {
                continue;
            }
            env.Add(name + "=" + value);
            if (!BuildPlan.PredefinedArgs.Contains(name))
            {
                keyArgs.Add(name + "=" + value);
            }
        }
        foreach (var proxy in BuildPlan.PredefinedArgs.Order(StringComparer.Ordinal))
        {
            if (!state.Args.ContainsKey(proxy) && !envNames.Contains(proxy) && run.Request.BuildArgs.TryGetValue(proxy, out var value))
            {
                env.Add(proxy + "=" + value);
            }
        }
        if (!envNames.Contains("PATH"))
        {
            // Images without PATH (scratch-based ones) still get the usual one for RUN, as Docker does.
            env.Insert(0, "PATH=" + DefaultPath);
        }
        var workdir = state.Config.Config.WorkingDir is { Length: > 0 } w ? w : "/";
        var commandText = string.Join(' ', argv);
        var history = "RUN " + (keyArgs.Count > 0 ? $"|{keyArgs.Count} {string.Join(' ', keyArgs)} " : string.Empty) + commandText;
        var descriptor = "RUN\0" + string.Join('\0', argv) + "\0network=" + instruction.Network + "\0args\0" + string.Join('\0', keyArgs)
            + (instruction.Script is null ? string.Empty : "\0script\0" + instruction.Script);
        if (instruction.Script is not null)
        {
            history = "RUN " + (keyArgs.Count > 0 ? $"|{keyArgs.Count} {string.Join(' ', keyArgs)} " : string.Empty) + instruction.Original[3..].Trim()
                + "\n" + instruction.Script + instruction.Heredocs[0].Name;
            commandText = instruction.Script.Split('\n')[0] + " script";
        }

        return new StepWork
        {
            Descriptor = descriptor,
            History = history,
            Execute = async (step, ct) =>
            {
                var mount = await _backend.MountAsync(state.Layer, readOnly: false, ct).ConfigureAwait(false);
                await using (mount.ConfigureAwait(false))
                {
                    var tail = new Queue<string>();
                    void Output(string line)
                    {
                        if (tail.Count == OutputTail)
                        {
                            tail.Dequeue();
                        }
                        tail.Enqueue(line);
                        run.Progress.Report(new StepOutput(step, line));
                    }
                    var spec = new RunSpec(argv, env, workdir, state.Config.Config.User is { Length: > 0 } u ? u : null, instruction.Network);
                    string? scriptFile = null;
                    if (instruction.Script is not null)
                    {
                        // The script lives in the writable layer only while it runs; it is gone before the commit.
                        scriptFile = PathRules.SecureJoin(mount.RootPath, RunInstruction.ScriptPath.TrimStart('/'), followLast: false);
                        RemoveNonDirectory(scriptFile);
                        await File.WriteAllTextAsync(scriptFile, instruction.Script, ct).ConfigureAwait(false);
                        File.SetUnixFileMode(scriptFile, (UnixFileMode)Convert.ToInt32("755", 8));
                    }
                    var exit = await _backend.RunAsync(mount, spec, Output, ct).ConfigureAwait(false);
                    if (scriptFile is not null)
                    {
                        File.Delete(scriptFile);
                    }
                    if (exit != 0)
                    {
                        // Disposing the mount without a commit throws its changes away: no half-made layer.
                        throw new BuildStepFailedException(instruction.Location, "RUN", exit, commandText, tail.ToList());
                    }
                    var layer = await _backend.CommitAsync(mount, ct).ConfigureAwait(false);
                    return (state.Config.Clone(), layer);
                }
            },
        };
    }
}
