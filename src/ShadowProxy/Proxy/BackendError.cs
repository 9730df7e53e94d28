namespace ShadowProxy.Proxy;

/// <summary>Why a backend exchange produced no complete response. The request line names each with one word.</summary>
internal enum BackendError : byte
{
    None,

    /// <summary>The connection was refused (or could not be made at all).</summary>
    Refused,

    /// <summary>Connecting or answering took longer than the backend's timeout.</summary>
    Timeout,

    /// <summary>The backend reset or closed the connection before its response was complete.</summary>
    Reset,

    /// <summary>The backend's bytes are not an HTTP/1.x response.</summary>
    InvalidResponse,

    /// <summary>The shadow fell further behind the client than its buffer allows; its copy was abandoned.</summary>
    Overflow,

    /// <summary>The request could not be forwarded whole (the client went away, or sent a malformed body).</summary>
    Aborted,
}

internal static class BackendErrorWords
{
    /// <summary>The contract's one-word name of an error, as the request line and the metrics give it; null for none.</summary>
    public static string? Word(this BackendError error) => error switch
    {
        BackendError.None => null,
        BackendError.Refused => "refused",
        BackendError.Timeout => "timeout",
        BackendError.Reset => "reset",
        BackendError.InvalidResponse => "invalid_response",
        BackendError.Overflow => "overflow",
        BackendError.Aborted => "aborted",
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, null),
    };
}
