using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>HTTPS with a PEM certificate and key, used by skopeo with its own CA directory.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Serves_https_with_a_pem_certificate_and_skopeo_verifies_it()
    {
        using var temp = new TempDirectory();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certFile = temp.Combine("tls.crt");
        var keyFile = temp.Combine("tls.key");
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        // skopeo trusts the CA files (*.crt) of --dest-cert-dir.
        var certDir = temp.Combine("certs");
        Directory.CreateDirectory(certDir);
        File.Copy(certFile, Path.Combine(certDir, "ca.crt"));

        await using var registry = await RegistryHost.StartAsync(root => new RegistryOptions
        {
            RootDirectory = root,
            TlsCertificateFile = certFile,
            TlsKeyFile = keyFile,
        });
        Assert.Equal("https", registry.Server.BaseAddress.Scheme);

        var image = TestImage.Create(temp.Combine("src"));
        (await Tool.Skopeo("copy", "--dest-cert-dir", certDir, $"oci:{image.LayoutDir}:latest", $"docker://{registry.HostPort}/tls/app:v1")).Check("push over verified TLS");
        var untrusted = await Tool.Skopeo("inspect", $"docker://{registry.HostPort}/tls/app:v1");
        Assert.NotEqual(0, untrusted.ExitCode);
        Assert.Contains("certificate", untrusted.Stderr, StringComparison.OrdinalIgnoreCase);
        (await Tool.Skopeo("copy", "--src-cert-dir", certDir, $"docker://{registry.HostPort}/tls/app:v1", $"oci:{temp.Combine("back")}:v1")).Check("pull over verified TLS");
        Assert.Equal(image.ManifestDigest, TestImage.LayoutManifestDigest(temp.Combine("back")));
    }

    [Fact]
    public async Task Certificate_without_key_is_refused()
    {
        using var temp = new TempDirectory();
        var e = await Assert.ThrowsAsync<Berth.Core.BerthException>(() => RegistryServer.StartAsync(new RegistryOptions
        {
            RootDirectory = temp.Combine("root"),
            ListenAddress = "127.0.0.1:0",
            TlsCertificateFile = temp.Combine("missing.crt"),
        }));
        Assert.Contains("--tls-key", e.Message, StringComparison.Ordinal);
    }
}
