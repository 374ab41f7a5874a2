using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Networking.Cni;

/// <summary>One plugin invocation as the spec defines it: CNI_* variables plus the network configuration on stdin.</summary>
public sealed class CniInvocation
{
    public required string Command { get; init; }

    public string ContainerId { get; init; } = "";

    public string? NetNs { get; init; }

    public string IfName { get; init; } = "";

    public IReadOnlyList<KeyValuePair<string, string>> Args { get; init; } = [];

    public IReadOnlyList<string> Path { get; init; } = [];

    public required JsonObject Config { get; init; }

    public required byte[] RawConfig { get; init; }

    public string CniVersion => Config["cniVersion"]?.GetValue<string>() ?? "0.1.0";

    public string NetworkName => Config["name"]?.GetValue<string>() ?? "";

    /// <summary>The environment an invocation passes on to a delegated plugin (IPAM).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    public CniResult? PrevResult =>
        Config["prevResult"] is JsonObject prev ? CniResult.Parse(prev) : null;

    /// <summary>Parses CNI_* variables and stdin; every missing or malformed input is one clear CNI error.</summary>
    public static CniInvocation Parse(IReadOnlyDictionary<string, string> env, byte[] stdin)
    {
        string? Get(string name) => env.TryGetValue(name, out var v) && v.Length > 0 ? v : null;
        var command = Get("CNI_COMMAND") ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_COMMAND is not set: set it to ADD, DEL, CHECK or VERSION");
        command = command.ToUpperInvariant();
        JsonObject config;
        if (command == "VERSION" && stdin.Length == 0)
        {
            config = [];
        }
        else
        {
            try
            {
                config = JsonNode.Parse(stdin, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip }) as JsonObject
                    ?? throw new CniException(CniErrorCode.DecodingFailure, "network configuration on stdin is not a JSON object");
            }
            catch (JsonException e)
            {
                throw new CniException(CniErrorCode.DecodingFailure, "network configuration on stdin is not valid JSON: " + e.Message);
            }
        }
        var args = new List<KeyValuePair<string, string>>();
        foreach (var pair in (Get("CNI_ARGS") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_ARGS entry '{pair}' is not KEY=VALUE");
            }
            args.Add(new(pair[..eq], pair[(eq + 1)..]));
        }
        var invocation = new CniInvocation
        {
            Command = command,
            ContainerId = Get("CNI_CONTAINERID") ?? "",
            NetNs = Get("CNI_NETNS"),
            IfName = Get("CNI_IFNAME") ?? "",
            Args = args,
            Path = (Get("CNI_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries),
            Config = config,
            RawConfig = stdin,
            Environment = env,
        };
        invocation.Validate();
        return invocation;
    }

    private void Validate()
    {
        if (Command is not ("ADD" or "DEL" or "CHECK" or "VERSION"))
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_COMMAND '{Command}' is not supported: use ADD, DEL, CHECK or VERSION");
        }
        if (Command == "VERSION")
        {
            return;
        }
        if (!CniVersions.Supported.Contains(CniVersion))
        {
            throw new CniException(CniErrorCode.IncompatibleVersion,
                $"cniVersion '{CniVersion}' is not supported: use one of {string.Join(", ", CniVersions.Supported)}");
        }
        if (Command == "CHECK" && CniVersion.StartsWith("0.3", StringComparison.Ordinal))
        {
            throw new CniException(CniErrorCode.IncompatibleVersion, $"CHECK needs cniVersion 0.4.0 or later (config says {CniVersion})");
        }
        if (ContainerId.Length == 0)
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_CONTAINERID is not set");
        }
        if (!ContainerId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_CONTAINERID '{ContainerId}' may only hold letters, digits, '_', '.' and '-'");
        }
        if (IfName.Length == 0)
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_IFNAME is not set");
        }
        if (IfName.Length > 15 || IfName is "." or ".." || IfName.Any(c => c is '/' or ':' || char.IsWhiteSpace(c)))
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_IFNAME '{IfName}' is not a valid interface name (at most 15 characters, no '/', ':' or spaces)");
        }
        if (Command != "DEL" && NetNs is null)
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is not set: pass the path of the container's network namespace");
        }
        if (NetworkName.Length == 0)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "network configuration has no \"name\"");
        }
    }
}
