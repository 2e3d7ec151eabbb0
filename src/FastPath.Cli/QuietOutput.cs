// SPDX-License-Identifier: MIT
namespace FastPath.Cli;

/// <summary>
/// Standard output and error that shrug off a failed write, as nfct and conntrack do: a closed descriptor or a full
/// disk changes neither what was done nor the exit status, and is no crash.
/// </summary>
internal sealed class QuietOutput(Stream inner) : Stream
{
    public static Stream StandardOutput { get; } = new QuietOutput(Console.OpenStandardOutput());
    public static Stream StandardError { get; } = new QuietOutput(Console.OpenStandardError());

    /// <summary>Points Console.Out and Console.Error at the quiet streams.</summary>
    public static void Install()
    {
        Console.SetOut(new StreamWriter(StandardOutput) { AutoFlush = true });
        Console.SetError(new StreamWriter(StandardError) { AutoFlush = true });
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            inner.Write(buffer);
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
        }
    }

    public override void Flush()
    {
        try
        {
            inner.Flush();
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    private static bool IsWriteFailure(Exception e) => e is IOException or UnauthorizedAccessException;
}
