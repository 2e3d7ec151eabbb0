// SPDX-License-Identifier: MIT
using System.Net.Sockets;
using FastPath.Core;

namespace FastPath.Control;

/// <summary>
/// The control socket, served by the daemon's management thread: a Unix domain stream socket taking one request
/// per connection (docs/control-protocol.md). Nothing here starts a thread; the management loop calls
/// <see cref="ServeOnce"/> between its other duties, and a slow or broken client costs it at most
/// <see cref="ClientTimeout"/> to send its request and as much again to take the response.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly SocketPermissions _permissions;
    private readonly byte[] _request = new byte[ControlWire.MaxRequestBytes]; // one connection at a time: reused
    private Socket? _listener;
    private bool _ownsSocketFile;

    public ControlServer(string path, SocketPermissions permissions, IDataplaneControl backend)
        : this(path, permissions, DataplaneCommands.Create(backend))
    {
    }

    public ControlServer(string path, SocketPermissions permissions, ControlCommands commands)
    {
        Path = path;
        _permissions = permissions;
        Commands = commands;
    }

    public string Path { get; }

    /// <summary>The command table; later features register their paths here.</summary>
    public ControlCommands Commands { get; }

    /// <summary>How long a client may take to send its request, and again to take the response.</summary>
    public TimeSpan ClientTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Creates the socket: a stale socket file left by a dead daemon is removed (a live one is refused), then
    /// bind, chmod, chown and only then listen, so no client can connect before the permissions hold.
    /// </summary>
    public void Start()
    {
        if (_listener is not null)
            throw new InvalidOperationException($"control socket {Path}: already started");
        RemoveStaleSocket();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(Path));
            _ownsSocketFile = true;
            if (Libc.Chmod(Path, (uint)_permissions.Mode) != 0)
                throw new IOException($"control socket {Path}: chmod {Convert.ToString((int)_permissions.Mode, 8)} failed: {Libc.LastError()}");
            if ((_permissions.Uid is not null || _permissions.Gid is not null) && Libc.Chown(Path, _permissions.Uid ?? -1, _permissions.Gid ?? -1) != 0)
                throw new IOException($"control socket {Path}: chown to uid {_permissions.Uid?.ToString() ?? "(unchanged)"} gid {_permissions.Gid?.ToString() ?? "(unchanged)"} failed: {Libc.LastError()}");
            listener.Listen(16);
        }
        catch (SocketException e)
        {
            Abandon(listener);
            throw new IOException($"control socket {Path}: {e.Message}", e);
        }
        catch
        {
            Abandon(listener);
            throw;
        }
        _listener = listener;
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> for a connection and serves it completely. Returns
    /// whether there was one.
    /// </summary>
    public bool ServeOnce(int timeoutMilliseconds)
    {
        var listener = _listener ?? throw new InvalidOperationException($"control socket {Path}: Start() first");
        if (!listener.Poll(TimeSpan.FromMilliseconds(Math.Max(0, timeoutMilliseconds)), SelectMode.SelectRead))
            return false;
        using var client = listener.Accept();
        ControlResponse response;
        try
        {
            response = ReadRequest(client, out var request) ?? Commands.Dispatch(request!);
        }
        catch (ClientGoneException)
        {
            return true;
        }
        Send(client, response);
        return true;
    }

    /// <summary>Closes the socket and removes its file (which .NET's socket may already have done: deleting is idempotent).</summary>
    public void Dispose()
    {
        _listener?.Dispose();
        _listener = null;
        if (_ownsSocketFile)
            File.Delete(Path);
        _ownsSocketFile = false;
    }

    private void Abandon(Socket listener)
    {
        listener.Dispose();
        if (_ownsSocketFile)
            File.Delete(Path);
        _ownsSocketFile = false;
    }

    /// <summary>
    /// A socket file nobody listens on is what a crashed daemon leaves: connecting to it is refused. A file
    /// that accepts the connection (or whose backlog is full) belongs to a running server and stays.
    /// </summary>
    private void RemoveStaleSocket()
    {
        if (CheckFree(Path))
            File.Delete(Path);
    }

    /// <summary>
    /// Whether a server could take <paramref name="path"/>: nothing is there (false), or a socket nobody listens on,
    /// a dead daemon's, which <see cref="Start"/> removes (true). Anything else throws, saying why: a daemon calls
    /// this before it opens its devices, and <see cref="Start"/> again.
    /// </summary>
    public static bool CheckFree(string path)
    {
        switch (UnixFile.Kind(path))
        {
            case UnixFileKind.Missing:
                return false;
            case UnixFileKind.Directory:
                throw new IOException($"control socket {path}: is a directory");
            case not UnixFileKind.Socket:
                // Only a socket left by a server that is gone may be removed: a mistyped path must not cost a file.
                throw new IOException($"control socket {path}: exists and is not a socket");
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is not (SocketError.WouldBlock or SocketError.InProgress))
        {
            throw new IOException($"control socket {path}: exists and cannot be probed: {e.Message}", e);
        }
        throw new InvalidOperationException($"control socket {path}: another server is listening on it (is fastpath already running?)");
    }

    /// <summary>Reads one request into <paramref name="request"/>, or returns the error response to send instead.</summary>
    private ControlResponse? ReadRequest(Socket client, out ControlRequest? request)
    {
        request = null;
        long deadline = Environment.TickCount64 + (long)ClientTimeout.TotalMilliseconds;
        int length = 0, newline;
        while ((newline = _request.AsSpan(0, length).IndexOf((byte)'\n')) < 0)
        {
            if (length == _request.Length)
                return TooLarge();
            if (Receive(client, ref length, deadline) is { } failed)
                return failed;
        }
        request = ControlWire.ParseHeader(_request.AsSpan(0, newline), out int payloadLength, out string error);
        if (request is null)
            return ControlResponse.Fail(ControlError.EINVAL, error);
        int end = newline + 1 + payloadLength;
        if (end > _request.Length)
            return TooLarge();
        while (length < end)
        {
            if (Receive(client, ref length, deadline) is { } failed)
                return failed;
        }
        request = request with { Payload = _request[(newline + 1)..end] };
        return null;
    }

    /// <summary>
    /// Receives what has arrived; the answer instead when the deadline passed first, or when the client closed its side
    /// in the middle of a request (it may still read the answer). A client that hung up before sending anything is gone.
    /// </summary>
    private ControlResponse? Receive(Socket client, ref int length, long deadline)
    {
        long remaining = deadline - Environment.TickCount64;
        if (remaining <= 0)
            return TimedOut();
        client.ReceiveTimeout = (int)Math.Min(remaining, int.MaxValue); // at least 1: 0 would mean forever
        int received;
        try
        {
            received = client.Receive(_request, length, _request.Length - length, SocketFlags.None);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            return TimedOut();
        }
        catch (SocketException)
        {
            throw new ClientGoneException();
        }
        if (received == 0)
        {
            return length > 0
                ? ControlResponse.Fail(ControlError.EINVAL, $"the request ends after {length} bytes: the client closed its side before the end of the header or data")
                : throw new ClientGoneException();
        }
        length += received;
        return null;
    }

    private void Send(Socket client, ControlResponse response)
    {
        byte[] bytes = ControlWire.EncodeResponse(response);
        long deadline = Environment.TickCount64 + (long)ClientTimeout.TotalMilliseconds;
        try
        {
            for (int sent = 0; sent < bytes.Length; sent += client.Send(bytes, sent, bytes.Length - sent, SocketFlags.None))
            {
                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                    return;
                client.SendTimeout = (int)Math.Min(remaining, int.MaxValue);
            }
        }
        catch (SocketException)
        {
            // The client left or stopped reading: the response is its loss, not the management thread's.
        }
    }

    private static ControlResponse TooLarge() =>
        ControlResponse.Fail(ControlError.EMSGSIZE, $"a request (header and data) is at most {ControlWire.MaxRequestBytes} bytes");

    private ControlResponse TimedOut() =>
        ControlResponse.Fail(ControlError.ETIMEDOUT, $"no complete request within {ClientTimeout.TotalSeconds:0.###} s");

    private sealed class ClientGoneException : Exception;
}
