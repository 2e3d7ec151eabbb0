// SPDX-License-Identifier: MIT
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using FastPath.Dataplane.Ports;

namespace FastPath.Benchmarks;

/// <summary>Adds the burst view of a per-packet mean: ns per 32-frame burst and million packets per second.</summary>
public sealed class BurstConfig : ManualConfig
{
    public BurstConfig()
    {
        AddColumn(new PerPacketColumn("ns/burst", "Mean time for one burst of 32 frames (Mean * 32)", mean => mean * PacketBurst.Capacity, "N1"));
        AddColumn(new PerPacketColumn("Mpps", "Million packets per second on one core (1000 / Mean)", mean => 1000 / mean, "N2"));
    }

    private sealed class PerPacketColumn(string name, string legend, Func<double, double> fromMeanNanoseconds, string format) : IColumn
    {
        public string Id => nameof(PerPacketColumn) + "." + name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => legend;

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

        // The report's Mean is already per operation, i.e. per packet (OperationsPerInvoke).
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
            => summary[benchmarkCase]?.ResultStatistics is { } statistics
                ? fromMeanNanoseconds(statistics.Mean).ToString(format, style.CultureInfo)
                : "NA";
    }
}
