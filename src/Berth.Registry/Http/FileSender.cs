using Microsoft.AspNetCore.Http;
using Microsoft.Win32.SafeHandles;

namespace Berth.Registry.Http;

/// <summary>
/// Sends a file range by reading straight into the response pipe's buffers (no intermediate FileStream buffer),
/// in large reads, flushing as the pipe asks. This is the blob GET hot path.
/// </summary>
internal static class FileSender
{
    private const int ChunkSize = 256 * 1024;

    public static async Task SendAsync(HttpResponse response, string path, long offset, long count, CancellationToken ct)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.SequentialScan);
        await response.StartAsync(ct).ConfigureAwait(false);
        var writer = response.BodyWriter;
        var remaining = count;
        var position = offset;
        while (remaining > 0)
        {
            var memory = writer.GetMemory((int)Math.Min(ChunkSize, remaining));
            var want = (int)Math.Min(memory.Length, remaining);
            var read = RandomAccess.Read(handle, memory.Span[..want], position);
            if (read == 0)
            {
                throw new IOException($"{path} ended {remaining} bytes early");
            }
            writer.Advance(read);
            position += read;
            remaining -= read;
            var flush = await writer.FlushAsync(ct).ConfigureAwait(false);
            if (flush.IsCanceled || flush.IsCompleted)
            {
                return;
            }
        }
    }
}
