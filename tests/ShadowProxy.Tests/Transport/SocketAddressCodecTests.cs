using System.Net;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>The hand-written sockaddr codec: what it writes reads back, and a dual-stack listener's IPv4 client reads as IPv4.</summary>
public sealed class SocketAddressCodecTests
{
    [Theory]
    [InlineData("127.0.0.1", 8001)]
    [InlineData("10.200.1.1", 80)]
    [InlineData("::1", 8001)]
    [InlineData("fd00:200:1::1", 65535)]
    public void An_address_reads_back_as_written(string address, int port)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(address), port);
        Span<byte> encoded = stackalloc byte[SocketAddressCodec.MaxLength];

        int length = SocketAddressCodec.Encode(endpoint, encoded);

        Assert.Equal(endpoint, SocketAddressCodec.Decode(encoded[..length]));
    }

    [Fact]
    public void An_IPv4_client_of_a_dual_stack_listener_reads_as_its_IPv4_address()
    {
        // accept(2) on [::] gives an IPv4 client as ::ffff:10.200.1.1; logs name it as the client knows itself.
        Span<byte> encoded = stackalloc byte[SocketAddressCodec.MaxLength];
        int length = SocketAddressCodec.Encode(new IPEndPoint(IPAddress.Parse("::ffff:10.200.1.1"), 41000), encoded);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.200.1.1"), 41000), SocketAddressCodec.Decode(encoded[..length]));
    }

    [Fact]
    public void An_address_too_short_or_of_another_family_is_none()
    {
        Span<byte> unix = stackalloc byte[SocketAddressCodec.MaxLength];
        unix.Clear();
        BitConverter.TryWriteBytes(unix, (ushort)1);   // AF_UNIX

        Assert.Null(SocketAddressCodec.Decode(unix));
        Assert.Null(SocketAddressCodec.Decode(unix[..8]));
    }
}
