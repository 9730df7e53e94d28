using ShadowProxy.Hosting;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Hosting;

/// <summary>
/// The clients that fit in the open-file limit: three descriptors each, beside the process's own, which grow with
/// the event loops it runs (SHADOWPROXY_IO_THREADS can start dozens, each holding its epoll and eventfd for good).
/// </summary>
public sealed class DescriptorLimitTests
{
    [Theory]
    [InlineData(400UL, 48)]       // ProcessDescriptorLimitTests' ulimit -n 400
    [InlineData(20_000UL, 6581)]  // the README's example
    [InlineData(259UL, 1)]        // no room for one client: still one
    public void With_the_default_two_loops_the_process_keeps_256(ulong openFiles, int clients)
    {
        Assert.Equal(256, DescriptorLimit.Reserve(eventLoops: 2));
        Assert.Equal(clients, DescriptorLimit.ClientsWithin(openFiles, eventLoops: 2));
    }

    [Fact]
    public void Many_loops_leave_room_for_fewer_clients()
    {
        // 64 client loops and the shadow's: 252 + 2 × 65 = 382 kept, so 1,000 descriptors fit (1000 - 382) / 3 = 206
        // clients, where a reserve of 256 whatever the loops let 248 in and the loops' 122 descriptors past the limit.
        Assert.Equal(382, DescriptorLimit.Reserve(eventLoops: 65));
        Assert.Equal(206, DescriptorLimit.ClientsWithin(1000, eventLoops: 65));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(9)]
    [InlineData(65)]
    [InlineData(1025)]
    public void The_clients_that_fit_and_the_loops_stay_within_the_limit_and_one_more_client_would_not(int eventLoops)
    {
        int reserve = DescriptorLimit.Reserve(eventLoops);
        Assert.Equal(DescriptorLimit.ProcessReserve + (EventLoop.Descriptors * eventLoops), reserve);
        for (ulong openFiles = (ulong)reserve + DescriptorLimit.PerClient; openFiles < (ulong)reserve + 1000; openFiles++)
        {
            ulong clients = (ulong)DescriptorLimit.ClientsWithin(openFiles, eventLoops);
            Assert.True((ulong)reserve + (clients * DescriptorLimit.PerClient) <= openFiles, $"{clients} clients with {eventLoops} loops in {openFiles}");
            Assert.True((ulong)reserve + ((clients + 1) * DescriptorLimit.PerClient) > openFiles, $"{clients} clients with {eventLoops} loops in {openFiles}: one more fits");
        }
    }
}
