// Tests compare host-wide state (mount table, cgroup trees) before and after; run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
