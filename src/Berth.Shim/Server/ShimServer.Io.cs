using System.Text.Json;
using Berth.Linux;
using Berth.Shim.Protocol;

namespace Berth.Shim.Server;

internal sealed partial class ShimServer
{
    private void ReadOutput(Supervised p, int stream)
    {
        var fd = stream == 1 ? p.Io.OutFd : p.Io.ErrFd;
        if (fd < 0)
        {
            return;
        }
        var n = Descriptors.TryRead(fd, ReadBuffer);
        if (n == -Errno.EAGAIN)
        {
            return;
        }
        if (n <= 0)
        {
            // End of file; a pty master reads EIO once the last holder of the slave is gone.
            CloseOutput(p, stream);
            return;
        }
        Deliver(p, stream, ReadBuffer.AsSpan(0, n));
    }

    /// <summary>Reads whatever output is ready right now, without waiting.</summary>
    private void DrainOutput(Supervised p)
    {
        for (var stream = 1; stream <= 2; stream++)
        {
            for (var i = 0; i < 64; i++)
            {
                var fd = stream == 1 ? p.Io.OutFd : p.Io.ErrFd;
                if (fd < 0)
                {
                    break;
                }
                var n = Descriptors.TryRead(fd, ReadBuffer);
                if (n == -Errno.EAGAIN)
                {
                    break;
                }
                if (n <= 0)
                {
                    CloseOutput(p, stream);
                    break;
                }
                Deliver(p, stream, ReadBuffer.AsSpan(0, n));
            }
        }
    }

    private static void Deliver(Supervised p, int stream, ReadOnlySpan<byte> data)
    {
        p.Io.Log?.Write(stream, data);
        foreach (var c in p.Io.Attached)
        {
            if (!c.Dead && (stream == 1 ? c.WantStdout : c.WantStderr))
            {
                Enqueue(c, (byte)stream, data);
            }
        }
    }

    private void CloseOutput(Supervised p, int stream)
    {
        var io = p.Io;
        if (stream == 1 && io.OutFd >= 0)
        {
            if (io.Terminal)
            {
                io.StdinFd = -1;
                io.StdinPendingLength = 0;
            }
            Sys.Close(io.OutFd);
            io.OutFd = -1;
            io.Log?.Flush(1);
        }
        else if (stream == 2 && io.ErrFd >= 0)
        {
            Sys.Close(io.ErrFd);
            io.ErrFd = -1;
            io.Log?.Flush(2);
        }
        if (io.OutputDone)
        {
            io.OutputDeadline = long.MaxValue;
            // The output is over: attached clients get the rest of their frames, then the end of the stream.
            foreach (var c in io.Attached)
            {
                c.CloseAfterFlush = true;
                TryClose(c);
            }
            io.Attached.Clear();
            if (p.ExecId is null && p.Exited)
            {
                CloseStdinNow(io);
            }
        }
    }

    private static void AppendStdin(Stdio io, ReadOnlySpan<byte> data)
    {
        if (io.StdinFd < 0 || io.StdinCloseRequested)
        {
            return;
        }
        if (io.StdinPendingLength == 0)
        {
            var n = Descriptors.TryWrite(io.StdinFd, data);
            if (n == data.Length)
            {
                return;
            }
            if (n < 0 && n != -Errno.EAGAIN)
            {
                return; // the reader is gone (EPIPE): the input is dropped, as a pipe with no reader would
            }
            data = data[Math.Max(n, 0)..];
        }
        Grow(ref io.StdinPending, io.StdinPendingLength + data.Length);
        data.CopyTo(io.StdinPending.AsSpan(io.StdinPendingLength));
        io.StdinPendingLength += data.Length;
    }

    private void FlushStdin(Supervised p)
    {
        var io = p.Io;
        if (io.StdinFd < 0 || io.StdinPendingLength == 0)
        {
            return;
        }
        var n = Descriptors.TryWrite(io.StdinFd, io.StdinPending.AsSpan(0, io.StdinPendingLength));
        if (n == -Errno.EAGAIN)
        {
            return;
        }
        if (n < 0)
        {
            io.StdinPendingLength = 0;
        }
        else
        {
            io.StdinPending.AsSpan(n, io.StdinPendingLength - n).CopyTo(io.StdinPending);
            io.StdinPendingLength -= n;
        }
        if (io.StdinPendingLength == 0 && io.StdinCloseRequested)
        {
            CloseStdinNow(io);
        }
    }

    /// <summary>Closes the process's stdin once what is pending is written (a terminal gets ^D: its master also carries output).</summary>
    private static void RequestStdinClose(Stdio io)
    {
        if (io.StdinFd < 0 || io.StdinCloseRequested)
        {
            return;
        }
        if (io.Terminal)
        {
            AppendStdin(io, [4]);
            io.StdinCloseRequested = true;
            return;
        }
        io.StdinCloseRequested = true;
        if (io.StdinPendingLength == 0)
        {
            CloseStdinNow(io);
        }
    }

    private static void CloseStdinNow(Stdio io)
    {
        if (io.StdinFd >= 0 && !io.Terminal)
        {
            Sys.Close(io.StdinFd);
        }
        if (!io.Terminal)
        {
            io.StdinFd = -1;
        }
        io.StdinPendingLength = 0;
    }

    /// <summary>Reads and handles what a client sent, and writes what is queued for it.</summary>
    private void Service(Connection c, short revents)
    {
        if ((revents & PollFd.Out) != 0)
        {
            Flush(c);
        }
        if (c.Dead || (revents & (PollFd.In | PollFd.Hup | PollFd.Err)) == 0)
        {
            return;
        }
        Grow(ref c.In, c.InLength + ReadBuffer.Length);
        var n = Descriptors.TryRead(c.Fd, c.In.AsSpan(c.InLength));
        if (n == -Errno.EAGAIN)
        {
            return;
        }
        if (n <= 0)
        {
            Disconnected(c);
            return;
        }
        c.InLength += n;
        var off = 0;
        while (c.InLength - off >= Wire.HeaderSize && !c.Dead)
        {
            var length = Wire.ReadLength(c.In.AsSpan(off));
            if (length is < 0 or > Wire.MaxPayload)
            {
                Disconnected(c);
                return;
            }
            if (c.InLength - off < Wire.HeaderSize + length)
            {
                break;
            }
            var kind = c.In[off];
            var payload = c.In.AsSpan(off + Wire.HeaderSize, length);
            off += Wire.HeaderSize + length;
            Frame(c, kind, payload);
        }
        if (off > 0 && !c.Dead)
        {
            c.In.AsSpan(off, c.InLength - off).CopyTo(c.In);
            c.InLength -= off;
        }
    }

    private void Frame(Connection c, byte kind, ReadOnlySpan<byte> payload)
    {
        if (!c.HasRequest)
        {
            if (kind != Wire.Request)
            {
                Disconnected(c);
                return;
            }
            c.HasRequest = true;
            ShimRequest? request;
            try
            {
                request = JsonSerializer.Deserialize(payload, ShimJsonContext.Default.ShimRequest);
            }
            catch (JsonException e)
            {
                Fail(c, Core.ErrorCode.InvalidArgument, "malformed shim request: " + e.Message);
                return;
            }
            if (request is null)
            {
                Fail(c, Core.ErrorCode.InvalidArgument, "empty shim request");
                return;
            }
            Handle(c, request);
            return;
        }
        if (c.Target is not { } target || !c.WantStdin || c.StdinClosed)
        {
            return;
        }
        if (kind == Wire.Stdin)
        {
            AppendStdin(target.Io, payload);
        }
        else if (kind == Wire.StdinClose)
        {
            StdinEnded(c, target);
        }
    }

    /// <summary>An attached client's stdin ended: an exec's stdin closes, the init's only with StdinOnce (docker run -i).</summary>
    private static void StdinEnded(Connection c, Supervised target)
    {
        c.StdinClosed = true;
        if (target.ExecId is not null || target.Io.StdinOnce)
        {
            RequestStdinClose(target.Io);
        }
    }

    private void Disconnected(Connection c)
    {
        if (c.Target is { } target && c.WantStdin && !c.StdinClosed)
        {
            StdinEnded(c, target);
        }
        c.Target?.Io.Attached.Remove(c);
        foreach (var p in Processes())
        {
            p.Waiters.Remove(c);
        }
        c.Close();
    }

    private static void Enqueue(Connection c, byte kind, ReadOnlySpan<byte> data)
    {
        if (c.OutStart > 0 && c.OutStart + c.OutLength + Wire.HeaderSize + data.Length > c.Out.Length)
        {
            c.Out.AsSpan(c.OutStart, c.OutLength).CopyTo(c.Out);
            c.OutStart = 0;
        }
        Grow(ref c.Out, c.OutStart + c.OutLength + Wire.HeaderSize + data.Length);
        var at = c.OutStart + c.OutLength;
        Wire.WriteHeader(c.Out.AsSpan(at), kind, data.Length);
        data.CopyTo(c.Out.AsSpan(at + Wire.HeaderSize));
        c.OutLength += Wire.HeaderSize + data.Length;
        Flush(c);
    }

    private static void Flush(Connection c)
    {
        while (c.OutLength > 0 && !c.Dead)
        {
            var n = Descriptors.TryWrite(c.Fd, c.Out.AsSpan(c.OutStart, c.OutLength));
            if (n == -Errno.EAGAIN)
            {
                return;
            }
            if (n <= 0)
            {
                c.Close();
                return;
            }
            c.OutStart += n;
            c.OutLength -= n;
            c.LastProgress = Environment.TickCount64;
        }
        if (c.OutLength == 0)
        {
            c.OutStart = 0;
            // Kept for the next burst (at most HighWater plus a frame): dropping it would make garbage per burst.
            TryClose(c);
        }
    }

    private static void TryClose(Connection c)
    {
        if (c.CloseAfterFlush && c.OutLength == 0 && !c.Dead)
        {
            c.Close();
        }
    }

    private static void Respond(Connection c, ShimResponse response) =>
        Enqueue(c, Wire.Response, JsonSerializer.SerializeToUtf8Bytes(response, ShimJsonContext.Default.ShimResponse));

    private static void Fail(Connection c, Core.ErrorCode code, string message)
    {
        Respond(c, new ShimResponse { Ok = false, Code = code.ToString(), Error = message });
        c.CloseAfterFlush = true;
        TryClose(c);
    }

    private static void Grow(ref byte[] buffer, int needed)
    {
        if (buffer.Length < needed)
        {
            Array.Resize(ref buffer, Math.Max(needed, Math.Max(256, buffer.Length * 2)));
        }
    }
}
