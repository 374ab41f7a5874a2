namespace Berth.Oci.Image;

/// <summary>Media types of the OCI image spec 1.1 and of Docker's v2 schema 2 (which Berth reads and writes too).</summary>
public static class MediaTypes
{
    public const string OciDescriptor = "application/vnd.oci.descriptor.v1+json";
    public const string OciLayoutHeader = "application/vnd.oci.layout.header.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciLayerNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    public const string OciEmpty = "application/vnd.oci.empty.v1+json";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerLayerForeignGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";

    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsConfig(string? mediaType) => mediaType is OciConfig or DockerConfig;

    public static bool IsLayer(string? mediaType) => LayerCompressionOf(mediaType) is not null;

    /// <summary>The compression a layer media type declares, or null when the media type is not a layer.</summary>
    public static LayerCompression? LayerCompressionOf(string? mediaType) => mediaType switch
    {
        OciLayer or OciLayerNonDistributable or DockerLayer => LayerCompression.None,
        OciLayerGzip or OciLayerNonDistributableGzip or DockerLayerGzip or DockerLayerForeignGzip => LayerCompression.Gzip,
        OciLayerZstd or OciLayerNonDistributableZstd or DockerLayerZstd => LayerCompression.Zstd,
        _ => null,
    };

    public static string OciLayerFor(LayerCompression compression) => compression switch
    {
        LayerCompression.Gzip => OciLayerGzip,
        LayerCompression.Zstd => OciLayerZstd,
        _ => OciLayer,
    };

    public static string DockerLayerFor(LayerCompression compression) => compression switch
    {
        LayerCompression.Gzip => DockerLayerGzip,
        LayerCompression.Zstd => DockerLayerZstd,
        _ => DockerLayer,
    };
}

public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}
