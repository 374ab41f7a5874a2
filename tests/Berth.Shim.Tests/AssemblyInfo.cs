// Tests compare host-wide state (mounts, cgroups, processes) before and after; run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
