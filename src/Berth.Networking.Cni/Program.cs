// berth-cni: Berth's CNI plugins (bridge, host-local, portmap) in one executable, chosen by the name it is run as
// (out/cni/bridge -> berth-cni), or by the first argument when run as berth-cni itself.
using System.Collections;
using Berth.Networking.Cni;

var name = PluginHost.InvokedName();
if (PluginHost.Create(name) is null && args.Length > 0)
{
    name = args[0];
}
var env = new Dictionary<string, string>(StringComparer.Ordinal);
foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
{
    env[(string)e.Key] = (string?)e.Value ?? "";
}
using var stdin = Console.OpenStandardInput();
using var buffer = new MemoryStream();
stdin.CopyTo(buffer);
var code = PluginHost.Run(name, env, buffer.ToArray(), out var output);
using var stdout = Console.OpenStandardOutput();
stdout.Write(System.Text.Encoding.UTF8.GetBytes(output));
return code;
