using System.Text;

namespace Berth.Cli.Docker;

/// <summary>
/// Aligned columns the way the docker CLI prints them (Go's tabwriter with minwidth 10, padding 3): every column
/// but the last is padded to its widest cell plus three spaces.
/// </summary>
public sealed class TableWriter(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public const int MinWidth = 10;
    public const int Padding = 3;

    public bool ShowHeaders { get; init; } = true;

    public void Add(params string[] cells) => _rows.Add(cells);

    public int Count => _rows.Count;

    public override string ToString()
    {
        var all = ShowHeaders ? _rows.Prepend(headers).ToList() : _rows;
        var columns = all.Count == 0 ? 0 : all.Max(r => r.Length);
        var widths = new int[columns];
        foreach (var row in all)
        {
            for (var i = 0; i < row.Length - 1; i++)
            {
                widths[i] = Math.Max(widths[i], Math.Max(MinWidth, row[i].Length + Padding));
            }
        }
        var sb = new StringBuilder();
        foreach (var row in all)
        {
            for (var i = 0; i < row.Length; i++)
            {
                sb.Append(i == row.Length - 1 ? row[i] : row[i].PadRight(widths[i]));
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
