using Berth.Images.Interop;

namespace Berth.Images.Layers;

/// <summary>
/// Owner of a file without following a final symlink (lstat/lchown), for code above the image library that
/// writes into snapshots (the builder's COPY/ADD). .NET has no API for either.
/// </summary>
public static class FileOwner
{
    public static (int Uid, int Gid) Get(string path) =>
        Fs.TryStat(Fs.AT_FDCWD, path, out var st) ? ((int)st.Uid, (int)st.Gid) : throw Fs.Error("lstat", path, Fs.Errno);

    public static void Set(string path, int uid, int gid)
    {
        if (Fs.fchownat(Fs.AT_FDCWD, path, (uint)uid, (uint)gid, Fs.AT_SYMLINK_NOFOLLOW) != 0)
        {
            throw Fs.Error("lchown", path, Fs.Errno);
        }
    }
}
