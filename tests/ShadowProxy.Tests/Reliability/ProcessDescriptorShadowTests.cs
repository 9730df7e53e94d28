using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// The open-file budget (Hosting/DescriptorLimit: 3 per client, 256 for the process) counts a client's shadow socket
/// only while the client is connected. A shadow copy outlives its client (the line waits for it; --shadow-timeout
/// bounds it, 60 s by default), so a slow shadow can hold far more sockets than there are clients.
/// </summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessDescriptorShadowTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    [Fact]
    public async Task A_silent_shadow_does_not_take_the_proxy_past_its_open_file_limit()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            try
            {
                await Task.Delay(Timeout.Infinite, connection.Stopping);
            }
            catch (OperationCanceledException)
            {
            }
        });
        await using ProxyProcess proxy = await ProxyProcess.StartAfterAsync(
            "ulimit -n 400", production.EndPoint, shadow.EndPoint);
        await proxy.WaitForStderrAsync("lowered to 48");

        // One client at a time, each gone before the next: never more than one client, well within the 48.
        for (int i = 0; i < 400; i++)
        {
            string answer = await RawHttp.SendAsync(proxy.EndPoint, $"GET /r/{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(answer == Ok, $"request {i}: '{answer}', {proxy.OpenDescriptors()} descriptors open; " + proxy.Stderr);
        }

        Assert.DoesNotContain("Accepting connections failed", proxy.Stderr, StringComparison.Ordinal);
    }
}
