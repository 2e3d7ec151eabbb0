// SPDX-License-Identifier: MIT
using System.Text;
using Xunit;

namespace FastPath.Control.Tests;

/// <summary>The request and response encodings, without a socket.</summary>
public class ControlWireTests
{
    private static ControlRequest Roundtrip(ControlRequest request)
    {
        byte[] bytes = ControlWire.EncodeRequest(request);
        int newline = Array.IndexOf(bytes, (byte)'\n');
        var parsed = ControlWire.ParseHeader(bytes.AsSpan(0, newline), out int payloadLength, out string error);
        Assert.NotNull(parsed);
        Assert.Equal("", error);
        Assert.Equal(bytes.Length - newline - 1, payloadLength);
        return parsed with { Payload = bytes[(newline + 1)..] };
    }

    [Fact]
    public void AWriteCarriesItsLengthAndItsBytesUntouched()
    {
        byte[] payload = "+192.0.2.1\n\0\r\n"u8.ToArray();
        var request = new ControlRequest("write", "/proc/net/xt_recent/SSH", [], payload);
        Assert.Equal("write /proc/net/xt_recent/SSH 14\n+192.0.2.1\n\0\r\n", Encoding.UTF8.GetString(ControlWire.EncodeRequest(request)));
        var parsed = Roundtrip(request);
        Assert.Equal(("write", "/proc/net/xt_recent/SSH"), (parsed.Verb, parsed.Path));
        Assert.Empty(parsed.Args);
        Assert.Equal(payload, parsed.Payload);
    }

    [Fact]
    public void FieldsWithSeparatorsArePercentEscaped()
    {
        var request = new ControlRequest("show", "/proc/net/xt_recent/a b%c\nd", "json", "ü");
        Assert.Equal("show /proc/net/xt_recent/a%20b%25c%0Ad json ü\n", Encoding.UTF8.GetString(ControlWire.EncodeRequest(request)));
        var parsed = Roundtrip(request);
        Assert.Equal("/proc/net/xt_recent/a b%c\nd", parsed.Path);
        Assert.Equal(["json", "ü"], parsed.Args);
        Assert.Equal("reload\n", Encoding.UTF8.GetString(ControlWire.EncodeRequest(new ControlRequest("reload"))));
    }

    /// <summary>An empty argument travels as a lone '%' (nfct takes empty words); '%' itself is still %25.</summary>
    [Fact]
    public void EmptyArgumentsTravelAsALonePercent()
    {
        var request = new ControlRequest("run", "nfct", "", "timeout", "%", "");
        Assert.Equal("run nfct % timeout %25 %\n", Encoding.UTF8.GetString(ControlWire.EncodeRequest(request)));
        Assert.Equal(["", "timeout", "%", ""], Roundtrip(request).Args);
        // Only an argument can be empty: a lone '%' for the verb or the path is a bad escape.
        Assert.Null(ControlWire.ParseHeader("% nfct"u8, out _, out string error));
        Assert.Equal("bad %-escape in '%'", error);
        Assert.Null(ControlWire.ParseHeader("run %"u8, out _, out error));
        Assert.Equal("bad %-escape in '%'", error);
    }

    [Fact]
    public void RequestsThatCannotBeWrittenAreRefused()
    {
        Assert.Throws<ArgumentException>(() => ControlWire.EncodeRequest(new ControlRequest("write", "", [], [1])));
        Assert.Throws<ArgumentException>(() => ControlWire.EncodeRequest(new ControlRequest("show", "", "json")));
        Assert.Throws<ArgumentException>(() => ControlWire.EncodeRequest(new ControlRequest("", "/x")));
    }

    [Fact]
    public void ResponsesRoundtrip()
    {
        var ok = ControlWire.ParseResponse(ControlWire.EncodeResponse(ControlResponse.Ok("a\nb\n")))!;
        Assert.True(ok.IsOk);
        Assert.Equal("a\nb\n", ok.Text);

        byte[] bytes = ControlWire.EncodeResponse(ControlResponse.Fail(ControlError.ENOENT, "no recent table\nnamed 'X'"));
        Assert.Equal("ERR 2 ENOENT no recent table named 'X'\n", Encoding.UTF8.GetString(bytes));
        var error = ControlWire.ParseResponse(bytes)!;
        Assert.Equal(ControlError.ENOENT, error.Error);
        Assert.Equal("no recent table named 'X'", error.Message);

        Assert.Equal("ERR 29 ESPIPE Illegal seek\n", Encoding.UTF8.GetString(ControlWire.EncodeResponse(ControlResponse.Fail(ControlError.ESPIPE, ""))));

        // An error may carry its whole text, line breaks included, as the body.
        bytes = ControlWire.EncodeResponse(ControlResponse.Fail(ControlError.EINVAL, "a\nb", "a\nb\n"));
        Assert.Equal("ERR 22 EINVAL a b\na\nb\n", Encoding.UTF8.GetString(bytes));
        error = ControlWire.ParseResponse(bytes)!;
        Assert.Equal((ControlError.EINVAL, "a b", "a\nb\n"), (error.Error, error.Message, error.Text));
        Assert.Null(ControlWire.ParseResponse("HELLO\n"u8));
        Assert.Null(ControlWire.ParseResponse("OK"u8));
    }

    [Fact]
    public void CoreErrnosAndUnknownNumbersMap()
    {
        Assert.Equal(ControlError.EINVAL, ControlError.From(Core.Errno.EINVAL));
        Assert.Equal(ControlError.ESPIPE, ControlError.From(Core.Errno.ESPIPE));
        Assert.Equal(ControlError.ENAMETOOLONG, ControlError.From(Core.Errno.ENAMETOOLONG));
        Assert.Equal(ControlError.ENOENT, ControlError.From((Core.Errno)2));
        Assert.Equal(new ControlError(200, "E200", "Unknown error 200"), ControlError.FromNumber(200));
        // The texts a shell prints for the errors Core already names are glibc's, and so are ours.
        foreach (var errno in Enum.GetValues<Core.Errno>())
            Assert.Equal(Core.Errnos.Message(errno), errno == Core.Errno.None ? "Success" : ControlError.From(errno).StrError);
    }
}
