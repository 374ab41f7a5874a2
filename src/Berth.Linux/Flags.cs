namespace Berth.Linux;

[Flags]
public enum NamespaceFlags
{
    None = 0,
    Time = 0x00000080,
    Mount = 0x00020000,
    Cgroup = 0x02000000,
    Uts = 0x04000000,
    Ipc = 0x08000000,
    User = 0x10000000,
    Pid = 0x20000000,
    Network = 0x40000000,
    Files = 0x00000400,
    Fs = 0x00000200,
}

[Flags]
public enum MountFlags : ulong
{
    None = 0,
    ReadOnly = 1,
    NoSuid = 2,
    NoDev = 4,
    NoExec = 8,
    Synchronous = 16,
    Remount = 32,
    Mandlock = 64,
    DirSync = 128,
    NoSymFollow = 256,
    NoAtime = 1024,
    NoDirAtime = 2048,
    Bind = 4096,
    Move = 8192,
    Rec = 16384,
    Silent = 32768,
    PosixAcl = 1 << 16,
    Unbindable = 1 << 17,
    Private = 1 << 18,
    Slave = 1 << 19,
    Shared = 1 << 20,
    RelAtime = 1 << 21,
    KernMount = 1 << 22,
    IVersion = 1 << 23,
    StrictAtime = 1 << 24,
    LazyTime = 1 << 25,
}

public static class NamespaceKinds
{
    /// <summary>Maps an OCI namespace type to its clone flag and its /proc/PID/ns file name.</summary>
    public static (NamespaceFlags Flag, string ProcName)? FromOci(string type) => type switch
    {
        "pid" => (NamespaceFlags.Pid, "pid"),
        "network" => (NamespaceFlags.Network, "net"),
        "mount" => (NamespaceFlags.Mount, "mnt"),
        "ipc" => (NamespaceFlags.Ipc, "ipc"),
        "uts" => (NamespaceFlags.Uts, "uts"),
        "user" => (NamespaceFlags.User, "user"),
        "cgroup" => (NamespaceFlags.Cgroup, "cgroup"),
        "time" => (NamespaceFlags.Time, "time"),
        _ => null,
    };
}
