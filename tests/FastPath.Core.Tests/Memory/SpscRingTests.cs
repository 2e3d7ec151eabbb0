// SPDX-License-Identifier: MIT
using FastPath.Core.Memory;
using Xunit;

namespace FastPath.Core.Tests.Memory;

public class SpscRingTests
{
    [Fact]
    public void FillsToCapacityThenRefuses()
    {
        var ring = new SpscRing<long>(4);
        for (long i = 0; i < 4; i++)
            Assert.True(ring.TryEnqueue(i));
        Assert.False(ring.TryEnqueue(99));
        Assert.True(ring.TryDequeue(out long first));
        Assert.Equal(0, first);
        Assert.True(ring.TryEnqueue(4));
        for (long expected = 1; expected <= 4; expected++)
        {
            Assert.True(ring.TryDequeue(out long v));
            Assert.Equal(expected, v);
        }
        Assert.False(ring.TryDequeue(out _));
        Assert.True(ring.IsEmpty);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void CapacityMustBeAPowerOfTwo(int capacity) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpscRing<int>(capacity));

    [Fact]
    public void OneProducerOneConsumerSeeEveryItemInOrder()
    {
        const long Items = 2_000_000;
        var ring = new SpscRing<long>(256);
        long received = 0, outOfOrder = 0;
        var consumer = new Thread(() =>
        {
            long expected = 0;
            while (expected < Items)
            {
                if (ring.TryDequeue(out long v))
                {
                    if (v != expected)
                        outOfOrder++;
                    expected++;
                }
            }
            received = expected;
        });
        consumer.Start();
        for (long i = 0; i < Items;)
        {
            if (ring.TryEnqueue(i))
                i++;
        }
        consumer.Join();
        Assert.Equal(Items, received);
        Assert.Equal(0, outOfOrder);
    }
}
