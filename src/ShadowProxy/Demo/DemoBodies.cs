using System.IO.Pipelines;

namespace ShadowProxy.Demo;

/// <summary>Reading past a Content-Length body the demo does not need, on either end of a connection.</summary>
internal static class DemoBodies
{
    /// <summary>Consumes up to <paramref name="remaining"/> bytes; stops early if the peer closes.</summary>
    public static async Task SkipAsync(PipeReader input, long remaining, CancellationToken cancellationToken = default)
    {
        while (remaining > 0)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            long take = Math.Min(remaining, result.Buffer.Length);
            input.AdvanceTo(result.Buffer.GetPosition(take));
            remaining -= take;
            if (result.IsCompleted)
            {
                return;
            }
        }
    }
}
