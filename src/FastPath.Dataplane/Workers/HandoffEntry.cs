// SPDX-License-Identifier: MIT
using FastPath.Core.Rules;

namespace FastPath.Dataplane.Workers;

/// <summary>
/// A frame travelling to another worker: to the owner of its flow (software steering), or to the owner of
/// the recent-table key its rule evaluation needs next, with the evaluation's <see cref="Cursor"/>.
/// </summary>
public struct HandoffEntry
{
    public nint Handle;
    public nint Data;
    public uint Length;
    public uint WireLength;
    public long Timestamp;
    public int InPort;
    public EvaluationCursor Cursor;
}
