// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace FastPath.Integration.Tests;

/// <summary>The fastpath executable started as a user would, optionally inside a network namespace.</summary>
internal sealed partial class FastPathProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();

    private FastPathProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "fastpath.dll");

    public static FastPathProcess Start(IEnumerable<string> arguments, string? networkNamespace = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        if (networkNamespace is not null)
        {
            // ip netns exec execs the command in place, so the process id we hold is fastpath's own.
            info.FileName = "ip";
            foreach (string a in new[] { "netns", "exec", networkNamespace, "dotnet" })
                info.ArgumentList.Add(a);
        }
        else
        {
            info.FileName = "dotnet";
        }
        info.ArgumentList.Add(ExecutablePath);
        foreach (string a in arguments)
            info.ArgumentList.Add(a);
        return new FastPathProcess(Process.Start(info)!);
    }

    /// <summary>Runs to the end and returns (exit code, stdout, stderr).</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        using var p = Start(arguments, workingDirectory: workingDirectory);
        int code = p.WaitForExit(timeout);
        return (code, p.Stdout, p.Stderr);
    }

    public string Stdout
    {
        get { lock (_gate) return _stdout.ToString(); }
    }

    public string Stderr
    {
        get { lock (_gate) return _stderr.ToString(); }
    }

    private void Append(StringBuilder target, string? line)
    {
        if (line is null)
            return;
        lock (_gate)
            target.AppendLine(line);
    }

    /// <summary>Waits until stdout contains <paramref name="text"/>; false if the process exited or time ran out first.</summary>
    public bool WaitForOutput(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Stdout.Contains(text, StringComparison.Ordinal))
                return true;
            if (_process.HasExited)
                return Stdout.Contains(text, StringComparison.Ordinal);
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>Sends SIGTERM (or <paramref name="signal"/>) to this process only, as an operator's `kill` would.</summary>
    public void Terminate(int signal = 15)
    {
        if (!_process.HasExited)
            Kill(_process.Id, signal);
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fastpath did not exit within {timeout}; stdout:\n{Stdout}\nstderr:\n{Stderr}");
        }
        _process.WaitForExit(); // flushes the asynchronous output readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
