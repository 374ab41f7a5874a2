using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Berth.Core;

namespace Berth.ApiServer.Security;

/// <summary>
/// The cluster's certificates, made with .NET's CertificateRequest (no openssl): a CA kept in the data directory,
/// a serving certificate for the bind address, localhost and 127.0.0.1, and an admin client certificate
/// (CN=admin, O=system:masters). Files are written temp-then-rename; keys are 0600.
/// </summary>
public sealed class ClusterPki
{
    private ClusterPki(X509Certificate2 ca, X509Certificate2 serving, X509Certificate2 admin)
    {
        Ca = ca;
        Serving = serving;
        Admin = admin;
    }

    public X509Certificate2 Ca { get; }

    public X509Certificate2 Serving { get; }

    public X509Certificate2 Admin { get; }

    public string CaPem => Ca.ExportCertificatePem();

    public static ClusterPki LoadOrCreate(string tlsDir, IEnumerable<string> hostNames, TimeProvider time)
    {
        Directory.CreateDirectory(tlsDir);
        var now = time.GetUtcNow();
        var ca = LoadPair(tlsDir, "ca");
        if (ca is null)
        {
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest($"CN=berth-ca@{now.ToUnixTimeSeconds()}", caKey, HashAlgorithmName.SHA256);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
            req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
            ca = req.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
            SavePair(tlsDir, "ca", ca);
        }
        var admin = LoadPair(tlsDir, "admin");
        if (admin is null || admin.NotAfter < now.UtcDateTime.AddDays(30) || !Issued(admin, ca))
        {
            admin = Issue(ca, "CN=admin, O=system:masters", [], clientAuth: true, now);
            SavePair(tlsDir, "admin", admin);
        }
        // The serving certificate is cheap: reissued on every start so its SANs follow the bind address.
        var serving = Issue(ca, "CN=berth-apiserver", hostNames, clientAuth: false, now);
        SavePair(tlsDir, "serving", serving);
        return new ClusterPki(ca, serving, admin);
    }

    /// <summary>Issues a client certificate for a user (CN) and groups (O), e.g. for tests and node agents.</summary>
    public X509Certificate2 IssueClient(string user, IEnumerable<string> groups, TimeProvider time)
    {
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(user);
        foreach (var g in groups)
        {
            subject.AddOrganizationName(g);
        }
        return Issue(Ca, subject.Build().Name, [], clientAuth: true, time.GetUtcNow());
    }

    private static bool Issued(X509Certificate2 cert, X509Certificate2 ca) => cert.Issuer == ca.Subject;

    private static X509Certificate2 Issue(X509Certificate2 ca, string subject, IEnumerable<string> hostNames, bool clientAuth, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(new X500DistinguishedName(subject), key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        var usages = new OidCollection { new Oid(clientAuth ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1") };
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        if (!clientAuth)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var h in hostNames.Append("localhost").Append("127.0.0.1").Append("kubernetes").Append("kubernetes.default")
                         .Append("kubernetes.default.svc").Append("kubernetes.default.svc.cluster.local").Distinct())
            {
                if (IPAddress.TryParse(h, out var ip))
                {
                    san.AddIpAddress(ip);
                }
                else
                {
                    san.AddDnsName(h);
                }
            }
            req.CertificateExtensions.Add(san.Build());
        }
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        using var signer = ca.GetECDsaPrivateKey() ?? throw new BerthException(ErrorCode.Internal, "the cluster CA has no private key");
        using var signed = req.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(signer), now.AddMinutes(-5), now.AddYears(clientAuth ? 1 : 2), serial);
        return signed.CopyWithPrivateKey(key);
    }

    public static string KeyPem(X509Certificate2 cert) =>
        (cert.GetECDsaPrivateKey() ?? throw new BerthException(ErrorCode.Internal, "certificate has no private key")).ExportECPrivateKeyPem();

    private static void SavePair(string dir, string name, X509Certificate2 cert)
    {
        AtomicFile.WriteAllText(Path.Combine(dir, name + ".crt"), cert.ExportCertificatePem() + "\n");
        var keyPath = Path.Combine(dir, name + ".key");
        AtomicFile.WriteAllText(keyPath, KeyPem(cert) + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static X509Certificate2? LoadPair(string dir, string name)
    {
        var crt = Path.Combine(dir, name + ".crt");
        var key = Path.Combine(dir, name + ".key");
        if (!File.Exists(crt) || !File.Exists(key))
        {
            return null;
        }
        try
        {
            return X509Certificate2.CreateFromPemFile(crt, key);
        }
        catch (CryptographicException e)
        {
            throw new BerthException(ErrorCode.FailedPrecondition, $"cannot load {crt}: {e.Message}; remove {dir} to create a new cluster CA", e);
        }
    }

    /// <summary>Whether a client certificate chains to the cluster CA and is valid now.</summary>
    public bool Verify(X509Certificate2 client)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreWrongUsage;
        return chain.Build(client);
    }
}
