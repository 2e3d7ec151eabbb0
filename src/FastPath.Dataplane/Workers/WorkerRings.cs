// SPDX-License-Identifier: MIT
using FastPath.Core.Memory;

namespace FastPath.Dataplane.Workers;

/// <summary>One worker's ends of the rings between workers: the one to each other worker (null for itself, or none), and those from the others.</summary>
public sealed record WorkerRings<T>(SpscRing<T>?[] Outbound, SpscRing<T>[] Inbound) where T : struct;
