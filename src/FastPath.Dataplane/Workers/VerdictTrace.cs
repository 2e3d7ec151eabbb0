// SPDX-License-Identifier: MIT
using System.Buffers;
using System.Buffers.Text;
using System.Text;
using FastPath.Core.Packets;
using FastPath.Core.Rules;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// "What would this ruleset have done to my capture?": one line per frame, tab-separated —
/// packet number, capture time (seconds.nanoseconds), ACCEPT or DROP, and what decided it
/// (<c>filter:FORWARD:3</c>, <c>filter:FORWARD:policy</c>, <c>malformed:ipv4_bad_checksum</c>, or <c>-</c> for
/// frames no IP table looks at). Written by the one worker of an offline replay through a preallocated
/// buffer: no allocation per frame. A fragment held for reassembly takes its number on arrival and gets its line
/// when its datagram is decided (the datagram's verdict) or dropped: those lines come out of order.
/// </summary>
public sealed class VerdictTrace : IDisposable
{
    private readonly Stream _output;
    private readonly byte[] _buffer = new byte[1 << 16];
    private readonly byte[][] _ruleNames;
    private readonly byte[][] _policyNames;
    private readonly byte[][] _hotdropNames;
    private readonly byte[][] _malformedNames;
    private readonly byte[][] _unruledNames; // by -RuleId: "-", "conntrack:table_full", "conntrack:clash"
    private int _used;
    private long _packet;
    private long _lastNumber;
    private bool _lastAccepted;
    private byte[] _lastDecidedBy = [];

    public VerdictTrace(Stream output, CompiledRuleset ruleset)
    {
        _output = output;
        // Every name as Decision.Describe gives it, encoded once: a traced frame then costs no formatting.
        byte[] Name(Decision decision) => Encoding.UTF8.GetBytes(decision.Describe(ruleset));
        _ruleNames = ruleset.Rules.Select(r => Name(new Decision(r.Id, -1))).ToArray();
        _policyNames = ruleset.Chains.Select(c => Name(new Decision(-1, c.Id))).ToArray();
        _hotdropNames = ruleset.Chains.Select(c => Name(Decision.Hotdrop(c.Id))).ToArray();
        _unruledNames = [.. new[] { Decision.Default, Decision.Default, Decision.ConntrackTableFull, Decision.ConntrackClash }.Select(Name)];
        _malformedNames = Enumerable.Range(0, DropReasons.Count).Select(r => Encoding.UTF8.GetBytes($"malformed:{DropReasons.Name((DropReason)r)}")).ToArray();
        Write("# packet\ttime\tverdict\tdecided_by\n"u8);
    }

    public void Decided(long timestampNanoseconds, bool accepted, Decision decision)
    {
        byte[] by = decision.RuleId >= 0 ? _ruleNames[decision.RuleId]
            : decision.ChainId >= 0 ? (decision.IsHotdrop ? _hotdropNames : _policyNames)[decision.ChainId]
            : _unruledNames[-decision.RuleId];
        (_lastNumber, _lastAccepted, _lastDecidedBy) = (++_packet, accepted, by);
        Line(_packet, timestampNanoseconds, accepted ? "ACCEPT"u8 : "DROP"u8, by);
    }

    public void Malformed(long timestampNanoseconds, DropReason reason) =>
        Line(++_packet, timestampNanoseconds, "DROP"u8, _malformedNames[(int)reason]);

    /// <summary>The number the next frame's line will carry.</summary>
    public long Next => _packet + 1;

    /// <summary>The next frame is held for reassembly: it keeps its number (<see cref="Next"/>), its line comes later.</summary>
    public void Hold() => _packet++;

    /// <summary>A held fragment dropped with its datagram before any verdict.</summary>
    public void HeldDropped(long number, long timestampNanoseconds, DropReason reason) =>
        Line(number, timestampNanoseconds, "DROP"u8, _malformedNames[(int)reason]);

    /// <summary>A held fragment of the datagram just decided: the datagram's verdict (the fragment that completed it already has its line).</summary>
    public void HeldDecided(long number, long timestampNanoseconds)
    {
        if (number != _lastNumber)
            Line(number, timestampNanoseconds, _lastAccepted ? "ACCEPT"u8 : "DROP"u8, _lastDecidedBy);
    }

    private void Line(long number, long timestampNanoseconds, ReadOnlySpan<byte> verdict, ReadOnlySpan<byte> decidedBy)
    {
        if (_buffer.Length - _used < 128 + decidedBy.Length)
            Flush();
        var span = _buffer.AsSpan(_used);
        int n = 0;
        Utf8Formatter.TryFormat(number, span, out int w);
        n += w;
        span[n++] = (byte)'\t';
        Utf8Formatter.TryFormat(timestampNanoseconds / 1_000_000_000, span[n..], out w);
        n += w;
        span[n++] = (byte)'.';
        Utf8Formatter.TryFormat(timestampNanoseconds % 1_000_000_000, span[n..], out w, new StandardFormat('D', 9));
        n += w;
        span[n++] = (byte)'\t';
        verdict.CopyTo(span[n..]);
        n += verdict.Length;
        span[n++] = (byte)'\t';
        decidedBy.CopyTo(span[n..]);
        n += decidedBy.Length;
        span[n++] = (byte)'\n';
        _used += n;
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer.AsSpan(_used));
        _used += bytes.Length;
    }

    public void Flush()
    {
        _output.Write(_buffer, 0, _used);
        _used = 0;
        _output.Flush();
    }

    public void Dispose()
    {
        Flush();
        _output.Dispose();
    }
}
