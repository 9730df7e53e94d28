using System.Runtime.InteropServices;

namespace ShadowProxy.Transport;

/// <summary>
/// The Linux socket and epoll calls the transport makes. Every call on a socket is non-blocking, so those skip the
/// runtime's GC transition (a measurable share of a call that itself takes a microsecond); epoll_wait blocks and
/// keeps it. Constants are Linux's (the same on x86-64 and arm64).
/// </summary>
internal static unsafe partial class Libc
{
    public const int AddressFamilyInet = 2;
    public const int AddressFamilyInet6 = 10;
    public const int SocketStream = 1;
    public const int SocketNonBlocking = 0x800;
    public const int SocketCloseOnExec = 0x80000;
    public const int ProtocolTcp = 6;
    public const int TcpNoDelay = 1;
    public const int SocketLevel = 1;
    public const int SocketErrorOption = 4;
    public const int SocketLinger = 13;          // SO_LINGER
    public const nuint OutputQueue = 0x5411;     // SIOCOUTQ (TIOCOUTQ): bytes sent but not yet acknowledged, or not yet sent
    public const int ShutdownWrite = 1;
    public const int NoSignal = 0x4000;

    public const int EpollAdd = 1;
    public const int EpollDelete = 2;
    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollError = 0x008;
    public const uint EpollHangUp = 0x010;
    public const uint EpollReadHangUp = 0x2000;
    public const uint EpollExclusive = 1u << 28;
    public const uint EpollEdgeTriggered = 1u << 31;
    public const int EpollCloseOnExec = 0x80000;

    public const short PollIn = 0x001;
    public const short PollReadHangUp = 0x2000;

    public const int Interrupted = 4;            // EINTR
    public const int BadDescriptor = 9;          // EBADF
    public const int WouldBlock = 11;            // EAGAIN
    public const int InProgress = 115;           // EINPROGRESS
    public const int ConnectionAborted = 103;    // ECONNABORTED
    public const int TooManyOpenFiles = 24;      // EMFILE

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Connect(SafeHandle socket, byte* address, int addressLength);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Accept(SafeHandle socket, byte* address, int* addressLength, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    [SuppressGCTransition]
    public static partial nint Receive(SafeHandle socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    [SuppressGCTransition]
    public static partial nint Send(SafeHandle socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Shutdown(SafeHandle socket, int how);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int SetOption(SafeHandle socket, int level, int name, int* value, int valueLength);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int GetOption(SafeHandle socket, int level, int name, int* value, int* valueLength);

    /// <summary>ioctl(2) with an int out-value (SIOCOUTQ); variadic in C, which passes a pointer as the fixed argument would.</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int IoControl(SafeHandle descriptor, nuint request, int* value);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int GetSocketName(SafeHandle socket, byte* address, int* addressLength);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Poll(PollDescriptor* descriptors, nuint count, int timeoutMilliseconds);

    public const int EventFdNonBlocking = 0x800;
    public const int EventFdCloseOnExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int descriptor, byte* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int descriptor, byte* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Close(int descriptor);

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int EpollControl(int epoll, int operation, SafeHandle socket, byte* ev);

    /// <summary>For a descriptor that is no SafeHandle (a loop's own eventfd, open for the process's life).</summary>
    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollControl(int epoll, int operation, int descriptor, byte* ev);

    /// <summary>Blocks: no SuppressGCTransition here, or a garbage collection would wait for the next event.</summary>
    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epoll, byte* events, int maxEvents, int timeoutMilliseconds);

    public const int OpenFilesResource = 7;   // RLIMIT_NOFILE, on x86-64 and arm64 alike

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int GetResourceLimit(int resource, ResourceLimit* limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    public static partial int SetResourceLimit(int resource, ResourceLimit* limit);

    [StructLayout(LayoutKind.Sequential)]
    public struct ResourceLimit
    {
        public ulong Soft;   // rlim_t is 64 bits on the 64-bit Linux the proxy runs on
        public ulong Hard;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollDescriptor
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }
}
