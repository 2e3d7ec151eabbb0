// SPDX-License-Identifier: MIT
using System.Globalization;
using System.Runtime.CompilerServices;
using FastPath.Core.Memory;
using Xunit;

namespace FastPath.Core.Tests.Memory;

public class HugePageArrayTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(1000)]
    [InlineData(1 << 20)] // 8 MB of ulongs: the huge-page path
    public void StartsZeroedAndKeepsWhatIsWritten(int length)
    {
        var array = new HugePageArray<ulong>(length);

        Assert.Equal(length, array.Length);
        Assert.Equal(0UL, array[0]);
        Assert.Equal(0UL, array[length - 1]);
        array[length - 1] = 42;
        array[0u] += 7;
        Assert.Equal(42UL, array[length - 1]);
        Assert.Equal(7UL, array[0]);
        array.Fill(3);
        Assert.Equal(3UL, array[length / 2]);
    }

    [Fact]
    public void RefusesIndexesOutsideIt()
    {
        var array = new HugePageArray<int>(10);

        Assert.Throws<IndexOutOfRangeException>(() => array[10]);
        Assert.Throws<IndexOutOfRangeException>(() => array[-1]);
        Assert.Throws<IndexOutOfRangeException>(() => array[10u]);
    }

    /// <summary>Where the kernel offers transparent huge pages for madvised memory, a large table sits on them.</summary>
    [Fact]
    public unsafe void ALargeArrayIsBackedByHugePages()
    {
        string mode = File.Exists(ThpEnabled) ? File.ReadAllText(ThpEnabled) : "[never]";
        Assert.SkipWhen(mode.Contains("[never]"), $"transparent huge pages are off here ({ThpEnabled}: {mode.Trim()})");
        var array = new HugePageArray<byte>(8 << 20);
        ulong address = (ulong)Unsafe.AsPointer(ref array[0]);

        long hugeKb = AnonHugePagesKbOfMappingAt(address);

        Assert.True(hugeKb >= 2048, $"the mapping at 0x{address:x} has {hugeKb} kB of huge pages");
        GC.KeepAlive(array);
    }

    private const string ThpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled";

    private static long AnonHugePagesKbOfMappingAt(ulong address)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out ulong end))
            {
                inside = address >= start && address < end;
            }
            else if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan("AnonHugePages:".Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }
}
