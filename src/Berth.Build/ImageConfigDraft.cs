using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Build;

/// <summary>
/// The image configuration a build produces, with the exact field names of the OCI image config (lower-case
/// top level, Docker's upper-case <c>config</c> object). The builder owns no OCI model of its own; the host maps
/// this draft onto Berth.Oci's config (the names match one to one) and adds <c>rootfs.diff_ids</c> from the layers.
/// </summary>
public sealed class ImageConfigDraft
{
    [JsonPropertyName("created")]
    public DateTimeOffset? Created { get; set; }

    [JsonPropertyName("author")]
    public string? Author { get; set; }

    [JsonPropertyName("architecture")]
    public string Architecture { get; set; } = "amd64";

    [JsonPropertyName("os")]
    public string Os { get; set; } = "linux";

    [JsonPropertyName("variant")]
    public string? Variant { get; set; }

    [JsonPropertyName("config")]
    public ContainerConfigDraft Config { get; set; } = new();

    [JsonPropertyName("history")]
    public List<HistoryDraft> History { get; set; } = [];

    public ImageConfigDraft Clone() =>
        JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(this, BuildJsonContext.Default.ImageConfigDraft), BuildJsonContext.Default.ImageConfigDraft)!;

    public string ToJson() => JsonSerializer.Serialize(this, BuildJsonContext.Default.ImageConfigDraft);

    public static ImageConfigDraft FromJson(string json) =>
        JsonSerializer.Deserialize(json, BuildJsonContext.Default.ImageConfigDraft)
        ?? throw new JsonException("image config is null");
}

/// <summary>The <c>config</c> object of an image config (Docker's container config subset images carry).</summary>
public sealed class ContainerConfigDraft
{
    [JsonPropertyName("User")]
    public string? User { get; set; }

    [JsonPropertyName("ExposedPorts")]
    public SortedDictionary<string, EmptyObject>? ExposedPorts { get; set; }

    [JsonPropertyName("Env")]
    public List<string>? Env { get; set; }

    [JsonPropertyName("Entrypoint")]
    public List<string>? Entrypoint { get; set; }

    [JsonPropertyName("Cmd")]
    public List<string>? Cmd { get; set; }

    [JsonPropertyName("Volumes")]
    public SortedDictionary<string, EmptyObject>? Volumes { get; set; }

    [JsonPropertyName("WorkingDir")]
    public string? WorkingDir { get; set; }

    [JsonPropertyName("Labels")]
    public SortedDictionary<string, string>? Labels { get; set; }

    [JsonPropertyName("StopSignal")]
    public string? StopSignal { get; set; }

    [JsonPropertyName("Healthcheck")]
    public HealthcheckDraft? Healthcheck { get; set; }

    [JsonPropertyName("Shell")]
    public List<string>? Shell { get; set; }

    [JsonPropertyName("OnBuild")]
    public List<string>? OnBuild { get; set; }

    /// <summary>Looks a variable up in <see cref="Env"/> (<c>KEY=value</c> entries).</summary>
    public string? GetEnv(string key)
    {
        if (Env is null)
        {
            return null;
        }
        foreach (var entry in Env)
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? entry : entry[..eq];
            if (name == key)
            {
                return eq < 0 ? string.Empty : entry[(eq + 1)..];
            }
        }
        return null;
    }

    /// <summary>Sets or replaces <c>KEY=value</c> in <see cref="Env"/>, keeping the position of an existing key.</summary>
    public void SetEnv(string key, string value)
    {
        Env ??= [];
        for (var i = 0; i < Env.Count; i++)
        {
            var eq = Env[i].IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? Env[i] : Env[i][..eq];
            if (name == key)
            {
                Env[i] = key + "=" + value;
                return;
            }
        }
        Env.Add(key + "=" + value);
    }
}

/// <summary>The <c>{}</c> values of ExposedPorts and Volumes.</summary>
public sealed class EmptyObject
{
}

/// <summary>Docker's health check config; durations in nanoseconds as Docker writes them, 0 = inherit the default.</summary>
public sealed class HealthcheckDraft
{
    [JsonPropertyName("Test")]
    public List<string> Test { get; set; } = [];

    [JsonPropertyName("Interval")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Interval { get; set; }

    [JsonPropertyName("Timeout")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Timeout { get; set; }

    [JsonPropertyName("StartPeriod")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long StartPeriod { get; set; }

    [JsonPropertyName("StartInterval")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long StartInterval { get; set; }

    [JsonPropertyName("Retries")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int Retries { get; set; }
}

/// <summary>One <c>history</c> entry; <see cref="EmptyLayer"/> marks steps that changed only the config.</summary>
public sealed class HistoryDraft
{
    [JsonPropertyName("created")]
    public DateTimeOffset? Created { get; set; }

    [JsonPropertyName("created_by")]
    public string? CreatedBy { get; set; }

    [JsonPropertyName("author")]
    public string? Author { get; set; }

    [JsonPropertyName("comment")]
    public string? Comment { get; set; }

    [JsonPropertyName("empty_layer")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool EmptyLayer { get; set; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageConfigDraft))]
[JsonSerializable(typeof(CacheEntry))]
[JsonSerializable(typeof(string))]

internal sealed partial class BuildJsonContext : JsonSerializerContext
{
}
