// SPDX-License-Identifier: MIT
using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit;

namespace FastPath.Integration.Tests;

/// <summary>Where the repository is and what this machine can do; a test that lacks a capability skips and says why.</summary>
internal static partial class TestEnvironment
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string Sample(string name) => Path.Combine(RepositoryRoot, "samples", name);

    /// <summary>Skips the running test, with the reason printed in the results, when a capability is missing.</summary>
    public static void SkipIf(string? missingCapability)
    {
        if (missingCapability is not null)
            Xunit.Assert.Skip(missingCapability);
    }

    /// <summary>Null when DPDK tests can run here, otherwise the reason they cannot.</summary>
    public static string? DpdkUnavailable()
    {
        if (!File.Exists(Path.Combine(AppContext.BaseDirectory, "libfp_shim.so")))
            return "libfp_shim.so was not built (build.sh builds it against libdpdk-dev)";
        if (GetEuid() != 0)
            return "DPDK vdev tests need root";
        return null;
    }

    /// <summary>Null when the tests may create network namespaces and veth pairs, otherwise why not.</summary>
    public static string? NamespacesUnavailable()
    {
        if (GetEuid() != 0)
            return "creating network namespaces needs root";
        if (Run("ip", "-V").ExitCode != 0)
            return "iproute2 (the ip command) is not installed";
        if (!File.Exists(Python))
            return $"{Python} is not installed";
        return null;
    }

    /// <summary>Null when iptables-legacy (the kernel's x_tables interface) can be used, otherwise why not.</summary>
    public static string? IptablesLegacyUnavailable() =>
        Run("iptables-legacy", "--version").ExitCode == 0 ? null : "iptables-legacy is not installed (Debian package iptables)";

    /// <summary>Null when nfct or conntrack (conntrack-tools, Debian packages of the same names) is installed, otherwise why not.</summary>
    public static string? ToolUnavailable(string program) =>
        // Looked up, not run: they must never touch the root namespace's policies or connections.
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, program)))
            ? null
            : $"{program} is not installed (Debian package {program}, from conntrack-tools)";

    /// <summary>Debian's interpreter: the one the distribution's packages (and AF_PACKET) are set up for.</summary>
    public const string Python = "/usr/bin/python3";

    public static (int ExitCode, string Output) Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments)
            info.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(info)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (127, e.Message);
        }
    }

    public static void RunChecked(string file, params string[] arguments)
    {
        var (code, output) = Run(file, arguments);
        if (code != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({code}): {output}");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FastPath.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("cannot find the repository root (FastPath.sln) above " + AppContext.BaseDirectory);
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();
}

/// <summary>A network namespace this test created, with veth pairs inside it; removed (with its links) on dispose.</summary>
internal sealed class NetworkNamespace : IDisposable
{
    private static int s_counter;

    public NetworkNamespace()
    {
        // A prefix of their own lets concurrent test sessions on one machine tell their namespaces apart at a glance.
        string prefix = Environment.GetEnvironmentVariable("FASTPATH_TEST_NETNS_PREFIX") ?? "fpt";
        Name = $"{prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        TestEnvironment.RunChecked("ip", "netns", "add", Name);
        // No IPv6 autoconfiguration chatter on the test links: only the frames the test sends cross them.
        Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
        Exec("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1");
    }

    public string Name { get; }

    public void AddVethPair(string a, string b)
    {
        TestEnvironment.RunChecked("ip", "-n", Name, "link", "add", a, "type", "veth", "peer", "name", b);
        TestEnvironment.RunChecked("ip", "-n", Name, "link", "set", a, "up");
        TestEnvironment.RunChecked("ip", "-n", Name, "link", "set", b, "up");
    }

    public (int ExitCode, string Output) Exec(string file, params string[] arguments) =>
        TestEnvironment.Run("ip", ["netns", "exec", Name, file, .. arguments]);

    /// <summary>
    /// Runs the test's Python script Kernel/<paramref name="script"/> in the namespace with <paramref name="input"/> on its
    /// standard input, and returns its standard output; fails the test if it does not exit 0 within <paramref name="timeout"/>.
    /// </summary>
    public string RunScript(string script, string input, TimeSpan timeout, params string[] arguments)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "netns", "exec", Name, TestEnvironment.Python, Path.Combine(AppContext.BaseDirectory, "Kernel", script) }.Concat(arguments))
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        string what = string.Join(' ', [script, .. arguments.Take(1)]);
        if (!p.WaitForExit(timeout))
        {
            p.Kill();
            throw new TimeoutException($"{what} did not finish within {timeout.TotalSeconds} s");
        }
        Assert.True(p.ExitCode == 0, $"{what} failed ({p.ExitCode}): {error.Result}");
        return output.Result;
    }

    public void Dispose() => TestEnvironment.Run("ip", "netns", "del", Name);
}
