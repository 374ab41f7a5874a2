using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml;

namespace Berth.ApiServer.Schema;

/// <summary>
/// Field and type descriptions for OpenAPI (what `kubectl explain` prints), read from the XML documentation the
/// KubernetesClient package ships next to its assembly. Loaded on first use only; without the file, empty.
/// </summary>
public static partial class Descriptions
{
    private static readonly Lazy<Dictionary<string, string>> Table = new(Load);

    [GeneratedRegex("\\s+")]
    private static partial Regex Spaces();

    public static string? OfType(Type t) => Table.Value.TryGetValue("T:" + t.FullName, out var d) ? d : null;

    public static string? OfProperty(Type t, string clrName) => Table.Value.TryGetValue("P:" + t.FullName + "." + clrName, out var d) ? d : null;

    private static Dictionary<string, string> Load()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var assembly = typeof(k8s.Models.V1Pod).Assembly.Location;
        var path = Path.ChangeExtension(assembly, ".xml");
        if (string.IsNullOrEmpty(assembly) || !File.Exists(path))
        {
            return result;
        }
        using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, IgnoreComments = true });
        string? member = null;
        while (reader.Read())
        {
            if (reader.NodeType != XmlNodeType.Element)
            {
                continue;
            }
            if (reader.Name == "member")
            {
                var name = reader.GetAttribute("name");
                member = name is not null && (name.StartsWith("T:k8s.Models.", StringComparison.Ordinal) || name.StartsWith("P:k8s.Models.", StringComparison.Ordinal)) ? name : null;
            }
            else if (reader.Name == "summary" && member is not null)
            {
                var text = Spaces().Replace(reader.ReadElementContentAsString(), " ").Trim();
                if (text.Length > 0)
                {
                    result[member] = text;
                }
                member = null;
            }
        }
        return result;
    }

}
