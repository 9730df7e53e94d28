namespace ShadowProxy.Reporting;

/// <summary>What <see cref="PathTable{T}"/> ranks its entries by.</summary>
internal interface ICountedPath
{
    long Count { get; }
}
