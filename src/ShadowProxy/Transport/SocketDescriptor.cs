using Microsoft.Win32.SafeHandles;

namespace ShadowProxy.Transport;

/// <summary>
/// A socket's file descriptor. As a SafeHandle, a close that races with a call in flight on another thread waits
/// for that call to return, so a descriptor number reused by a newer socket is never read from or written to.
/// </summary>
internal sealed class SocketDescriptor : SafeHandleMinusOneIsInvalid
{
    public SocketDescriptor(int descriptor)
        : base(ownsHandle: true) => SetHandle(descriptor);

    public int Number => (int)handle;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
