using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Berth.Core;

namespace Berth.Registry.Auth;

/// <summary>
/// An htpasswd file with bcrypt entries (htpasswd -B). The file is re-read when it changes. Verified passwords are
/// remembered by a salted hash, because bcrypt costs tens of milliseconds and clients send credentials with every request.
/// </summary>
internal sealed class Htpasswd
{
    private static readonly Lazy<string> DummyHash = new(() => BCrypt.Net.BCrypt.HashPassword(Guid.NewGuid().ToString(), 10));
    private readonly string _path;
    private readonly byte[] _cacheSalt = RandomNumberGenerator.GetBytes(32);
    private readonly Lock _lock = new();
    private Dictionary<string, string> _entries = new(StringComparer.Ordinal);
    private DateTime _loadedMtime;
    private ConcurrentDictionary<string, byte> _verified = new(StringComparer.Ordinal);

    public Htpasswd(string path)
    {
        _path = Path.GetFullPath(path);
        Reload();
    }

    public bool Verify(string user, string password)
    {
        var entries = Current();
        if (!entries.TryGetValue(user, out var hash))
        {
            // Spend the same time as a real check so that unknown users cannot be told apart by timing.
            BCrypt.Net.BCrypt.Verify(password, DummyHash.Value);
            return false;
        }
        var key = user + ":" + Convert.ToHexString(HMACSHA256.HashData(_cacheSalt, Encoding.UTF8.GetBytes(password + "\0" + hash)));
        var verified = _verified;
        if (verified.ContainsKey(key))
        {
            return true;
        }
        bool ok;
        try
        {
            ok = BCrypt.Net.BCrypt.Verify(password, hash);
        }
        catch (BCrypt.Net.SaltParseException)
        {
            ok = false;
        }
        if (ok)
        {
            verified.TryAdd(key, 0);
        }
        return ok;
    }

    private Dictionary<string, string> Current()
    {
        DateTime mtime;
        try
        {
            mtime = File.GetLastWriteTimeUtc(_path);
        }
        catch (IOException)
        {
            return _entries;
        }
        if (mtime != _loadedMtime)
        {
            lock (_lock)
            {
                if (mtime != _loadedMtime)
                {
                    Reload();
                }
            }
        }
        return _entries;
    }

    private void Reload()
    {
        if (!File.Exists(_path))
        {
            throw BerthException.NotFound($"htpasswd file {_path} does not exist; create it with 'htpasswd -Bc {_path} USER'");
        }
        var mtime = File.GetLastWriteTimeUtc(_path);
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var raw in File.ReadAllLines(_path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw BerthException.InvalidArgument($"{_path}:{lineNumber}: expected 'user:bcrypt-hash'");
            }
            var hash = line[(colon + 1)..];
            if (!hash.StartsWith("$2", StringComparison.Ordinal))
            {
                throw BerthException.InvalidArgument(
                    $"{_path}:{lineNumber}: user '{line[..colon]}' has a non-bcrypt hash; only bcrypt is supported, recreate it with 'htpasswd -B'");
            }
            entries[line[..colon]] = hash;
        }
        _entries = entries;
        _verified = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        _loadedMtime = mtime;
    }
}
