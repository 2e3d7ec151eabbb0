// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Workers;

/// <summary>A frame travelling from the worker that received it to the worker that owns its flow.</summary>
public struct HandoffEntry
{
    public nint Handle;
    public nint Data;
    public uint Length;
    public uint WireLength;
    public long Timestamp;
    public int InPort;
}
