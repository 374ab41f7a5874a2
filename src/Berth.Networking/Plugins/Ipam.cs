using Berth.Networking.Cni;

namespace Berth.Networking.Plugins;

/// <summary>
/// Delegation to the IPAM plugin named by ipam.type, found in CNI_PATH as the spec says. When that file is this
/// very executable (a link to berth-cni) the call runs in-process instead of paying for a second process start.
/// </summary>
internal static class Ipam
{
    public static CniResult? Run(string command, CniInvocation invocation, string type)
    {
        var executable = PluginExec.Find(type, invocation.Path);
        if (IsSelf(executable) && PluginHost.Create(type) is { } local)
        {
            var inner = new CniInvocation
            {
                Command = command,
                ContainerId = invocation.ContainerId,
                NetNs = invocation.NetNs,
                IfName = invocation.IfName,
                Args = invocation.Args,
                Path = invocation.Path,
                Config = invocation.Config,
                RawConfig = invocation.RawConfig,
                Environment = invocation.Environment,
            };
            switch (command)
            {
                case "ADD":
                    return local.Add(inner);
                case "DEL":
                    local.Delete(inner);
                    return null;
                default:
                    local.Check(inner);
                    return null;
            }
        }
        var env = new Dictionary<string, string>(invocation.Environment) { ["CNI_COMMAND"] = command };
        var json = PluginExec.Run(executable, env, invocation.RawConfig);
        return command == "ADD"
            ? CniResult.Parse(json ?? throw new CniException(CniErrorCode.Generic, $"IPAM plugin {type} returned no result"))
            : null;
    }

    private static bool IsSelf(string executable)
    {
        var self = Environment.ProcessPath;
        if (self is null || Path.GetFileNameWithoutExtension(self) is "dotnet" or "testhost")
        {
            return false;
        }
        return string.Equals(RealPath(executable), RealPath(self), StringComparison.Ordinal);
    }

    private static string RealPath(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return (info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.FullName);
        }
        catch (IOException)
        {
            return path;
        }
    }
}
