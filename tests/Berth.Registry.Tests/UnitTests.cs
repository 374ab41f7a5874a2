using Berth.Core;
using Berth.Registry.Auth;
using Berth.Registry.Http;
using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>The parsers and policies, without a server.</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("bytes=0-9", 100, 0, 10)]
    [InlineData("bytes=90-", 100, 90, 10)]
    [InlineData("bytes=90-1000", 100, 90, 10)]
    [InlineData("bytes=-10", 100, 90, 10)]
    [InlineData("bytes=-1000", 100, 0, 100)]
    [InlineData("bytes=99-99", 100, 99, 1)]
    public void Valid_ranges(string header, long size, long offset, long count)
    {
        Assert.True(RegistryHandler.TryParseRange(header, size, out var o, out var c));
        Assert.Equal((offset, count), (o, c));
    }

    [Theory]
    [InlineData("bytes=100-", 100)]
    [InlineData("bytes=5-4", 100)]
    [InlineData("bytes=-0", 100)]
    [InlineData("bytes=a-b", 100)]
    [InlineData("bytes=0-1,3-4", 100)]
    [InlineData("chars=0-1", 100)]
    [InlineData("bytes=0-", 0)]
    public void Invalid_ranges(string header, long size) => Assert.False(RegistryHandler.TryParseRange(header, size, out _, out _));

    [Theory]
    [InlineData("library/busybox", true)]
    [InlineData("a", true)]
    [InlineData("a.b_c__d---e/f", true)]
    [InlineData("team/app/sub", true)]
    [InlineData("A", false)]
    [InlineData("a/../b", false)]
    [InlineData("..", false)]
    [InlineData("a/_layers", false)]
    [InlineData("a//b", false)]
    [InlineData("/a", false)]
    [InlineData("a/", false)]
    [InlineData("a___b", false)]
    [InlineData("", false)]
    public void Repository_names_follow_the_spec(string name, bool valid) => Assert.Equal(valid, RepositoryName.IsValid(name));

    [Fact]
    public void Very_long_names_are_invalid() => Assert.False(RepositoryName.IsValid(new string('a', 256)));

    [Theory]
    [InlineData("latest", true)]
    [InlineData("v1.2.3-rc_1", true)]
    [InlineData("_x", true)]
    [InlineData(".x", false)]
    [InlineData("-x", false)]
    [InlineData("a/b", false)]
    public void Tags_follow_the_spec(string tag, bool valid) => Assert.Equal(valid, RepositoryName.IsValidTag(tag));

    [Theory]
    [InlineData("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true)]
    [InlineData("sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e", true)]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", false)]
    [InlineData("sha256:e3b0", false)]
    [InlineData("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", false)]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", false)]
    [InlineData("sha256:../../../../etc/passwd00000000000000000000000000000000000000", false)]
    public void Digests(string text, bool valid) => Assert.Equal(valid, Digest.TryParse(text, out _));

    [Fact]
    public void Access_policy_unions_matching_rules()
    {
        using var temp = new TempDirectory();
        var file = temp.Combine("access");
        File.WriteAllText(file, "# comment\nalice team/* pull,push\n* shared/* pull\nanonymous public/* pull\nbob * *\n");
        var policy = AccessPolicy.Load(file, anonymousPull: false);
        Assert.Equal(RegistryAction.Pull | RegistryAction.Push, policy.Allowed("alice", "team/app"));
        Assert.Equal(RegistryAction.Pull | RegistryAction.Push, policy.Allowed("alice", "team/deep/app"));
        Assert.Equal(RegistryAction.Pull, policy.Allowed("alice", "shared/x"));
        Assert.Equal(RegistryAction.None, policy.Allowed("alice", "other"));
        Assert.Equal(RegistryAction.All, policy.Allowed("bob", "anything"));
        Assert.Equal(RegistryAction.Pull, policy.Allowed(null, "public/x"));
        Assert.Equal(RegistryAction.None, policy.Allowed(null, "shared/x"));
        Assert.True(policy.AnonymousHasAnyAccess);
    }

    [Fact]
    public void Access_file_errors_are_all_reported()
    {
        using var temp = new TempDirectory();
        var file = temp.Combine("access");
        File.WriteAllText(file, "alice team/*\nbob x fly\n");
        var e = Assert.Throws<BerthException>(() => AccessPolicy.Load(file, false));
        Assert.Contains(":1:", e.Message, StringComparison.Ordinal);
        Assert.Contains("unknown action 'fly'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Htpasswd_accepts_bcrypt_and_refuses_other_hashes()
    {
        using var temp = new TempDirectory();
        var file = temp.Combine("htpasswd");
        (await Tool.RunAsync("htpasswd", ["-B", "-b", "-c", file, "alice", "pw"])).Check("htpasswd");
        var htpasswd = new Htpasswd(file);
        Assert.True(htpasswd.Verify("alice", "pw"));
        Assert.True(htpasswd.Verify("alice", "pw")); // cached
        Assert.False(htpasswd.Verify("alice", "PW"));
        Assert.False(htpasswd.Verify("mallory", "pw"));

        // The file is re-read when it changes.
        (await Tool.RunAsync("htpasswd", ["-B", "-b", file, "alice", "new"])).Check("htpasswd");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddSeconds(5));
        Assert.False(htpasswd.Verify("alice", "pw"));
        Assert.True(htpasswd.Verify("alice", "new"));

        (await Tool.RunAsync("htpasswd", ["-m", "-b", "-c", file, "md5user", "pw"])).Check("htpasswd -m");
        var e = Assert.Throws<BerthException>(() => new Htpasswd(file));
        Assert.Contains("only bcrypt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokens_verify_and_expire()
    {
        var time = new ManualTime();
        using var service = new TokenService(new RegistryTokenOptions { Service = "svc", Lifetime = TimeSpan.FromMinutes(5) }, time);
        var (token, _, expiresIn) = service.Issue("alice", [new TokenAccess("repository", "team/app", RegistryAction.Pull | RegistryAction.Push)]);
        Assert.Equal(300, expiresIn);
        var verified = service.Verify(token);
        Assert.NotNull(verified);
        Assert.Equal("alice", verified.Subject);
        Assert.Equal(RegistryAction.Pull | RegistryAction.Push, verified.ActionsFor("team/app"));
        Assert.Equal(RegistryAction.None, verified.ActionsFor("team/other"));

        time.Advance(TimeSpan.FromMinutes(6));
        Assert.Null(service.Verify(token));

        // Another issuer's key does not verify.
        using var other = new TokenService(new RegistryTokenOptions { Service = "svc" }, time);
        Assert.Null(service.Verify(other.Issue("alice", []).Token));
        Assert.Null(service.Verify("not.a.token"));
    }

    [Fact]
    public void Token_signing_key_persists_across_restarts()
    {
        using var temp = new TempDirectory();
        var options = new RegistryTokenOptions { SigningKeyFile = temp.Combine("keys", "token.pem") };
        string token;
        using (var first = new TokenService(options, TimeProvider.System))
        {
            token = first.Issue("alice", []).Token;
        }
        using var second = new TokenService(options, TimeProvider.System);
        Assert.NotNull(second.Verify(token));
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(options.SigningKeyFile));
        }
    }

    [Theory]
    [InlineData("127.0.0.1:5000", "127.0.0.1", 5000)]
    [InlineData(":5001", "0.0.0.0", 5001)]
    [InlineData("[::1]:5002", "::1", 5002)]
    [InlineData("localhost:0", "127.0.0.1", 0)]
    public void Listen_addresses(string text, string ip, int port)
    {
        var endpoint = RegistryServer.ParseAddress(text);
        Assert.Equal((ip, port), (endpoint.Address.ToString(), endpoint.Port));
    }

    [Fact]
    public void Bad_listen_address_says_how_to_fix_it()
    {
        var e = Assert.Throws<BerthException>(() => RegistryServer.ParseAddress("127.0.0.1:http"));
        Assert.Contains("HOST:PORT", e.Message, StringComparison.Ordinal);
    }
}
