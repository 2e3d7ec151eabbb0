// SPDX-License-Identifier: MIT
using FastPath.Core.Logging;

namespace FastPath.Daemon;

/// <summary>
/// Where the lines of -j LOG rules go: the file --log names (appended to), or standard error. Offline the worker
/// writes each line itself; live the management thread drains the workers' logs into it on every turn of its loop.
/// </summary>
internal sealed class LogOutput : IDisposable
{
    private readonly BufferedStream _stream;

    private LogOutput(Stream stream, string name)
    {
        _stream = new BufferedStream(stream, 1 << 16);
        Name = name;
    }

    public string Name { get; }

    public Stream Stream => _stream;

    public static LogOutput Open(RunOptions options)
    {
        if (options.Log is not { } path)
            return new LogOutput(Console.OpenStandardError(), "standard error");
        return new LogOutput(OptionFile.Open("--log", path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite), path);
    }

    /// <summary>Writes what the workers queued since the last call, and flushes it (live).</summary>
    public void Drain(IReadOnlyList<PacketLog> logs)
    {
        int drained = 0;
        foreach (var log in logs)
            drained += log.Drain(_stream);
        if (drained > 0)
            _stream.Flush();
    }

    /// <summary>The summary line, when a LOG rule wrote or lost anything.</summary>
    public void Report(TextWriter output, IReadOnlyList<PacketLog> logs)
    {
        long written = logs.Sum(l => l.Written), lost = logs.Sum(l => l.Lost);
        if (written + lost > 0)
            output.WriteLine($"  log: {written} line(s) written to {Name}, {lost} lost (a worker's queue was full)");
    }

    public void Dispose() => _stream.Dispose();
}
