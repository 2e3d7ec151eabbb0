// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Rules;
using FastPath.Dataplane.Ports;
using FastPath.Dataplane.Workers;
using Xunit;

namespace FastPath.Dataplane.Tests.Workers;

/// <summary>The management thread's way into a worker: actions run on the worker's own thread, between polls.</summary>
public class WorkerMailboxTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private struct CountingStage : IVerdictStage
    {
        public int Seen;

        public Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor)
        {
            Seen++;
            return Verdict.Accept;
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

    private static DataplaneHost<CountingStage> Busy(int workers)
    {
        var a = new MemoryPort("a", workers, hashesFlowsToQueues: true);
        var b = new MemoryPort("b", workers, hashesFlowsToQueues: true);
        for (int q = 0; q < workers; q++)
            a.Load(q, [FastPath.Testing.TestFrames.Ipv4UdpFrame()], loop: true, loopPeriod: 1000);
        return new DataplaneHost<CountingStage>([a, b], [(0, 1)], new DataplaneOptions { Workers = workers }, _ => default);
    }

    [Fact]
    public void ActionsRunOnEachWorkersOwnThreadWhileItForwards()
    {
        var host = Busy(workers: 2);
        host.Start();
        SpinWait.SpinUntil(() => host.ReadCounters().TxPackets[1] > 10_000, Timeout);
        var threads = new string?[2];
        var seen = new int[2];
        host.RunOnWorkers(w => (ref CountingStage stage) =>
        {
            threads[w] = Thread.CurrentThread.Name;
            seen[w] = stage.Seen;
        }, Timeout);
        host.RequestStop();
        Assert.True(host.Join(Timeout));

        Assert.Equal("fp-worker-0", threads[0]);
        Assert.Equal("fp-worker-1", threads[1]);
        Assert.All(seen, s => Assert.True(s > 0));
    }

    [Fact]
    public void AFailingActionIsReportedToTheCallerAndTheWorkerGoesOn()
    {
        var host = Busy(workers: 1);
        host.Start();
        var error = Assert.Throws<InvalidOperationException>(() =>
            host.RunOnWorkers(_ => (ref CountingStage _) => throw new FormatException("bad request"), Timeout));
        Assert.Contains("bad request", error.Message);
        long before = host.ReadCounters().TxPackets[1];
        SpinWait.SpinUntil(() => host.ReadCounters().TxPackets[1] > before + 1000, Timeout);
        host.RequestStop();
        Assert.True(host.Join(Timeout));
        Assert.True(host.ReadCounters().TxPackets[1] > before + 1000, "the worker stopped forwarding");
    }

    [Fact]
    public void AnActionAWorkerIsLateForTimesOutStaysPostedAndStillRuns()
    {
        var host = Busy(workers: 1);
        host.Start();
        using var release = new ManualResetEventSlim();
        bool ran = false;
        var late = Assert.Throws<TimeoutException>(() => host.RunOnWorkers(_ => (ref CountingStage _) =>
        {
            release.Wait(); // the worker is held inside the action, so it does not finish in time
            ran = true;
        }, TimeSpan.FromMilliseconds(100)));
        Assert.Equal("worker 0 did not run the control action within 0.1 s (it runs it when it gets to it)", late.Message);
        var pending = Assert.Throws<TimeoutException>(() => host.RunOnWorkers(_ => (ref CountingStage _) => { }, Timeout));
        Assert.Equal("worker 0 has not yet run the previous control action", pending.Message);

        release.Set();
        Assert.True(SpinWait.SpinUntil(() => host.Workers[0].Mailbox.IsIdle, Timeout));
        Assert.True(ran);
        host.RunOnWorkers(_ => (ref CountingStage _) => { }, Timeout); // and the next one is taken again
        host.RequestStop();
        Assert.True(host.Join(Timeout));
    }

    [Fact]
    public void AStoppedWorkersActionRunsOnTheCaller()
    {
        var host = Busy(workers: 1);
        host.Start();
        host.RequestStop();
        Assert.True(host.Join(Timeout));
        string? thread = "unset";
        host.RunOnWorkers(_ => (ref CountingStage _) => thread = Thread.CurrentThread.Name, Timeout);
        Assert.Equal(Thread.CurrentThread.Name, thread);
    }
}
