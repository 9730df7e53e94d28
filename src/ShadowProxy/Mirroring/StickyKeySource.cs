namespace ShadowProxy.Mirroring;

/// <summary>Where a sticky sampling key is found in a request.</summary>
internal enum StickyKeySource : byte
{
    /// <summary>A header's value (<c>header:X-User-Id</c>).</summary>
    Header,

    /// <summary>A cookie in the Cookie header (<c>cookie:session</c>).</summary>
    Cookie,

    /// <summary>A query parameter, undecoded (<c>query:user</c>).</summary>
    Query,
}
