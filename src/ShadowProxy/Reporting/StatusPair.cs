namespace ShadowProxy.Reporting;

/// <summary>One cell of the production × shadow matrix; 0 is "no status" (printed '-').</summary>
internal sealed record StatusPair(int Production, int Shadow, long Count);
