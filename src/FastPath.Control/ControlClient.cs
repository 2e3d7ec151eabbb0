// SPDX-License-Identifier: MIT
using System.Net.Sockets;
using FastPath.Core;

namespace FastPath.Control;

/// <summary>
/// Talks to a <see cref="ControlServer"/>: one connection per request, the whole response read until the
/// server closes. What fastpathctl does, without the process around it.
/// </summary>
public sealed class ControlClient(string socketPath, TimeSpan? timeout = null)
{
    public const string DefaultSocketPath = "/run/fastpath/control.sock";
    public const string SocketEnvironmentVariable = "FASTPATH_SOCKET";

    /// <summary>$FASTPATH_SOCKET when set, else <see cref="DefaultSocketPath"/>.</summary>
    public static string DefaultPath =>
        Environment.GetEnvironmentVariable(SocketEnvironmentVariable) is { Length: > 0 } path ? path : DefaultSocketPath;

    public string SocketPath { get; } = socketPath;

    /// <summary>How long the whole exchange may take (default 10 s).</summary>
    public TimeSpan Timeout { get; } = timeout ?? TimeSpan.FromSeconds(10);

    public ControlResponse Read(string path) => Send(new ControlRequest("read", path));

    public ControlResponse List(string path) => Send(new ControlRequest("list", path));

    /// <summary>One write of exactly these bytes, as one write(2) to a proc file.</summary>
    public ControlResponse Write(string path, byte[] data) => Send(new ControlRequest("write", path, [], data));

    public ControlResponse Show(string path, params string[] args) => Send(new ControlRequest("show", path, args));

    public ControlResponse Reload() => Send(new ControlRequest("reload"));

    public ControlResponse Help() => Send(new ControlRequest("help"));

    /// <summary>Sends one request and returns the server's answer; a <see cref="ControlConnectionException"/> when there is none.</summary>
    public ControlResponse Send(ControlRequest request)
    {
        byte[] bytes = ControlWire.EncodeRequest(request);
        long deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(SocketPath);
        }
        catch (ArgumentException e)
        {
            throw new ControlConnectionException($"cannot connect to '{SocketPath}': not a usable socket path (1 to 107 bytes)", e);
        }
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(endPoint);
        }
        catch (SocketException e)
        {
            // .NET reports a missing socket file as "Cannot assign requested address": say what it is.
            var kind = UnixFile.Kind(SocketPath);
            string reason = e.SocketErrorCode == SocketError.AccessDenied ? "Permission denied (see fastpath's --control-perms, --control-uid and --control-gid)"
                : kind == UnixFileKind.Missing ? "No such file or directory (is fastpath running, with its control socket there?)"
                : kind == UnixFileKind.Directory ? "Is a directory"
                : kind != UnixFileKind.Socket ? "not a socket"
                : e.SocketErrorCode == SocketError.ConnectionRefused ? "Connection refused (nothing listens on it: has fastpath stopped?)"
                : e.Message;
            throw new ControlConnectionException($"cannot connect to {SocketPath}: {reason}", e);
        }
        try
        {
            for (int sent = 0; sent < bytes.Length; sent += socket.Send(bytes, sent, bytes.Length - sent, SocketFlags.None))
                socket.SendTimeout = Remaining(deadline);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.Shutdown or SocketError.ConnectionReset)
        {
            // The server answered before taking everything (a request too large): its answer is still to be read.
        }
        catch (SocketException e)
        {
            throw new ControlConnectionException($"{SocketPath}: sending the request failed: {e.Message}", e);
        }

        using var received = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int n;
            do
            {
                socket.ReceiveTimeout = Remaining(deadline);
                n = socket.Receive(chunk);
                received.Write(chunk, 0, n);
            }
            while (n > 0);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset && received.Length > 0)
        {
            // A server that refuses a request before reading all of it closes with data unread, and Linux then
            // reports a reset to this side once the answer has been read: the answer is complete.
        }
        catch (SocketException e)
        {
            throw new ControlConnectionException(e.SocketErrorCode == SocketError.TimedOut
                ? $"{SocketPath}: no complete response within {Timeout.TotalSeconds:0.###} s"
                : $"{SocketPath}: reading the response failed: {e.Message}", e);
        }
        return ControlWire.ParseResponse(received.ToArray())
            ?? throw new ControlConnectionException($"{SocketPath}: the server's response is not a control protocol response");
    }

    private int Remaining(long deadline)
    {
        long remaining = deadline - Environment.TickCount64;
        if (remaining <= 0)
            throw new SocketException((int)SocketError.TimedOut);
        return (int)Math.Min(remaining, int.MaxValue);
    }
}

/// <summary>No answer from the control socket: nothing listens there, or the exchange broke or timed out.</summary>
public sealed class ControlConnectionException(string message, Exception? inner = null) : IOException(message, inner);
