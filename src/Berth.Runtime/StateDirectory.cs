using System.Text.Json;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Linux;

namespace Berth.Runtime;

/// <summary>The runtime's state root (--root): one directory per container holding state.json and, until start, exec.fifo.</summary>
public sealed partial class StateDirectory(string root)
{
    public const string DefaultRoot = "/run/berth-runtime";

    public string Root { get; } = root;

    public string PathOf(string id) => Path.Combine(Root, id);

    public string FifoOf(string id) => Path.Combine(Root, id, "exec.fifo");

    public static void ValidateId(string id)
    {
        if (!IdPattern().IsMatch(id) || id is "." or "..")
        {
            throw BerthException.InvalidArgument($"invalid container id \"{id}\": use letters, digits, '_', '+', '-' and '.' only");
        }
    }

    [GeneratedRegex(@"^[\w+\-\.]{1,1024}$")]
    private static partial Regex IdPattern();

    /// <summary>Makes the container's directory; an existing one means the id is taken.</summary>
    public string Reserve(string id)
    {
        ValidateId(id);
        Directory.CreateDirectory(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var dir = PathOf(id);
        // mkdir fails with EEXIST atomically, so two creates of one id cannot both win.
        var err = Sys.TryMkdir(dir, 0x1c0);
        if (err == Errno.EEXIST)
        {
            throw BerthException.AlreadyExists($"container with id \"{id}\" already exists; delete it first or pick another id");
        }
        if (err != 0)
        {
            throw new LinuxSyscallException("mkdir", dir, err);
        }
        return dir;
    }

    /// <summary>
    /// Writes state.json through a temp file and a rename, so a reader never sees half of it. Not fsync'ed: this is
    /// runtime state of live processes, meaningless after a reboot (runc and crun do not sync theirs either), and an
    /// fsync on a disk-backed root costs milliseconds on every create and start.
    /// </summary>
    public void Save(ContainerRecord record) =>
        AtomicFile.WriteAllBytes(Path.Combine(PathOf(record.Id), "state.json"), ContainerRecordJson.Write(record), durable: false);

    public ContainerRecord Load(string id)
    {
        ValidateId(id);
        var path = Path.Combine(PathOf(id), "state.json");
        try
        {
            return ContainerRecordJson.Read(File.ReadAllBytes(path));
        }
        catch (FileNotFoundException)
        {
            throw BerthException.NotFound($"container \"{id}\" does not exist");
        }
        catch (DirectoryNotFoundException)
        {
            throw BerthException.NotFound($"container \"{id}\" does not exist");
        }
        catch (JsonException e)
        {
            throw new BerthException(ErrorCode.Internal, $"{path} is corrupt ({e.Message}); remove it with `delete --force {id}`");
        }
    }

    public bool Exists(string id) => Directory.Exists(PathOf(id));

    public IEnumerable<string> Ids() =>
        Directory.Exists(Root) ? Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)! : [];

    public void Remove(string id)
    {
        var dir = PathOf(id);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
