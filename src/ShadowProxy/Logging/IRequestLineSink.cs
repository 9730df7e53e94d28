namespace ShadowProxy.Logging;

/// <summary>Where finished requests go. Implementations must never block the caller: it is on the proxying path.</summary>
internal interface IRequestLineSink
{
    void Write(in RequestRecord record);
}
