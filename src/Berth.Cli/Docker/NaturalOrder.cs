namespace Berth.Cli.Docker;

/// <summary>
/// The order the docker CLI lists names in (its sortorder.NaturalLess): runs of digits compare as numbers, so
/// "net9" comes before "net10"; other characters compare by their UTF-16 code units; a digit sorts before a
/// non-digit; equal numbers with fewer leading zeros come first ("2" before "02").
/// </summary>
public sealed class NaturalOrder : IComparer<string?>
{
    public static NaturalOrder Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }
        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }
        int i = 0, j = 0;
        while (i < x.Length && j < y.Length)
        {
            bool dx = char.IsAsciiDigit(x[i]), dy = char.IsAsciiDigit(y[j]);
            if (dx != dy)
            {
                return dx ? -1 : 1;
            }
            if (!dx)
            {
                if (x[i] != y[j])
                {
                    return x[i] < y[j] ? -1 : 1;
                }
                i++;
                j++;
                continue;
            }
            while (i < x.Length && x[i] == '0')
            {
                i++;
            }
            while (j < y.Length && y[j] == '0')
            {
                j++;
            }
            int nx = i, ny = j;
            while (i < x.Length && char.IsAsciiDigit(x[i]))
            {
                i++;
            }
            while (j < y.Length && char.IsAsciiDigit(y[j]))
            {
                j++;
            }
            if (i - nx != j - ny)
            {
                return i - nx < j - ny ? -1 : 1;
            }
            var digits = string.CompareOrdinal(x, nx, y, ny, i - nx);
            if (digits != 0)
            {
                return digits < 0 ? -1 : 1;
            }
            // The same number: fewer leading zeros first (everything before it being equal, the start index says).
            if (nx != ny)
            {
                return nx < ny ? -1 : 1;
            }
        }
        return (x.Length - i).CompareTo(y.Length - j) switch
        {
            < 0 => -1,
            > 0 => 1,
            _ => 0,
        };
    }
}
