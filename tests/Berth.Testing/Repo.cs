namespace Berth.Testing;

/// <summary>Locations in the repository checkout, found from the test assembly's directory.</summary>
public static class Repo
{
    private static readonly Lazy<string> RootLazy = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Berth.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Berth.slnx) above " + AppContext.BaseDirectory);
    });

    public static string Root => RootLazy.Value;

    /// <summary>Where <c>make build</c> puts executables (berth-runtime, berth, ...).</summary>
    public static string Out => System.IO.Path.Combine(Root, "out");

    public static string Executable(string name)
    {
        var path = System.IO.Path.Combine(Out, name);
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing; run 'make build' first");
    }
}
