// SPDX-License-Identifier: MIT
using FastPath.Core.Packets;
using FastPath.Core.Rules;

namespace FastPath.Dataplane.Workers;

public enum Verdict : byte
{
    Accept,
    Drop,

    /// <summary>Undecided: the worker named by the cursor's owner continues from the cursor.</summary>
    Continue,

    /// <summary>Dropped by connection tracking (<see cref="DropReason.ConntrackTableFull"/>).</summary>
    ConntrackTableFull,

    /// <summary>Dropped by connection tracking (<see cref="DropReason.ConntrackClash"/>).</summary>
    ConntrackClash,
}

/// <summary>
/// Decides the fate of each well-formed frame. Each worker owns its own instance (a struct, so the worker
/// loop is specialised for it and the call inlines); it is only ever called from that worker's thread.
/// A stage whose state is sharded between workers may answer <see cref="Verdict.Continue"/>: the frame
/// then travels with <paramref name="cursor"/> to the worker it names, whose stage resumes from it.
/// </summary>
public interface IVerdictStage
{
    Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor);

    /// <summary>
    /// Called for each well-formed frame of a burst as soon as it is parsed, with the fresh cursor its decision
    /// will take, before any frame of the burst is decided: the stage starts loading the state the decision will
    /// read, so the burst's cache misses overlap, and may note in the cursor what it learnt on the way.
    /// </summary>
    void Prepare(ref ParsedPacket packet, ref EvaluationCursor cursor);

    /// <summary>Told about each frame the parser refused (so a verdict trace can list every frame).</summary>
    void Malformed(DropReason reason, int inPort, long timestampNanoseconds);

    /// <summary>
    /// With software steering, the worker an IP frame should be decided on: the owner of its flow
    /// (<see cref="FlowSteering.OwnerOf"/>), or of the state the stage keeps per something else.
    /// </summary>
    int Owner(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int workers);

    /// <summary>Called by the worker on each turn of its loop, between bursts: the stage's own upkeep (a sweep management asked for), within a small budget.</summary>
    void Housekeeping();

    /// <summary>
    /// The frame is dropped before its evaluation finished (the next worker's ring was full). The stage releases
    /// what the cursor holds in this worker's state. What it holds in another worker's state only that worker may
    /// release: the stage then returns true with that worker and a token, which the worker sends there for
    /// <see cref="ForgetAbandoned"/>.
    /// </summary>
    bool Abandon(ref EvaluationCursor cursor, out int holder, out int token);

    /// <summary>Releases what an abandoned frame held in this worker's state, named by the token another worker's <see cref="Abandon"/> gave.</summary>
    void ForgetAbandoned(int token);

    /// <summary>
    /// The most tokens of this worker's state that can be outstanding at once (0: frames never hold anything here).
    /// It sizes the rings that carry tokens to this worker, so that sending one never fails.
    /// </summary>
    int AbandonCapacity { get; }

    /// <summary>
    /// True while the stage tracks the family's connections: its fragments are then reassembled before the stage sees
    /// them, as the kernel's nf_defrag hooks do wherever conntrack runs, and it decides each datagram once.
    /// </summary>
    bool Defragments(L3Kind family);

    /// <summary>The verdict trace the stage writes, if any: held fragments get their lines through it.</summary>
    VerdictTrace? Trace { get; }
}

public static class FlowSteering
{
    /// <summary>The worker owning the packet's flow: both directions of a connection hash alike.</summary>
    public static int OwnerOf(ref ParsedPacket packet, int workers) => (int)(((ulong)FlowHash.Symmetric(packet) * (uint)workers) >> 32);

    /// <summary>The worker reassembling a fragment's datagram: by addresses and protocol alone, which every fragment of it carries.</summary>
    public static int FragmentOwnerOf(ref ParsedPacket packet, int workers)
    {
        var addresses = new ParsedPacket { L3 = packet.L3, Source = packet.Source, Destination = packet.Destination, Protocol = packet.Protocol };
        return OwnerOf(ref addresses, workers);
    }
}

/// <summary>The empty ruleset: every well-formed frame crosses the wire.</summary>
public struct AcceptAll : IVerdictStage
{
    public Verdict Decide(ref ParsedPacket packet, ReadOnlySpan<byte> frame, int inPort, long timestampNanoseconds, ref EvaluationCursor cursor) => Verdict.Accept;

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

    public bool Abandon(ref EvaluationCursor cursor, out int holder, out int token) => NothingHeld(out holder, out token);

    public void ForgetAbandoned(int token)
    {
    }

    public readonly int AbandonCapacity => 0;

    public readonly bool Defragments(L3Kind family) => false;

    public readonly VerdictTrace? Trace => null;

    /// <summary><see cref="IVerdictStage.Abandon"/> for a stage whose frames hold nothing.</summary>
    public static bool NothingHeld(out int holder, out int token)
    {
        (holder, token) = (0, 0);
        return false;
    }
}
