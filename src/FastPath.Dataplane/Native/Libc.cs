// SPDX-License-Identifier: MIT
using System.Runtime.InteropServices;

namespace FastPath.Dataplane.Native;

/// <summary>The few libc calls the runtime does not expose: per-thread CPU affinity and the current CPU.</summary>
internal static unsafe partial class Libc
{
    // A pid of 0 means the calling thread: sched_setaffinity acts on one thread, not the process.
    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static partial int SchedSetAffinity(int pid, nuint cpuSetSize, byte* mask);

    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    public static partial int SchedGetAffinity(int pid, nuint cpuSetSize, byte* mask);

    [LibraryImport("libc", EntryPoint = "sched_getcpu")]
    public static partial int SchedGetCpu();

    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetTid();
}
