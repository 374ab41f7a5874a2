using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Linux;
using Berth.Networking.Plugins;

namespace Berth.Networking.Cni;

/// <summary>A CNI plugin: ADD returns the result, DEL and CHECK succeed or throw <see cref="CniException"/>.</summary>
public interface ICniPlugin
{
    CniResult Add(CniInvocation invocation);

    void Delete(CniInvocation invocation);

    void Check(CniInvocation invocation);
}

/// <summary>
/// The plugin side of CNI: reads the environment and stdin, dispatches to the plugin named by argv[0], writes the
/// result or the spec's error object to stdout, and returns the exit code.
/// </summary>
public static class PluginHost
{
    public static readonly IReadOnlyList<string> PluginNames = ["bridge", "host-local", "portmap"];

    public static ICniPlugin? Create(string name) => name switch
    {
        "bridge" => new BridgePlugin(),
        "host-local" => new HostLocalIpam(),
        "portmap" => new PortMapPlugin(),
        _ => null,
    };

    /// <summary>Runs one invocation; <paramref name="output"/> gets exactly what the plugin prints on stdout.</summary>
    public static int Run(string plugin, IReadOnlyDictionary<string, string> env, byte[] stdin, out string output)
    {
        var version = CniVersions.Current;
        try
        {
            var impl = Create(plugin) ?? throw new CniException(CniErrorCode.Generic, $"unknown Berth CNI plugin '{plugin}': link berth-cni as one of {string.Join(", ", PluginNames)}");
            var invocation = CniInvocation.Parse(env, stdin);
            CniTrace.Mark(plugin + " " + invocation.Command + ": parsed");
            if (invocation.Command == "VERSION")
            {
                output = JsonSerializer.Serialize(new CniVersionInfo { SupportedVersions = [.. CniVersions.Supported] }, CniJsonContext.Default.CniVersionInfo);
                return 0;
            }
            version = invocation.CniVersion;
            switch (invocation.Command)
            {
                case "ADD":
                    output = impl.Add(invocation).ToJson(version).ToJsonString();
                    return 0;
                case "DEL":
                    impl.Delete(invocation);
                    CniTrace.Mark(plugin + " DEL: done");
                    output = "";
                    return 0;
                default:
                    impl.Check(invocation);
                    output = "";
                    return 0;
            }
        }
        catch (CniException e)
        {
            output = Error(e, version);
            return 1;
        }
        catch (LinuxSyscallException e)
        {
            output = Error(new CniException(CniErrorCode.Generic, e.Message), version);
            return 1;
        }
        catch (IOException e)
        {
            output = Error(new CniException(CniErrorCode.IoFailure, e.Message), version);
            return 1;
        }
        catch (JsonException e)
        {
            output = Error(new CniException(CniErrorCode.DecodingFailure, "network configuration: " + e.Message), version);
            return 1;
        }
    }

    // Messages quote names ('eth0'); keep them readable instead of \u0027-escaped.
    private static readonly CniJsonContext Readable = new(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    private static string Error(CniException e, string version) =>
        JsonSerializer.Serialize(e.ToError(CniVersions.Supported.Contains(version) ? version : CniVersions.Current), Readable.CniError);

    /// <summary>The name this process was started as (argv[0]), read from /proc so apphost and NativeAOT agree.</summary>
    public static string InvokedName()
    {
        try
        {
            var cmdline = File.ReadAllBytes("/proc/self/cmdline");
            var end = Array.IndexOf(cmdline, (byte)0);
            return Path.GetFileName(Encoding.UTF8.GetString(cmdline, 0, end < 0 ? cmdline.Length : end));
        }
        catch (IOException)
        {
            return Path.GetFileName(Environment.GetCommandLineArgs()[0]);
        }
    }

    /// <summary>Parses a JSON node into a typed config, turning decode failures into error code 7 with the field.</summary>
    internal static T Decode<T>(JsonNode? node, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info, string what)
    {
        try
        {
            return (node is null ? default : node.Deserialize(info)) ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, what + " is missing");
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.InvalidNetworkConfig, what + " is malformed: " + e.Message);
        }
    }
}
