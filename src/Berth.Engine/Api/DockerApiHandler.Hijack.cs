using System.Buffers.Binary;
using System.Text.Json;
using System.Text.RegularExpressions;
using Berth.Core;
using Berth.Engine.Containers;
using Berth.Shim;
using Microsoft.AspNetCore.WebUtilities;

namespace Berth.Engine.Api;

internal sealed partial class DockerApiHandler
{
    private static readonly Regex AttachPath = new(@"^(/v\d+\.\d+)?/containers/(?<id>[^/]+)/attach$", RegexOptions.Compiled);
    private static readonly Regex ExecStartPath = new(@"^(/v\d+\.\d+)?/exec/(?<id>[^/]+)/start$", RegexOptions.Compiled);

    /// <summary>attach (always) and exec start (when upgrading) are served on the raw connection.</summary>
    public bool IsHijack(RawRequest request) =>
        request.Method == "POST" && (AttachPath.IsMatch(request.Path) || (ExecStartPath.IsMatch(request.Path) && request.Headers.ContainsKey("upgrade")));

    public async Task HandleHijackAsync(RawRequest request, byte[] body, HijackedConnection connection)
    {
        var query = QueryHelpers.ParseQuery(request.Query);
        bool Q(string name) => query.TryGetValue(name, out var v) && v.ToString() is "1" or "true" or "True";
        try
        {
            if (AttachPath.Match(request.Path) is { Success: true } am)
            {
                var c = _engine.Get(am.Groups["id"].Value);
                await AttachAsync(c, Q("stdin"), Q("stdout"), Q("stderr"), Q("logs"), Q("stream"), connection).ConfigureAwait(false);
                return;
            }
            var em = ExecStartPath.Match(request.Path);
            var exec = _engine.GetExec(em.Groups["id"].Value);
            var start = body.Length == 0 ? new ExecStartRequest() : JsonSerializer.Deserialize(body, DockerJsonContext.Default.ExecStartRequest) ?? new ExecStartRequest();
            var shimExec = await _engine.StartExecAsync(exec, _engine.Stopping).ConfigureAwait(false);
            await connection.WriteHeadAsync(exec.Config.Tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream").ConfigureAwait(false);
            await connection.Output.FlushAsync().ConfigureAwait(false);
            _ = start;
            await PumpAsync(shimExec.Stream, exec.Config.AttachStdin, exec.Config.Tty, connection, null).ConfigureAwait(false);
            // docker exec reads the exit code from /exec/{id}/json right after the stream ends.
            try
            {
                await shimExec.WaitAsync(_engine.Stopping).ConfigureAwait(false);
            }
            catch (BerthException)
            {
            }
            for (var i = 0; i < 50 && exec.Running; i++)
            {
                await Task.Delay(10).ConfigureAwait(false);
            }
        }
        catch (BerthException e)
        {
            await connection.WriteErrorAsync(StatusFor(e.Code), e.Message).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await connection.WriteErrorAsync(400, "invalid JSON in the request body: " + e.Message).ConfigureAwait(false);
        }
    }

    private async Task AttachAsync(Container c, bool stdin, bool stdout, bool stderr, bool logs, bool stream, HijackedConnection connection)
    {
        var tty = c.Record.Config.Tty;
        Task<ShimStream?>? attach = null;
        if (stream)
        {
            // Registered before the 101 goes out, so a `start` that follows is guaranteed to connect it.
            attach = c.AttachAsync(stdin, stdout, stderr, _engine.Stopping);
            if (attach.IsFaulted)
            {
                await attach.ConfigureAwait(false);
            }
        }
        await connection.WriteHeadAsync(tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream").ConfigureAwait(false);
        await connection.Output.FlushAsync().ConfigureAwait(false);
        if (logs)
        {
            await foreach (var entry in LogReader.ReadAsync(c, new LogOptions(stdout, stderr, null, null, null, false, false), _engine.Stopping).ConfigureAwait(false))
            {
                await WriteFrameAsync(connection, tty, entry.Stream, entry.Data, _engine.Stopping).ConfigureAwait(false);
            }
            await connection.Output.FlushAsync().ConfigureAwait(false);
        }
        if (attach is null)
        {
            return;
        }
        var s = await attach.ConfigureAwait(false);
        if (s is null)
        {
            return;
        }
        try
        {
            await PumpAsync(s, stdin, tty, connection, c).ConfigureAwait(false);
        }
        finally
        {
            c.AttachEnded();
        }
    }

    /// <summary>Shim output → client (multiplexed or raw); client bytes → the process's stdin, closed at the client's EOF.</summary>
    private async Task PumpAsync(ShimStream s, bool stdin, bool tty, HijackedConnection connection, Container? container)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_engine.Stopping);
        var input = stdin ? Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var r = await connection.Input.ReadAsync(cts.Token).ConfigureAwait(false);
                    foreach (var segment in r.Buffer)
                    {
                        await s.WriteStdinAsync(segment, cts.Token).ConfigureAwait(false);
                    }
                    connection.Input.AdvanceTo(r.Buffer.End);
                    if (r.IsCompleted || r.IsCanceled)
                    {
                        break;
                    }
                }
                await s.CloseStdinAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or BerthException or InvalidOperationException)
            {
            }
        }, CancellationToken.None) : Task.CompletedTask;
        try
        {
            while (await s.ReadAsync(cts.Token).ConfigureAwait(false) is { } frame)
            {
                await WriteFrameAsync(connection, tty, frame.Stream, frame.Data, cts.Token).ConfigureAwait(false);
                await connection.Output.FlushAsync(cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or BerthException or OperationCanceledException)
        {
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            try
            {
                await input.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            await s.DisposeAsync().ConfigureAwait(false);
            _ = container;
        }
    }

    internal static async ValueTask WriteFrameAsync(HijackedConnection connection, bool tty, int stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (!tty)
        {
            var header = new byte[8];
            header[0] = (byte)stream;
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)data.Length);
            await connection.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        }
        await connection.WriteAsync(data, cancellationToken).ConfigureAwait(false);
    }

    internal static byte[] Frame(bool tty, int stream, ReadOnlySpan<byte> data)
    {
        if (tty)
        {
            return data.ToArray();
        }
        var buffer = new byte[8 + data.Length];
        buffer[0] = (byte)stream;
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), (uint)data.Length);
        data.CopyTo(buffer.AsSpan(8));
        return buffer;
    }
}
