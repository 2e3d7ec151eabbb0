// SPDX-License-Identifier: MIT
using FastPath.Control.Conntrack;
using FastPath.Core.Conntrack.Timeouts;

namespace FastPath.Control.Tests;

/// <summary>
/// A real <see cref="ControlServer"/> on a socket in a fresh temporary directory, over a
/// <see cref="SingleShardControl"/>. <see cref="Call{T}"/> runs the client on another thread while the test's
/// thread serves, as the management thread would: the backend is only ever touched by the test's thread.
/// </summary>
internal sealed class ServerFixture : IDisposable
{
    public const string SshRules = """
        *raw
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --rttl --name SSH --rsource -j DROP
        -A PREROUTING -p tcp -m tcp --dport 22 -m recent --set --name SSH --rsource
        -A PREROUTING -p udp -m recent --rcheck --name DNS --rsource
        COMMIT
        """;

    public ServerFixture(string rules = SshRules, string? rules6 = null, SocketPermissions? permissions = null, TimeSpan? clientTimeout = null)
    {
        Directory = TemporaryDirectory.Create();
        RulesFile = Path.Combine(Directory, "rules.v4");
        File.WriteAllText(RulesFile, rules);
        string? rules6File = null;
        if (rules6 is not null)
        {
            rules6File = Path.Combine(Directory, "rules.v6");
            File.WriteAllText(rules6File, rules6);
        }
        Backend = new SingleShardControl(RulesFile, rules6File);
        SocketPath = Path.Combine(Directory, "control.sock");
        Server = new ControlServer(SocketPath, permissions ?? SocketPermissions.OwnerOnly, Backend)
        {
            ClientTimeout = clientTimeout ?? TimeSpan.FromSeconds(2),
        };
        ConntrackCommands.Register(Server.Commands, Backend, Backend.Timeouts);
        NfctCommands.Register(Server.Commands, new NfctTool(Backend.Timeouts));
        Server.Start();
        Client = new ControlClient(SocketPath, TimeSpan.FromSeconds(10));
    }

    public string Directory { get; }
    public string RulesFile { get; }
    public string SocketPath { get; }
    public SingleShardControl Backend { get; }
    public ControlServer Server { get; }
    public ControlClient Client { get; }

    /// <summary>Runs <paramref name="call"/> on a pool thread and serves on this one until it is done.</summary>
    public T Call<T>(Func<ControlClient, T> call)
    {
        var pending = Task.Run(() => call(Client));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!pending.IsCompleted && DateTime.UtcNow < deadline)
            Server.ServeOnce(20);
        return pending.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        Server.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

internal static class TemporaryDirectory
{
    /// <summary>A new directory under /tmp with a short name: a socket path must fit in 108 bytes.</summary>
    public static string Create()
    {
        string path = Path.Combine(Path.GetTempPath(), "fpctl-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }
}
