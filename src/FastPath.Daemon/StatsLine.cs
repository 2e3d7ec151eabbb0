// SPDX-License-Identifier: MIT
using System.Globalization;
using FastPath.Core.Packets;
using FastPath.Dataplane;
using FastPath.Dataplane.Workers;

namespace FastPath.Daemon;

/// <summary>The per-interval line of live mode: packets per second in, out and dropped for each port.</summary>
internal sealed class StatsLine(TextWriter output)
{
    private DataplaneCounters? _previous;
    private TimeSpan _previousTime;

    public void Print(DataplaneCounters current, TimeSpan now)
    {
        double seconds = (now - _previousTime).TotalSeconds;
        var parts = new List<string>();
        for (int p = 0; p < current.PortNames.Length; p++)
        {
            long rx = current.RxPackets[p] - (_previous?.RxPackets[p] ?? 0);
            long tx = current.TxPackets[p] - (_previous?.TxPackets[p] ?? 0);
            long drop = current.Dropped[p] - (_previous?.Dropped[p] ?? 0);
            parts.Add($"{current.PortNames[p]} in {Rate(rx / seconds)} out {Rate(tx / seconds)} drop {Rate(drop / seconds)}");
        }
        output.WriteLine($"[{now.TotalSeconds,7:F1}s] {string.Join(" | ", parts)}");
        output.Flush();
        _previous = current;
        _previousTime = now;
    }

    private static string Rate(double pps) => pps switch
    {
        >= 1e6 => (pps / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " Mpps",
        >= 1e3 => (pps / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " Kpps",
        _ => pps.ToString("F0", CultureInfo.InvariantCulture) + " pps",
    };
}

/// <summary>The final summary both modes print: per port, per worker, per drop reason.</summary>
internal static class Summary
{
    public static void Print<TVerdict>(TextWriter output, DataplaneHost<TVerdict> host, TimeSpan elapsed, string what)
        where TVerdict : struct, IVerdictStage
    {
        var c = host.ReadCounters();
        output.WriteLine($"summary: {what}, {elapsed.TotalSeconds.ToString("F3", CultureInfo.InvariantCulture)} s");
        output.WriteLine($"  {"port",-20} {"rx-packets",12} {"rx-bytes",14} {"tx-packets",12} {"tx-bytes",14} {"dropped",10} {"handed-off",10}");
        for (int p = 0; p < c.PortNames.Length; p++)
            output.WriteLine($"  {c.PortNames[p],-20} {c.RxPackets[p],12} {c.RxBytes[p],14} {c.TxPackets[p],12} {c.TxBytes[p],14} {c.Dropped[p],10} {c.HandedOff[p],10}");
        foreach (var worker in host.Workers)
        {
            int w = worker.Index;
            string pin = worker.Core is int core ? $"pinned to core {core}" : "unpinned";
            long polls = worker.Counters.ReadPolls();
            string busy = polls == 0 ? "0" : (100.0 * worker.Counters.ReadBusyPolls() / polls).ToString("F1", CultureInfo.InvariantCulture);
            output.WriteLine($"  worker {w}: {pin}, affinity [{string.Join(',', worker.ObservedAffinity)}], ran on cpu {worker.ObservedCpu}, rx {c.RxPacketsByWorker[w].Sum()} tx {c.TxPacketsByWorker[w].Sum()} handoff-in {c.HandoffReceivedByWorker[w]}, polls {polls} ({busy}% busy)");
        }
        long totalDrops = c.DropsByReason.Sum();
        output.WriteLine($"  drops by reason: {totalDrops}");
        for (int r = 1; r < DropReasons.Count; r++)
        {
            if (c.DropsByReason[r] > 0)
                output.WriteLine($"    {DropReasons.Name((DropReason)r),-34} {c.DropsByReason[r]}");
        }
        output.Flush();
    }
}
