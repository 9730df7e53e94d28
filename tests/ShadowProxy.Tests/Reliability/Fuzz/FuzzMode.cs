namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>Which proxy a case runs against: the options that change what the backends and the client must see.</summary>
internal enum FuzzMode
{
    /// <summary>The defaults: client keep-alive on, backends get <c>Connection: close</c>.</summary>
    Plain,

    /// <summary>--backend-keep-alive on: backends get <c>Connection: keep-alive</c> and their connections are pooled.</summary>
    BackendKeepAlive,

    /// <summary>--client-keep-alive off: every answer says close, and the connection ends after the first one.</summary>
    ClientClose,

    /// <summary>--shadow-header "X-Shadow: 1" --shadow-host shadow.internal:8080: the shadow's copy is marked.</summary>
    ShadowMarked,
}
