namespace Berth.Shim.Server;

/// <summary>The entry of the berth-shim executable.</summary>
public static class ShimMain
{
    public static int Run(string[] args)
    {
        _ = args;
        Console.Error.WriteLine("berth-shim: not supported yet");
        return 1;
    }
}
