// SPDX-License-Identifier: MIT
namespace FastPath.Core.Conntrack.Tracking;

/// <summary>
/// One worker's share of the kernel's per-cpu conntrack statistics (struct ip_conntrack_stat) as Linux 6.18 keeps
/// them: <paramref name="Invalid"/> packets conntrack could not track or its protocol tracker refused;
/// <paramref name="Errors"/> ICMP and ICMPv6 messages icmp_error refused (bad checksum, unknown type, an error about
/// no connection); <paramref name="InsertFailed"/> new TCP connections that lost the race to be confirmed;
/// <paramref name="Drops"/> packets conntrack dropped (a full table, and those lost races); <paramref name="EarlyDrops"/>
/// connections evicted to make room; <paramref name="ClashResolves"/> new connections of other protocols that joined
/// the one that won. The kernel's found, insert, search_restart and chaintoolong stay 0 in FastPath, as found and
/// insert do in the kernel.
/// </summary>
public readonly record struct ConntrackStatistics(long Invalid, long Errors, long InsertFailed, long Drops, long EarlyDrops, long ClashResolves);
