// SPDX-License-Identifier: MIT
using System.Buffers.Binary;
using FastPath.Core.Conntrack.Defrag;
using FastPath.Core.Packets;
using Xunit;
using static FastPath.Testing.TestFrames;

namespace FastPath.Core.Tests.Conntrack.Defrag;

/// <summary>
/// The defragmenter against what ip_frag_queue, nf_ct_frag6_queue and inet_frag_queue_insert do with each fragment:
/// held, refused alone, the whole datagram discarded, passed on unreassembled, or completing the datagram, which is
/// rebuilt from the first fragment's headers.
/// </summary>
public sealed unsafe class DefragmenterTests
{
    private readonly Defragmenter _defragmenter;

    public DefragmenterTests() : this(null)
    {
    }

    private DefragmenterTests(ReassemblySettings? settings) => _defragmenter = new Defragmenter(settings);
    private readonly List<byte[]> _pinned = [];
    private const long Second = 1_000_000_000;

    // 40 bytes of UDP (8 of header, 32 of data) to port 53: fragments of 16, 16 and 8 bytes.
    private static readonly byte[] s_udp = Udp(40000, 53, [.. Enumerable.Range(0, 32).Select(i => (byte)i)]);

    private static byte[] V4(int offset, int length, bool more, byte protocol = 17, byte tos = 0, ushort id = 0x1234, byte[]? payload = null,
        string source = Client4) =>
        Ethernet(EtherTypeIPv4, Ipv4(protocol, (payload ?? s_udp).AsSpan(offset, length).ToArray(), source, moreFragments: more, fragmentOffset: offset, tos: tos,
            patch: h => BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), id)));

    private static byte[] V6(int offset, int length, bool more, byte[]? before = null, byte[]? payload = null, uint id = 0xCAFE)
    {
        var fragment = Fragment(17, offset, more, id).Concat((payload ?? s_udp).AsSpan(offset, length).ToArray()).ToArray();
        return Ethernet(EtherTypeIPv6, Ipv6(before is null ? (byte)44 : (byte)60, before is null ? fragment : [.. before, .. fragment]));
    }

    private (FragmentOutcome Outcome, int Queue, int Discarded, DropReason Reason) Offer(byte[] frame, long now = 0)
    {
        var pinned = GC.AllocateArray<byte>(frame.Length, pinned: true);
        frame.CopyTo(pinned, 0);
        _pinned.Add(pinned);
        var packet = new ParsedPacket();
        var parsed = PacketParser.Parse(pinned, ref packet);
        Assert.True(parsed == DropReason.None || packet.Fragment == FragmentKind.First, $"the test frame does not parse: {parsed}");
        fixed (byte* data = pinned)
        {
            var fragment = new HeldFragment { Handle = _pinned.Count, Data = (nint)data, Length = (uint)pinned.Length, WireLength = (uint)pinned.Length, Timestamp = now };
            var outcome = _defragmenter.Offer(pinned, packet, fragment, now, out int queue, out int discarded, out int restarted, out var reason);
            Restarted = restarted;
            return (outcome, queue, discarded, reason);
        }
    }

    /// <summary>The queue the last offer restarted (ip_frag_reinit), or -1.</summary>
    private int Restarted { get; set; } = -1;

    private List<nint> Held(int queue)
    {
        var handles = new List<nint>();
        foreach (ref readonly var fragment in _defragmenter.Fragments(queue))
            handles.Add(fragment.Handle);
        return handles;
    }

    [Fact]
    public void FragmentsInAnyOrderMakeTheDatagramTheSenderFragmented()
    {
        byte[] whole = Ethernet(EtherTypeIPv4, Ipv4(17, s_udp));
        foreach (int[] order in new[] { new[] { 0, 1, 2 }, [2, 1, 0], [1, 0, 2], [2, 0, 1] })
        {
            var defragmenter = new DefragmenterTests();
            var frames = new[] { V4(0, 16, true), V4(16, 16, true), V4(32, 8, false) };
            for (int i = 0; i < 2; i++)
                Assert.Equal(FragmentOutcome.Held, defragmenter.Offer(frames[order[i]]).Outcome);
            var (outcome, queue, discarded, _) = defragmenter.Offer(frames[order[2]]);
            Assert.Equal(FragmentOutcome.Complete, outcome);
            Assert.Equal(-1, discarded);
            Assert.Equal(whole, defragmenter._defragmenter.Datagram(queue).ToArray());
            // Handed back in offset order: the handles are the frames' arrival numbers.
            Assert.Equal(order.Select((f, arrival) => (f, arrival)).OrderBy(x => x.f).Select(x => (nint)(x.arrival + 1)), defragmenter.Held(queue));
            var packet = new ParsedPacket();
            Assert.Equal(DropReason.None, PacketParser.Parse(defragmenter._defragmenter.Datagram(queue), ref packet));
            Assert.Equal((FragmentKind.None, (ushort)53, 60), (packet.Fragment, packet.DestinationPort, packet.IpLength));
        }
    }

    [Fact]
    public void AFragmentInsideDataHeldIsDroppedAloneAndTheDatagramStillCompletes()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true)).Outcome);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(16, 16, true)).Outcome);
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.FragmentDuplicate), Drop(Offer(V4(16, 16, true))));
        // Inside the run 0-32 the first two made (the second joined the first at its end): a duplicate too.
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.FragmentDuplicate), Drop(Offer(V4(8, 16, true))));
        Assert.Equal(FragmentOutcome.Complete, Offer(V4(32, 8, false)).Outcome);
    }

    private static (FragmentOutcome, int, DropReason) Drop((FragmentOutcome Outcome, int Queue, int Discarded, DropReason Reason) r) => (r.Outcome, r.Discarded, r.Reason);

    [Fact]
    public void AFragmentAcrossTwoRunsOverlapsEvenIfEveryByteIsHeld()
    {
        // 0-16, then 24-32 after a hole: two runs.
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true)).Outcome);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(24, 8, true)).Outcome);
        // 8-32 covers data of both runs 0-16 and 24-32 without lying inside either: the datagram is discarded.
        var (outcome, _, discarded, reason) = Offer(V4(8, 24, true));
        Assert.Equal((FragmentOutcome.Dropped, DropReason.FragmentOverlap), (outcome, reason));
        Assert.Equal([1, 2], Held(discarded));
        _defragmenter.Release(discarded);
        // A fresh queue takes the same datagram's fragments again.
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true)).Outcome);
        Assert.Equal(1, _defragmenter.QueuesInUse);
    }

    [Fact]
    public void AFragmentStartingInsideTheTailAndEndingPastItOverlaps()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true)).Outcome);
        var (outcome, _, discarded, reason) = Offer(V4(8, 16, true));
        Assert.Equal((FragmentOutcome.Dropped, DropReason.FragmentOverlap), (outcome, reason));
        Assert.Equal([1], Held(discarded));
    }

    [Fact]
    public void Ipv4DiscardsTheDatagramOnAnInconsistentLastFragmentIpv6DropsOnlyTheFragment()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(32, 8, false)).Outcome);
        var v4 = Offer(V4(16, 8, false)); // a second last fragment with another end
        Assert.Equal((FragmentOutcome.Dropped, DropReason.FragmentInconsistent), (v4.Outcome, v4.Reason));
        Assert.Equal([1], Held(v4.Discarded));
        _defragmenter.Release(v4.Discarded);

        Assert.Equal(FragmentOutcome.Held, Offer(V6(32, 8, false)).Outcome);
        var v6 = Offer(V6(16, 8, false));
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.FragmentInconsistent), Drop(v6));
        // Data past the last fragment's end: refused alone too.
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.FragmentInconsistent), Drop(Offer(V6(32, 16, true, payload: new byte[48]))));
        Assert.Equal(FragmentOutcome.Held, Offer(V6(0, 16, true)).Outcome);
        Assert.Equal(FragmentOutcome.Complete, Offer(V6(16, 16, true)).Outcome);
    }

    [Fact]
    public void AnIpv4FragmentNotEndingOnEightBytesIsCutAnIpv6OneDiscardsTheDatagramAndGoesOn()
    {
        // IPv4: 0-20 is held as 0-16, so 16-40 completes the datagram.
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 20, true)).Outcome);
        var (outcome, queue, _, _) = Offer(V4(16, 24, false));
        Assert.Equal(FragmentOutcome.Complete, outcome);
        Assert.Equal(Ethernet(EtherTypeIPv4, Ipv4(17, s_udp)), _defragmenter.Datagram(queue).ToArray());

        Assert.Equal(FragmentOutcome.Held, Offer(V6(0, 16, true)).Outcome);
        var v6 = Offer(V6(16, 12, true));
        Assert.Equal((FragmentOutcome.PassThrough, DropReason.FragmentMisaligned), (v6.Outcome, v6.Reason));
        Assert.Equal([3], Held(v6.Discarded));
    }

    [Fact]
    public void AnEmptyFragmentIsInconsistent()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true)).Outcome);
        // More fragments, 5 bytes at 16: cut to 16-16, empty. IPv4 discards the datagram.
        var (outcome, _, discarded, reason) = Offer(V4(16, 5, true));
        Assert.Equal((FragmentOutcome.Dropped, DropReason.FragmentInconsistent), (outcome, reason));
        Assert.Equal([1], Held(discarded));
    }

    [Fact]
    public void DatagramsAreKeptApartByIdentificationAndIpv4Protocol()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true, id: 1)).Outcome);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(16, 24, false, id: 2)).Outcome);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(16, 24, false, id: 1, protocol: 253)).Outcome);
        Assert.Equal(3, _defragmenter.QueuesInUse);
        Assert.Equal(FragmentOutcome.Complete, Offer(V4(16, 24, false, id: 1)).Outcome);
    }

    [Fact]
    public void Ipv6RebuildsAroundTheHeadersBeforeTheFragmentHeader()
    {
        byte[] options = DestinationOptions(44);
        Assert.Equal(FragmentOutcome.Held, Offer(V6(16, 24, false, before: options)).Outcome);
        var (outcome, queue, _, _) = Offer(V6(0, 16, true, before: options));
        Assert.Equal(FragmentOutcome.Complete, outcome);
        Assert.Equal(Ethernet(EtherTypeIPv6, Ipv6(60, [.. DestinationOptions(17), .. s_udp])), _defragmenter.Datagram(queue).ToArray());
    }

    [Fact]
    public void CongestionMarksCombineAndNotEctBesideEctFails()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true, tos: 2)).Outcome);
        var (outcome, queue, _, _) = Offer(V4(16, 24, false, tos: 3));
        Assert.Equal(FragmentOutcome.Complete, outcome);
        Assert.Equal(Ethernet(EtherTypeIPv4, Ipv4(17, s_udp, tos: 3)), _defragmenter.Datagram(queue).ToArray());

        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true, id: 7, tos: 0)).Outcome);
        var failed = Offer(V4(16, 24, false, id: 7, tos: 2));
        Assert.Equal((FragmentOutcome.Dropped, DropReason.ReassemblyFailed), (failed.Outcome, failed.Reason));
        Assert.Equal([3], Held(failed.Discarded)); // the one that completed it is the caller's to drop
    }

    [Fact]
    public void ADatagramLongerThan65535BytesFails()
    {
        byte[] big = new byte[65520];
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 1480, true, payload: big)).Outcome);
        // 65512 + 8 = 65520 bytes of data behind a 20-byte header: 65540 in all.
        Assert.Equal(FragmentOutcome.Held, Offer(V4(65512, 8, false, payload: big)).Outcome);
        for (int offset = 1480; offset < 65512; offset += 1480)
        {
            var r = Offer(V4(offset, Math.Min(1480, 65512 - offset), true, payload: big));
            if (offset + 1480 < 65512)
                Assert.Equal(FragmentOutcome.Held, r.Outcome);
            else
                Assert.Equal((FragmentOutcome.Dropped, DropReason.ReassemblyFailed), (r.Outcome, r.Reason));
        }
    }

    [Fact]
    public void FragmentsFindNoRoomWhenEveryRecordIsTakenAndTheirDatagramWaits()
    {
        byte[] big = new byte[8 * (Defragmenter.FragmentCapacity + 1)];
        for (int i = 0; i < Defragmenter.FragmentCapacity; i++)
            Assert.Equal(FragmentOutcome.Held, Offer(V4(8 * (i + 1), 8, true, payload: big)).Outcome);
        // Its own datagram's next fragment is refused alone; a new datagram gets no queue.
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.ReassemblyNoRoom), Drop(Offer(V4(0, 8, true, payload: big))));
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.ReassemblyNoRoom), Drop(Offer(V4(0, 8, true, id: 2))));
        Assert.Equal(1, _defragmenter.QueuesInUse);
        Assert.True(_defragmenter.TryTakeUnfinished(out int queue));
        Assert.Equal(Defragmenter.FragmentCapacity, Held(queue).Count);
        _defragmenter.Release(queue);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 8, true, id: 2)).Outcome);
    }

    [Fact]
    public void AQueueLivesItsTimeoutFromItsFirstFragment()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true), now: 0).Outcome);
        Assert.Equal(FragmentOutcome.Held, Offer(V6(0, 16, true), now: 10 * Second).Outcome);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(16, 16, true), now: 29 * Second).Outcome);
        Assert.False(_defragmenter.TryExpire(30 * Second - 1, out _));
        Assert.True(_defragmenter.TryExpire(30 * Second, out int expired));
        Assert.Equal([1, 3], Held(expired));
        _defragmenter.Release(expired);
        Assert.False(_defragmenter.TryExpire(70 * Second - 1, out _));
        Assert.True(_defragmenter.TryExpire(70 * Second, out expired));
        Assert.Equal([2], Held(expired));
    }

    [Fact]
    public void AnIpv6QueueLivesWhatNfConntrackFrag6TimeoutSaysWhenItOpens()
    {
        var settings = new ReassemblySettings { Ipv6TimeoutJiffies = 5 * 250 };
        var tests = new DefragmenterTests(settings);
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V6(0, 16, true), now: 0).Outcome);
        settings.Ipv6TimeoutJiffies = -250; // a later write does not move a queue's deadline, but makes new ones expire at once
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V6(0, 16, true, id: 2), now: Second).Outcome);
        Assert.True(tests._defragmenter.TryExpire(Second, out int expired));
        Assert.Equal([2], tests.Held(expired));
        tests._defragmenter.Release(expired);
        Assert.False(tests._defragmenter.TryExpire(5 * Second - 1, out _));
        Assert.True(tests._defragmenter.TryExpire(5 * Second, out expired));
        Assert.Equal([1], tests.Held(expired));
    }

    /// <summary>
    /// ip_frag_too_far: a datagram that more than 64 fragments from its source overtook starts again with the fragment
    /// that finds it so, its held fragments dropped and its timer restarted; IPv6 has no such rule.
    /// </summary>
    [Fact]
    public void AnIpv4DatagramOvertakenByMoreThan64FragmentsOfItsSourceStartsAgain()
    {
        Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true, id: 1)).Outcome);
        // 63 fragments of 20 other datagrams (held or duplicates, each counts): the next of datagram 1 is the 64th since its last.
        for (int i = 0; i < 63; i++)
            Offer(V4(0, 16, true, id: (ushort)(100 + i % 20)));
        Assert.Equal(FragmentOutcome.Held, Offer(V4(16, 16, true, id: 1)).Outcome);
        Assert.Equal(-1, Restarted);
        for (int i = 0; i < 64; i++)
            Offer(V4(0, 16, true, id: (ushort)(100 + i % 20)));
        // The 65th: datagram 1's two fragments are dropped, and this one starts it again, 10 s later, with 30 s to go.
        var (outcome, _, discarded, _) = Offer(V4(32, 8, false, id: 1), now: 10 * Second);
        Assert.Equal((FragmentOutcome.Held, -1), (outcome, discarded));
        Assert.Equal([1, 65], Held(Restarted));
        _defragmenter.Release(Restarted);
        Assert.Equal(FragmentOutcome.Held, Offer(V4(16, 16, true, id: 1), now: 10 * Second).Outcome);
        Assert.Equal(FragmentOutcome.Complete, Offer(V4(0, 16, true, id: 1), now: 10 * Second).Outcome);
    }

    [Fact]
    public void AnIpv4QueueLivesWhatIpfragTimeSaysWhenItOpens()
    {
        var settings = new ReassemblySettings { Ipv4TimeoutJiffies = 5 * 250 };
        var tests = new DefragmenterTests(settings);
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(0, 16, true, id: 1), now: 0).Outcome);
        settings.Ipv4TimeoutJiffies = 20 * 250; // the queue already open keeps its deadline
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(0, 16, true, id: 2), now: Second).Outcome);
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V6(0, 16, true), now: Second).Outcome);
        Assert.True(tests._defragmenter.TryExpire(5 * Second, out int expired));
        Assert.Equal([1], tests.Held(expired));
        tests._defragmenter.Release(expired);
        Assert.False(tests._defragmenter.TryExpire(21 * Second - 1, out _));
        Assert.True(tests._defragmenter.TryExpire(21 * Second, out expired));
        Assert.Equal([2], tests.Held(expired));
        tests._defragmenter.Release(expired);
        Assert.False(tests._defragmenter.TryExpire(61 * Second - 1, out _)); // IPv6 goes by nf_conntrack_frag6_timeout
    }

    /// <summary>ipfrag_max_dist set lower, and 0, which counts nothing: a datagram begun then is never found too far.</summary>
    [Fact]
    public void IpfragMaxDistSaysHowFarADatagramMayBeOvertakenAndZeroTurnsTheCheckOff()
    {
        var settings = new ReassemblySettings { Ipv4MaxDistance = 2 };
        var tests = new DefragmenterTests(settings);
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(0, 16, true, id: 1)).Outcome);
        tests.Offer(V4(0, 16, true, id: 100));
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(16, 16, true, id: 1)).Outcome); // the second since its last: near enough
        Assert.Equal(-1, tests.Restarted);
        tests.Offer(V4(0, 16, true, id: 101));
        tests.Offer(V4(0, 16, true, id: 102));
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(32, 8, false, id: 1)).Outcome); // the third: it starts again
        Assert.Equal([1, 3], tests.Held(tests.Restarted));
        tests._defragmenter.Release(tests.Restarted);

        settings.Ipv4MaxDistance = 0;
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(0, 16, true, id: 7)).Outcome);
        settings.Ipv4MaxDistance = 2;
        for (ushort id = 103; id < 108; id++)
            tests.Offer(V4(0, 16, true, id: id));
        Assert.Equal(FragmentOutcome.Held, tests.Offer(V4(16, 16, true, id: 7)).Outcome);
        Assert.Equal(-1, tests.Restarted);
    }

    [Fact]
    public void ANewDatagramFindsNoRoomWhenEveryQueueIsTaken()
    {
        // From a host each: from one, more than 64 fragments between two of a datagram's would restart it.
        static string Host(int i) => $"10.9.{i / 200}.{i % 200 + 1}";
        for (int i = 0; i < Defragmenter.QueueCount; i++)
            Assert.Equal(FragmentOutcome.Held, Offer(V4(0, 16, true, source: Host(i))).Outcome);
        Assert.Equal((FragmentOutcome.Dropped, -1, DropReason.ReassemblyNoRoom), Drop(Offer(V4(0, 16, true, id: 999))));
        // Its own datagram's fragments still find their queue.
        Assert.Equal(FragmentOutcome.Complete, Offer(V4(16, 24, false, source: Host(5))).Outcome);
        Assert.True(_defragmenter.TryTakeUnfinished(out int unfinished));
        Assert.Equal([1], Held(unfinished));
    }
}
