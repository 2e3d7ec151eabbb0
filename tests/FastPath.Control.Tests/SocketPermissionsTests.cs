// SPDX-License-Identifier: MIT
using Xunit;

namespace FastPath.Control.Tests;

public class SocketPermissionsTests
{
    [Fact]
    public void TheDefaultIsOwnerOnly()
    {
        Assert.Equal(new SocketPermissions(UnixFileMode.UserRead | UnixFileMode.UserWrite, null, null), SocketPermissions.Parse([]));
    }

    [Theory]
    [InlineData("0600", UnixFileMode.UserRead | UnixFileMode.UserWrite)]
    [InlineData("660", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite)]
    [InlineData("0777", (UnixFileMode)0x1FF)]
    [InlineData("0", UnixFileMode.None)]
    public void ModesAreOctal(string text, UnixFileMode mode) => Assert.Equal(mode, SocketPermissions.ParseMode(text));

    [Theory]
    [InlineData("0800")]
    [InlineData("1777")]
    [InlineData("rw-------")]
    [InlineData("")]
    [InlineData("00600")]
    public void BadModesAreRefused(string text)
    {
        var error = Assert.Throws<FormatException>(() => SocketPermissions.ParseMode(text));
        Assert.Contains("--control-perms", error.Message);
    }

    [Fact]
    public void TheCommandLineFormsParse()
    {
        var parsed = SocketPermissions.Parse(["--control-perms", "0660", "--control-uid=0", "--control-gid", "27"]);
        Assert.Equal(new SocketPermissions((UnixFileMode)0x1B0, 0, 27), parsed);
        Assert.Throws<FormatException>(() => SocketPermissions.Parse(["--control-gid", "staff"]));
        Assert.Throws<FormatException>(() => SocketPermissions.Parse(["--control-uid", "-1"]));
        Assert.Throws<FormatException>(() => SocketPermissions.Parse(["--control-gid"]));
        Assert.Throws<FormatException>(() => SocketPermissions.Parse(["--control-owner", "0"]));
        Assert.All(SocketPermissions.Options, o => Assert.Equal(parsed, parsed.With(o.Name, o.Name switch
        {
            "control-perms" => "0660",
            "control-uid" => "0",
            _ => "27",
        })));
    }
}
