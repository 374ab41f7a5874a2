using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Core;

namespace Berth.Networking.Cni;

/// <summary>A network configuration list (.conflist): a name, a cniVersion and the chain of plugins.</summary>
public sealed class NetworkConfigList
{
    private NetworkConfigList(string name, string cniVersion, List<JsonObject> plugins, byte[] bytes)
    {
        Name = name;
        CniVersion = cniVersion;
        Plugins = plugins;
        Bytes = bytes;
    }

    public string Name { get; }

    public string CniVersion { get; }

    public IReadOnlyList<JsonObject> Plugins { get; }

    public byte[] Bytes { get; }

    public static NetworkConfigList Load(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>Parses and checks a conflist (or a single .conf, which becomes a one-plugin list), reporting every problem.</summary>
    public static NetworkConfigList Parse(byte[] bytes, string what = "network configuration")
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip }) as JsonObject
                ?? throw BerthException.InvalidArgument($"{what} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument($"{what} is not valid JSON: {e.Message}");
        }
        var problems = new List<string>();
        var name = root["name"] is JsonValue n && n.TryGetValue<string>(out var s) ? s : null;
        var version = root["cniVersion"] is JsonValue v && v.TryGetValue<string>(out var sv) ? sv : null;
        if (string.IsNullOrEmpty(name))
        {
            problems.Add("\"name\" is missing");
        }
        if (version is null || !CniVersions.Supported.Contains(version))
        {
            problems.Add($"\"cniVersion\" '{version}' is not one of {string.Join(", ", CniVersions.Supported)}");
        }
        List<JsonObject> plugins = [];
        if (root["plugins"] is JsonArray array)
        {
            plugins = [.. array.OfType<JsonObject>()];
            if (plugins.Count != array.Count || plugins.Count == 0)
            {
                problems.Add("\"plugins\" must be a non-empty list of objects");
            }
        }
        else if (root["type"] is not null)
        {
            plugins = [root];
        }
        else
        {
            problems.Add("\"plugins\" is missing");
        }
        for (var i = 0; i < plugins.Count; i++)
        {
            if (plugins[i]["type"] is not JsonValue t || !t.TryGetValue<string>(out var type) || type.Length == 0)
            {
                problems.Add($"plugin {i} has no \"type\"");
            }
        }
        if (problems.Count > 0)
        {
            throw BerthException.InvalidArgument($"{what}: {string.Join("; ", problems)}");
        }
        return new NetworkConfigList(name!, version!, plugins, bytes);
    }
}

/// <summary>Per-attachment arguments: the container, its namespace, the interface and capability arguments.</summary>
public sealed class RuntimeConf
{
    public required string ContainerId { get; init; }

    public required string NetNs { get; init; }

    public string IfName { get; init; } = "eth0";

    public IReadOnlyList<KeyValuePair<string, string>> Args { get; init; } = [];

    /// <summary>Capability arguments such as {"portMappings": [...]}, passed as runtimeConfig to plugins that declare them.</summary>
    public JsonObject? CapabilityArgs { get; init; }
}

/// <summary>
/// The runtime side of CNI (what libcni does): runs a conflist's plugins in order for ADD with each one's result
/// as the next one's prevResult, caches the final result under cacheDir/results so DEL and CHECK get it back,
/// runs DEL in reverse order (idempotent), and cleans up with DEL when an ADD fails part-way.
/// </summary>
public sealed class CniRunner
{
    public const string DefaultCacheDir = "/var/lib/cni";

    private readonly IReadOnlyList<string> pluginDirs;
    private readonly string cacheDir;

    public CniRunner(IReadOnlyList<string> pluginDirs, string? cacheDir = null)
    {
        this.pluginDirs = pluginDirs;
        this.cacheDir = cacheDir ?? DefaultCacheDir;
    }

    public async Task<CniResult> AddAsync(NetworkConfigList list, RuntimeConf rt, CancellationToken cancellationToken = default)
    {
        JsonObject? prev = null;
        try
        {
            foreach (var plugin in list.Plugins)
            {
                prev = await InvokeAsync("ADD", list, plugin, rt, prev, cancellationToken).ConfigureAwait(false)
                    ?? throw new CniException(CniErrorCode.Generic, $"plugin {plugin["type"]} returned no result for ADD");
            }
        }
        catch (CniException)
        {
            try
            {
                await DelAsync(list, rt, cancellationToken).ConfigureAwait(false);
            }
            catch (CniException)
            {
                // The ADD error is the one to report; a later DEL retries the cleanup.
            }
            throw;
        }
        WriteCache(list, rt, prev!);
        return CniResult.Parse(prev!);
    }

    public async Task DelAsync(NetworkConfigList list, RuntimeConf rt, CancellationToken cancellationToken = default)
    {
        var cached = ReadCache(list.Name, rt);
        var effective = cached?.CapabilityArgs is { } caps && rt.CapabilityArgs is null
            ? new RuntimeConf { ContainerId = rt.ContainerId, NetNs = rt.NetNs, IfName = rt.IfName, Args = rt.Args, CapabilityArgs = caps }
            : rt;
        foreach (var plugin in list.Plugins.Reverse())
        {
            await InvokeAsync("DEL", list, plugin, effective, cached?.Result, cancellationToken).ConfigureAwait(false);
        }
        var cache = CachePath(list.Name, rt);
        if (File.Exists(cache))
        {
            File.Delete(cache);
        }
    }

    public async Task CheckAsync(NetworkConfigList list, RuntimeConf rt, CancellationToken cancellationToken = default)
    {
        var cached = ReadCache(list.Name, rt)?.Result ?? throw new CniException(CniErrorCode.Generic,
            $"no cached result for {rt.ContainerId}/{rt.IfName} on network {list.Name}: it was never added (or already deleted)");
        foreach (var plugin in list.Plugins)
        {
            await InvokeAsync("CHECK", list, plugin, rt, cached, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<CniVersionInfo> VersionAsync(string type, CancellationToken cancellationToken = default)
    {
        var exe = PluginExec.Find(type, pluginDirs);
        var json = await Task.Run(() => PluginExec.Run(exe, new Dictionary<string, string> { ["CNI_COMMAND"] = "VERSION" },
            Encoding.UTF8.GetBytes("{\"cniVersion\":\"" + CniVersions.Current + "\"}"), cancellationToken), cancellationToken).ConfigureAwait(false);
        return json?.Deserialize(CniJsonContext.Default.CniVersionInfo) ?? throw new CniException(CniErrorCode.Generic, $"plugin {type} printed no VERSION answer");
    }

    /// <summary>The result cached by the last successful ADD, or null.</summary>
    public CniResult? GetCachedResult(string network, RuntimeConf rt) =>
        ReadCache(network, rt)?.Result is { } r ? CniResult.Parse(r) : null;

    /// <summary>
    /// Every attachment with a cached ADD result, with the config it was added with: what a runtime reconciles at
    /// start (DEL those whose containers are gone, from <see cref="NetworkConfigList.Parse"/> of the cached config).
    /// </summary>
    public IReadOnlyList<CniCacheEntry> CachedAttachments()
    {
        var dir = Path.Combine(cacheDir, "results");
        if (!Directory.Exists(dir))
        {
            return [];
        }
        var list = new List<CniCacheEntry>();
        foreach (var file in Directory.EnumerateFiles(dir).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), CniJsonContext.Default.CniCacheEntry) is { Kind: "cniCacheV1" } e)
                {
                    list.Add(e);
                }
            }
            catch (JsonException)
            {
            }
        }
        return list;
    }

    public string CachePath(string network, RuntimeConf rt) => Path.Combine(cacheDir, "results", network + "-" + rt.ContainerId + "-" + rt.IfName);

    private Task<JsonObject?> InvokeAsync(string command, NetworkConfigList list, JsonObject plugin, RuntimeConf rt, JsonObject? prev, CancellationToken cancellationToken)
    {
        var type = plugin["type"]!.GetValue<string>();
        var config = (JsonObject)plugin.DeepClone();
        config["name"] = list.Name;
        config["cniVersion"] = list.CniVersion;
        if (prev is not null && !(command == "DEL" && list.CniVersion.StartsWith("0.3", StringComparison.Ordinal)))
        {
            config["prevResult"] = prev.DeepClone();
        }
        if (plugin["capabilities"] is JsonObject caps && rt.CapabilityArgs is { } args)
        {
            var runtimeConfig = new JsonObject();
            foreach (var (cap, enabled) in caps)
            {
                if (enabled is JsonValue e && e.TryGetValue<bool>(out var on) && on && args[cap] is { } value)
                {
                    runtimeConfig[cap] = value.DeepClone();
                }
            }
            if (runtimeConfig.Count > 0)
            {
                config["runtimeConfig"] = runtimeConfig;
            }
        }
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = rt.ContainerId,
            ["CNI_NETNS"] = rt.NetNs,
            ["CNI_IFNAME"] = rt.IfName,
            ["CNI_ARGS"] = string.Join(";", rt.Args.Select(a => a.Key + "=" + a.Value)),
            ["CNI_PATH"] = string.Join(":", pluginDirs),
        };
        var exe = PluginExec.Find(type, pluginDirs);
        var stdin = Encoding.UTF8.GetBytes(config.ToJsonString());
        return Task.Run(() => PluginExec.Run(exe, env, stdin, cancellationToken), cancellationToken);
    }

    private void WriteCache(NetworkConfigList list, RuntimeConf rt, JsonObject result)
    {
        var path = CachePath(list.Name, rt);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var entry = new CniCacheEntry
        {
            ContainerId = rt.ContainerId,
            Config = list.Bytes,
            IfName = rt.IfName,
            NetworkName = list.Name,
            NetNs = rt.NetNs,
            CniArgs = rt.Args.Count == 0 ? null : [.. rt.Args.Select(a => new List<string> { a.Key, a.Value })],
            CapabilityArgs = (JsonObject?)rt.CapabilityArgs?.DeepClone(),
            Result = result,
        };
        StateFile.WriteAllText(path, JsonSerializer.Serialize(entry, CniJsonContext.Default.CniCacheEntry));
    }

    private CniCacheEntry? ReadCache(string network, RuntimeConf rt)
    {
        var path = CachePath(network, rt);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), CniJsonContext.Default.CniCacheEntry);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
