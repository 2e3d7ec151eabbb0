// SPDX-License-Identifier: MIT
using System.Runtime.InteropServices;
using FastPath.Dataplane.Native;

namespace FastPath.Dataplane.Workers;

/// <summary>Pins the calling thread (not the process) to one core and proves it did.</summary>
public static unsafe class CpuAffinity
{
    private const int MaskBytes = 128; // 1024 CPUs, glibc's cpu_set_t

    /// <summary>Sets the calling thread's affinity to exactly <paramref name="core"/>, then reads it back.</summary>
    public static void PinCurrentThread(int core)
    {
        if (core < 0 || core >= MaskBytes * 8)
            throw new ArgumentOutOfRangeException(nameof(core), core, "no such core");
        byte* mask = stackalloc byte[MaskBytes];
        new Span<byte>(mask, MaskBytes).Clear();
        mask[core / 8] = (byte)(1 << (core % 8));
        if (Libc.SchedSetAffinity(0, MaskBytes, mask) != 0)
            throw new InvalidOperationException($"cannot pin thread to core {core}: {Marshal.GetLastPInvokeErrorMessage()}");
        var cores = CurrentThreadCores();
        if (cores.Count != 1 || cores[0] != core)
            throw new InvalidOperationException($"pinned to core {core} but the thread's affinity reads back as [{string.Join(',', cores)}]");
    }

    /// <summary>The cores the calling thread may run on.</summary>
    public static IReadOnlyList<int> CurrentThreadCores()
    {
        byte* mask = stackalloc byte[MaskBytes];
        if (Libc.SchedGetAffinity(0, MaskBytes, mask) != 0)
            throw new InvalidOperationException($"sched_getaffinity failed: {Marshal.GetLastPInvokeErrorMessage()}");
        var cores = new List<int>();
        for (int i = 0; i < MaskBytes * 8; i++)
        {
            if ((mask[i / 8] & (1 << (i % 8))) != 0)
                cores.Add(i);
        }
        return cores;
    }

    public static int CurrentCpu() => Libc.SchedGetCpu();

    public static int CurrentThreadId() => Libc.GetTid();
}
