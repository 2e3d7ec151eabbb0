// SPDX-License-Identifier: MIT
using System.Runtime.InteropServices;
using System.Text;

namespace FastPath.Dataplane.Native;

/// <summary>
/// The DPDK Environment Abstraction Layer. DPDK allows one initialisation per process, so this is a
/// process-wide singleton: the first <see cref="Initialize"/> wins and later calls must pass the same arguments.
/// </summary>
public static unsafe class Eal
{
    private static readonly object Gate = new();
    private static string[]? s_arguments;
    private static double s_nanosecondsPerTick;

    /// <summary>The shim ABI this build speaks (FP_SHIM_ABI_VERSION).</summary>
    public const uint ShimAbiVersion = NativeMethods.ExpectedAbiVersion;

    /// <summary>Nanoseconds per TSC tick, known once the EAL is up.</summary>
    public static double NanosecondsPerTick => s_nanosecondsPerTick;

    /// <summary>Checks that the native shim can be loaded and speaks our ABI; returns a reason when not.</summary>
    public static string? ProbeShim()
    {
        try
        {
            uint version = NativeMethods.AbiVersion();
            return version == NativeMethods.ExpectedAbiVersion
                ? null
                : $"libfp_shim.so has ABI version {version}, this build expects {NativeMethods.ExpectedAbiVersion}: rebuild with ./build.sh";
        }
        catch (DllNotFoundException e)
        {
            return $"libfp_shim.so could not be loaded ({e.Message}); build it with ./build.sh";
        }
    }

    /// <summary>Starts the EAL with the user's arguments, passed through unchanged after a program name.</summary>
    public static void Initialize(IReadOnlyList<string> arguments)
    {
        lock (Gate)
        {
            if (s_arguments is not null)
            {
                if (!s_arguments.SequenceEqual(arguments))
                    throw new DpdkException("the DPDK EAL is already running with other arguments (DPDK allows one initialisation per process)", 0);
                return;
            }
            string? problem = ProbeShim();
            if (problem is not null)
                throw new DpdkException(problem, 0);

            var argv = new List<string>(arguments.Count + 1) { "fastpath" };
            argv.AddRange(arguments);
            int ret = CallInit(argv);
            if (ret < 0)
                throw new DpdkException($"rte_eal_init failed with arguments '{string.Join(' ', arguments)}'", ret);
            s_nanosecondsPerTick = 1e9 / NativeMethods.TscHz();
            s_arguments = arguments.ToArray();
        }
    }

    private static int CallInit(List<string> argv)
    {
        // rte_eal_init keeps pointers into argv (e.g. for --vdev strings), so the strings live in native memory for the process lifetime.
        byte** native = (byte**)NativeMemory.Alloc((nuint)(argv.Count + 1), (nuint)sizeof(byte*));
        for (int i = 0; i < argv.Count; i++)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(argv[i]);
            byte* copy = (byte*)NativeMemory.Alloc((nuint)utf8.Length + 1);
            utf8.CopyTo(new Span<byte>(copy, utf8.Length));
            copy[utf8.Length] = 0;
            native[i] = copy;
        }
        native[argv.Count] = null;
        return NativeMethods.EalInit(argv.Count, native);
    }

    /// <summary>Nanoseconds on the TSC clock: cheap enough to read once per burst.</summary>
    public static long NowNanoseconds() => (long)(NativeMethods.Tsc() * s_nanosecondsPerTick);
}

public sealed class DpdkException : Exception
{
    public DpdkException(string message, int negativeErrno)
        : base(negativeErrno == 0 ? message : $"{message}: {Marshal.GetPInvokeErrorMessage(-negativeErrno)} (errno {-negativeErrno})")
    {
        Errno = -negativeErrno;
    }

    public int Errno { get; }
}
