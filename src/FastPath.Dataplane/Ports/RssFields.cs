// SPDX-License-Identifier: MIT
namespace FastPath.Dataplane.Ports;

/// <summary>What a device's receive-side scaling hashes to choose a frame's rx queue.</summary>
public enum RssFields
{
    /// <summary>Addresses and ports with the symmetric key: both directions of a connection share a queue.</summary>
    Flow,

    /// <summary>Only the source address: every frame from one host reaches one queue (a ruleset keyed by --rsource).</summary>
    SourceAddress,

    /// <summary>Only the destination address (a ruleset keyed by --rdest).</summary>
    DestinationAddress,
}
