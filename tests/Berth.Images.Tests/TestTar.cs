using System.Formats.Tar;
using System.Text;

namespace Berth.Images.Tests;

/// <summary>Builds tar archives entry by entry, hostile ones included.</summary>
internal sealed class TestTar
{
    private readonly MemoryStream _stream = new();
    private readonly TarWriter _writer;

    public TestTar(TarEntryFormat format = TarEntryFormat.Pax)
    {
        _writer = new TarWriter(_stream, format, leaveOpen: true);
        Format = format;
    }

    public TarEntryFormat Format { get; }

    public static readonly DateTimeOffset Time = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private TarEntry New(TarEntryType type, string name, IEnumerable<KeyValuePair<string, string>>? pax = null) => Format switch
    {
        TarEntryFormat.Pax => pax is null ? new PaxTarEntry(type, name) : new PaxTarEntry(type, name, pax),
        TarEntryFormat.Gnu => new GnuTarEntry(type, name),
        _ => new UstarTarEntry(type, name),
    };

    public TestTar Dir(string name, int mode = 0x1ed, int uid = 0, int gid = 0)
    {
        var e = New(TarEntryType.Directory, name);
        e.Mode = (UnixFileMode)mode;
        e.Uid = uid;
        e.Gid = gid;
        e.ModificationTime = Time;
        _writer.WriteEntry(e);
        return this;
    }

    public TestTar File(string name, string content, int mode = 0x1a4, int uid = 0, int gid = 0, IDictionary<string, string>? xattrs = null)
    {
        var pax = xattrs?.Select(kv => new KeyValuePair<string, string>("SCHILY.xattr." + kv.Key, kv.Value));
        var e = New(TarEntryType.RegularFile, name, pax);
        e.Mode = (UnixFileMode)mode;
        e.Uid = uid;
        e.Gid = gid;
        e.ModificationTime = Time;
        e.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        _writer.WriteEntry(e);
        return this;
    }

    public TestTar Symlink(string name, string target)
    {
        var e = New(TarEntryType.SymbolicLink, name);
        e.LinkName = target;
        e.Mode = (UnixFileMode)0x1ff;
        e.ModificationTime = Time;
        _writer.WriteEntry(e);
        return this;
    }

    public TestTar HardLink(string name, string target)
    {
        var e = New(TarEntryType.HardLink, name);
        e.LinkName = target;
        e.Mode = (UnixFileMode)0x1a4;
        e.ModificationTime = Time;
        _writer.WriteEntry(e);
        return this;
    }

    public TestTar Device(string name, TarEntryType type, int major, int minor, int mode = 0x1b6)
    {
        var e = (PosixTarEntry)New(type, name);
        e.DeviceMajor = major;
        e.DeviceMinor = minor;
        e.Mode = (UnixFileMode)mode;
        e.ModificationTime = Time;
        _writer.WriteEntry(e);
        return this;
    }

    public TestTar Fifo(string name)
    {
        var e = New(TarEntryType.Fifo, name);
        e.Mode = (UnixFileMode)0x1a4;
        e.ModificationTime = Time;
        _writer.WriteEntry(e);
        return this;
    }

    public byte[] ToArray()
    {
        _writer.Dispose();
        return _stream.ToArray();
    }

    public MemoryStream ToStream() => new(ToArray());
}
