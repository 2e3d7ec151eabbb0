// SPDX-License-Identifier: MIT
using FastPath.Dataplane.Pcap;
using Xunit;

namespace FastPath.Dataplane.Tests.Pcap;

/// <summary>Checks that samples/mixed.pcap and its expected verdicts (written by samples/make-sample.py) agree.</summary>
public class SampleCaptureTests
{
    [Fact]
    public void MixedCaptureMatchesItsExpectedVerdicts()
    {
        string samples = Path.Combine(FindRepositoryRoot(), "samples");
        string[] lines = File.ReadAllLines(Path.Combine(samples, "mixed.expected.tsv"));
        using var reader = PcapFileReader.Open(Path.Combine(samples, "mixed.pcap"));

        Assert.Equal(PcapFileHeader.Ethernet(nanosecond: false), reader.Header);
        int count = 0;
        while (reader.TryReadNext(out PcapRecord record))
        {
            string[] fields = lines[count].Split('\t');
            Assert.Equal(3, fields.Length);
            Assert.Equal((count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), fields[0]);
            Assert.Equal(fields[1] == "forward", fields[2] == "-");
            Assert.Equal(1_700_000_000_000_000_000L + count * 1_000_000L, record.TimestampNanoseconds);
            Assert.Equal(record.CapturedLength, record.OriginalLength);
            count++;
        }

        Assert.Equal(lines.Length, count);
        Assert.True(new FileInfo(Path.Combine(samples, "mixed.pcap")).Length < 40 * 1024);
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FastPath.sln")))
                return directory.FullName;
        }
        throw new DirectoryNotFoundException($"No FastPath.sln above {AppContext.BaseDirectory}");
    }
}
