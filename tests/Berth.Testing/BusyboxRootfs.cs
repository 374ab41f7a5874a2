namespace Berth.Testing;

/// <summary>
/// A minimal root filesystem made from the host's static busybox (Debian busybox-static): /bin/busybox with one
/// symlink per applet, plus /etc/passwd and /etc/group. Made once per test process and shared read-only.
/// </summary>
public static class BusyboxRootfs
{
    private static readonly Lazy<string> Shared = new(() => Create(Directory.CreateTempSubdirectory("berth-busybox-").FullName));

    public static string Path => Shared.Value;

    public static string Create(string dir)
    {
        const string busybox = "/bin/busybox";
        if (!File.Exists(busybox))
        {
            throw new InvalidOperationException("/bin/busybox is missing: install busybox-static (make test does)");
        }
        File.SetUnixFileMode(dir, (UnixFileMode)0x1ed); // 0755: containers run as other users too
        foreach (var d in new[] { "bin", "etc", "dev", "proc", "sys", "tmp", "root", "home", "var", "run" })
        {
            Directory.CreateDirectory(System.IO.Path.Combine(dir, d));
        }
        File.Copy(busybox, System.IO.Path.Combine(dir, "bin", "busybox"), overwrite: true);
        var applets = Cli.Run(busybox, ["--list"]).Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var applet in applets)
        {
            var link = System.IO.Path.Combine(dir, "bin", applet);
            if (applet != "busybox" && !File.Exists(link))
            {
                File.CreateSymbolicLink(link, "busybox");
            }
        }
        File.WriteAllText(System.IO.Path.Combine(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
        File.WriteAllText(System.IO.Path.Combine(dir, "etc", "group"), "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n");
        return dir;
    }
}
