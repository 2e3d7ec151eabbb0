// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Workers;
using Xunit;

namespace FastPath.Dataplane.Tests.Workers;

public class CpuAffinityTests
{
    [Fact]
    public void PinsOnlyTheCallingThread()
    {
        var before = CpuAffinity.CurrentThreadCores();
        int target = before[^1];
        IReadOnlyList<int>? pinned = null;
        int cpu = -1;
        var thread = new Thread(() =>
        {
            CpuAffinity.PinCurrentThread(target);
            pinned = CpuAffinity.CurrentThreadCores();
            cpu = CpuAffinity.CurrentCpu();
        });
        thread.Start();
        thread.Join();

        Assert.Equal([target], pinned);
        Assert.Equal(target, cpu);
        // The test's own thread (and so the process) keeps its mask.
        Assert.Equal(before, CpuAffinity.CurrentThreadCores());
    }

    [Fact]
    public void RefusesACoreThatDoesNotExist() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuAffinity.PinCurrentThread(-1));
}
