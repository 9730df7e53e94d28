using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ShadowProxy.Transport;

/// <summary>Linux's sockaddr_in and sockaddr_in6, written and read by hand: no SocketAddress object per call.</summary>
internal static class SocketAddressCodec
{
    /// <summary>sizeof(struct sockaddr_in6), the larger of the two.</summary>
    public const int MaxLength = 28;

    public static int Encode(IPEndPoint endpoint, Span<byte> address)
    {
        address[..MaxLength].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(address[2..], (ushort)endpoint.Port);
        if (endpoint.AddressFamily == AddressFamily.InterNetwork)
        {
            BitConverter.TryWriteBytes(address, (ushort)Libc.AddressFamilyInet);
            endpoint.Address.TryWriteBytes(address[4..8], out _);
            return 16;
        }

        BitConverter.TryWriteBytes(address, (ushort)Libc.AddressFamilyInet6);
        endpoint.Address.TryWriteBytes(address[8..24], out _);
        BinaryPrimitives.WriteUInt32LittleEndian(address[24..], (uint)endpoint.Address.ScopeId);
        return MaxLength;
    }

    public static IPEndPoint? Decode(ReadOnlySpan<byte> address)
    {
        if (address.Length < 16)
        {
            return null;
        }

        int port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
        return BitConverter.ToUInt16(address) switch
        {
            Libc.AddressFamilyInet => new IPEndPoint(new IPAddress(address[4..8]), port),
            // An IPv4 client of a dual-stack listener ([::]) arrives as ::ffff:a.b.c.d; it is logged as a.b.c.d.
            Libc.AddressFamilyInet6 when address.Length >= MaxLength && IsIPv4Mapped(address[8..24]) =>
                new IPEndPoint(new IPAddress(address[20..24]), port),
            Libc.AddressFamilyInet6 when address.Length >= MaxLength =>
                new IPEndPoint(new IPAddress(address[8..24], BinaryPrimitives.ReadUInt32LittleEndian(address[24..])), port),
            _ => null,
        };
    }

    private static bool IsIPv4Mapped(ReadOnlySpan<byte> address) =>
        address[..10].IndexOfAnyExcept((byte)0) < 0 && address[10] == 0xFF && address[11] == 0xFF;
}
