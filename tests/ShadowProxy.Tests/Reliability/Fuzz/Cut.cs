namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>A piece of bytes written on its own, after a pause of <paramref name="DelayMs"/> milliseconds.</summary>
internal readonly record struct Cut(int Length, int DelayMs);
