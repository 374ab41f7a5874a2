using Berth.Linux.Netlink;
using Berth.Networking.Cni;

namespace Berth.Engine.Networks;

public sealed partial class NetworkManager
{
    /// <summary>
    /// At daemon start, after live restore: every attachment of a container that is not running is DEL'ed (it died
    /// while the daemon was away, or the daemon was killed part-way through setting it up), from the container's
    /// network state and from the CNI result cache; namespaces pinned for containers that do not run are removed.
    /// </summary>
    internal async Task ReconcileAsync()
    {
        var running = _engine.List().Where(c => c.IsRunning || c.Record.State.Status == Containers.ContainerStatus.Restarting)
            .Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var c in _engine.List().Where(c => !running.Contains(c.Id)))
        {
            try
            {
                await TeardownAsync(c).ConfigureAwait(false);
            }
            catch (Exception e) when (e is Berth.Core.BerthException or IOException or CniException)
            {
                Log.ContainerWarning(Logger, c.Id, "network teardown at start: " + e.Message);
            }
        }
        foreach (var entry in Cni.CachedAttachments().Where(e => !running.Contains(e.ContainerId)))
        {
            try
            {
                var list = NetworkConfigList.Parse(entry.Config, "cached network configuration");
                await Cni.DelAsync(list, new RuntimeConf { ContainerId = entry.ContainerId, NetNs = entry.NetNs ?? "", IfName = entry.IfName }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is Berth.Core.BerthException or CniException or IOException)
            {
                Log.ContainerWarning(Logger, entry.ContainerId, "stale CNI attachment: " + e.Message);
            }
        }
        await RestoreDnsAsync().ConfigureAwait(false);
        if (System.IO.Directory.Exists(NetnsDirectory))
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(NetnsDirectory))
            {
                if (!running.Contains(Path.GetFileName(file)))
                {
                    PersistentNetworkNamespace.Remove(file);
                }
            }
        }
    }
}
