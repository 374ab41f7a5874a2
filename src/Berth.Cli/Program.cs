namespace Berth.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("berth: no commands yet; see README.md");
        return args.Length == 0 ? 0 : 1;
    }
}
