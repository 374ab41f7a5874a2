using System.Runtime.InteropServices;

namespace Berth.Images.Interop;

// NOTE: to move to Berth.Linux/Interop with the rest of the P/Invoke code (see Interop.Fs.cs).
internal static partial class MountCalls
{
    public const ulong MS_RDONLY = 1;
    public const ulong MS_BIND = 0x1000;
    public const ulong MS_REC = 0x4000;
    public const ulong MS_REMOUNT = 0x20;
    public const int MNT_DETACH = 2;
    public const int CLONE_FS = 0x200;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int unshare(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chdir(string path);
}
