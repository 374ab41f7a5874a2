using Berth.Cgroups;
using Berth.Core;
using Berth.Engine.Api;

namespace Berth.Engine.Containers;

public sealed partial class Container
{
    internal void RequireRunningOrPaused()
    {
        if (!IsRunning)
        {
            throw new BerthException(ErrorCode.Conflict, $"container {Id} is not running");
        }
    }

    /// <summary>Runs <paramref name="action"/> with the rootfs mounted: the running container's, or mounted for the call when stopped.</summary>
    internal async Task WithRootfsAsync(Func<string, Task> action, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var mountedHere = false;
        try
        {
            if (!RootfsMounted())
            {
                await MountRootfsAsync(cancellationToken).ConfigureAwait(false);
                mountedHere = true;
            }
            await action(RootfsDir).ConfigureAwait(false);
        }
        finally
        {
            if (mountedHere && !IsRunning)
            {
                UnmountRootfs();
            }
            _gate.Release();
        }
    }

    /// <summary>docker update: new limits go to the running container's cgroup and into the record for later starts.</summary>
    internal async Task<List<string>> UpdateAsync(UpdateRequest update, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var h = Record.HostConfig;
            var next = new HostConfig
            {
                Memory = update.Memory != 0 ? update.Memory : h.Memory,
                MemorySwap = update.MemorySwap != 0 ? update.MemorySwap : h.MemorySwap,
                NanoCpus = update.NanoCpus != 0 ? update.NanoCpus : h.NanoCpus,
                CpuShares = update.CpuShares != 0 ? update.CpuShares : h.CpuShares,
                CpuQuota = update.CpuQuota != 0 ? update.CpuQuota : h.CpuQuota,
                CpuPeriod = update.CpuPeriod != 0 ? update.CpuPeriod : h.CpuPeriod,
                PidsLimit = update.PidsLimit ?? h.PidsLimit,
                RestartPolicy = update.RestartPolicy is { Name.Length: > 0 } ? update.RestartPolicy : h.RestartPolicy,
            };
            var probe = new ContainerRecord { Id = Id, HostConfig = next };
            SpecGenerator.Validate(probe);
            if (IsRunning)
            {
                var resources = SpecGenerator.Resources(next);
                CgroupManager.For(CgroupLayout.Detect(), "/berth/" + Id, Id).Update(resources);
            }
            h.Memory = next.Memory;
            h.MemorySwap = next.MemorySwap;
            h.NanoCpus = next.NanoCpus;
            h.CpuShares = next.CpuShares;
            h.CpuQuota = next.CpuQuota;
            h.CpuPeriod = next.CpuPeriod;
            h.PidsLimit = next.PidsLimit;
            h.RestartPolicy = next.RestartPolicy;
            Save();
            Publish("update");
        }
        finally
        {
            _gate.Release();
        }
        return warnings;
    }
}
