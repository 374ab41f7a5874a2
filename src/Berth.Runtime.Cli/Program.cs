namespace Berth.Runtime.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("berth-runtime: not built yet");
        return args.Length == 0 ? 0 : 1;
    }
}
