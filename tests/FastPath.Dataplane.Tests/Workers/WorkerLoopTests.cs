// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using FastPath.Testing;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Dataplane.Tests.Workers;

public class WorkerLoopTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void OneWorkerForwardsBothWaysUnchangedAndInOrder()
    {
        var forward = SyntheticTraffic.Build(new TrafficProfile { Flows = 100, Ipv6Share = 0.3, VlanShare = 0.2 });
        var reverse = SyntheticTraffic.Build(new TrafficProfile { Flows = 100, Ipv6Share = 0.3, VlanShare = 0.2, Reverse = true });
        var a = new MemoryPort("a", 1) { CaptureTransmitted = true };
        var b = new MemoryPort("b", 1) { CaptureTransmitted = true };
        a.Load(0, forward);
        b.Load(0, reverse);

        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions(), _ => default);
        host.RunToCompletion(Timeout);

        Assert.Equal(forward, b.Transmitted.Select(f => f.Bytes));
        Assert.Equal(reverse, a.Transmitted.Select(f => f.Bytes));
        var c = host.ReadCounters();
        Assert.Equal([100L, 100L], c.RxPackets);
        Assert.Equal([100L, 100L], c.TxPackets);
        Assert.Equal(0, c.DropsByReason.Sum());
    }

    [Fact]
    public void MalformedFramesAreDroppedUnderTheirReasonAndTheRestStillCross()
    {
        byte[] good = Ipv4UdpFrame();
        byte[] truncated = Cut(good, 10);
        byte[] badChecksum = (byte[])good.Clone();
        badChecksum[14 + 10] ^= 0xFF;
        var a = new MemoryPort("a", 1) { CaptureTransmitted = true };
        var b = new MemoryPort("b", 1) { CaptureTransmitted = true };
        a.Load(0, [good, truncated, good, badChecksum, good]);

        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions(), _ => default);
        host.RunToCompletion(Timeout);

        Assert.Equal(3, b.Transmitted.Count);
        var c = host.ReadCounters();
        Assert.Equal(1, c.Drops(DropReason.EthernetTruncated));
        Assert.Equal(1, c.Drops(DropReason.Ipv4BadChecksum));
        Assert.Equal(2, c.Dropped[0]);
        Assert.Equal(0, c.Dropped[1]);
    }

    [Fact]
    public void TwoWorkersSteerBothDirectionsOfAFlowToItsOwner()
    {
        const int Workers = 2;
        var forward = SyntheticTraffic.Build(new TrafficProfile { Flows = 400, Sources = 50, Ipv6Share = 0.5 });
        var reverse = SyntheticTraffic.Build(new TrafficProfile { Flows = 400, Sources = 50, Ipv6Share = 0.5, Reverse = true });
        var a = new MemoryPort("a", Workers) { CaptureTransmitted = true };
        var b = new MemoryPort("b", Workers) { CaptureTransmitted = true };
        // Round-robin over the queues, like a device without RSS: about half the frames arrive at the wrong worker.
        for (int q = 0; q < Workers; q++)
        {
            a.Load(q, forward.Where((_, i) => i % Workers == q).ToList());
            b.Load(q, reverse.Where((_, i) => i % Workers == q).ToList());
        }

        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions { Workers = Workers }, _ => default);
        host.RunToCompletion(Timeout);

        // Every frame crossed exactly once, unchanged.
        Assert.Equal(forward.Select(Convert.ToHexString).Order(), b.Transmitted.Select(f => Convert.ToHexString(f.Bytes)).Order());
        Assert.Equal(reverse.Select(Convert.ToHexString).Order(), a.Transmitted.Select(f => Convert.ToHexString(f.Bytes)).Order());
        // Flow i left on the tx queue of its owner, in both directions.
        var queueOf = b.Transmitted.Concat(a.Transmitted).ToDictionary(f => Convert.ToHexString(f.Bytes), f => f.Queue);
        for (int i = 0; i < forward.Count; i++)
        {
            int owner = SyntheticTraffic.OwnerOf(forward[i], Workers);
            Assert.Equal(owner, SyntheticTraffic.OwnerOf(reverse[i], Workers));
            Assert.Equal(owner, queueOf[Convert.ToHexString(forward[i])]);
            Assert.Equal(owner, queueOf[Convert.ToHexString(reverse[i])]);
        }
        var c = host.ReadCounters();
        Assert.True(c.HandedOff.Sum() > 0, "round-robin queues must need handoffs");
        Assert.Equal(c.HandedOff.Sum(), c.HandoffReceivedByWorker.Sum());
        Assert.Equal(0, c.DropsByReason.Sum());
    }

    [Fact]
    public void TheVerdictStageDropsAreCountedAsRuleDrops()
    {
        var a = new MemoryPort("a", 1) { CaptureTransmitted = true };
        var b = new MemoryPort("b", 1) { CaptureTransmitted = true };
        a.Load(0, [Ipv4UdpFrame(destinationPort: 53), Ipv4UdpFrame(destinationPort: 123), Ipv4TcpFrame()]);

        var host = new DataplaneHost<DropDns>([a, b], [(0, 1)], new DataplaneOptions(), _ => default);
        host.RunToCompletion(Timeout);

        Assert.Equal(2, b.Transmitted.Count);
        Assert.Equal(1, host.ReadCounters().Drops(DropReason.RuleDrop));
        Assert.Equal(3, host.Workers[0].Verdict.Seen);
    }

    [Fact]
    public void StopDrainsEverythingInFlight()
    {
        const int Workers = 2;
        var frames = SyntheticTraffic.Build(new TrafficProfile { Flows = 64 });
        var a = new MemoryPort("a", Workers);
        var b = new MemoryPort("b", Workers);
        for (int q = 0; q < Workers; q++)
            a.Load(q, frames, loop: true, loopPeriod: 1000);

        var host = new DataplaneHost<AcceptAll>([a, b], [(0, 1)], new DataplaneOptions { Workers = Workers }, _ => default);
        host.Start();
        SpinWait.SpinUntil(() => host.ReadCounters().TxPackets[1] > 100_000, Timeout);
        host.RequestStop();
        Assert.True(host.Join(Timeout));

        // Conservation: whatever came in either left or was dropped under a reason; nothing is stuck in a ring.
        var c = host.ReadCounters();
        Assert.True(c.RxPackets[0] > 100_000);
        Assert.Equal(c.RxPackets[0], c.TxPackets[1] + c.Dropped[0]);
        Assert.Equal(c.Dropped[0], c.DropsByReason.Sum());
        Assert.Equal((ulong)c.TxPackets[1], b.ReadDeviceCounters().OutPackets);
    }

    private struct DropDns : IVerdictStage
    {
        public int Seen;

        public Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor)
        {
            Seen++;
            return packet.L4 == L4Kind.Udp && packet.DestinationPort == 53 ? Verdict.Drop : Verdict.Accept;
        }

        public void Prepare(ref ParsedPacket packet, ref EvaluationCursor cursor)
        {
        }

        public void Malformed(DropReason reason, int inPort, long timestampNanoseconds)
        {
        }

        public int Owner(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int workers) => FlowSteering.OwnerOf(ref packet, workers);

        public void Housekeeping()
        {
        }

        public bool Abandon(ref EvaluationCursor cursor, out int holder, out int token) => AcceptAll.NothingHeld(out holder, out token);

        public void ForgetAbandoned(int token)
        {
        }

        public readonly int AbandonCapacity => 0;

        public readonly bool Defragments(L3Kind family) => false;

        public readonly VerdictTrace? Trace => null;
    }
}
