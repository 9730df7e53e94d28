using System.Net;
using System.Net.Sockets;
using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Hosting;

public sealed class RuntimeTuningTests
{
    [Fact]
    public async Task A_receive_that_had_to_wait_continues_on_the_socket_event_thread()
    {
        // The test run has the program's socket settings (runtime-tuning.runsettings); if the
        // runtime stopped honouring them, continuations would run on thread-pool workers instead.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using Socket server = await listener.AcceptAsync();

        var buffer = new byte[1];
        Task<string?> receivedOn = ReceiveThenNameThreadAsync(server, buffer);
        await Task.Delay(50);   // the receive is parked on the event loop by now
        Assert.False(receivedOn.IsCompleted);
        await client.SendAsync(new byte[] { 42 }, SocketFlags.None);

        Assert.Equal(".NET Sockets", await receivedOn.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(42, buffer[0]);
    }

    [Fact]
    public void The_program_asks_for_inline_continuations_on_one_event_thread_and_a_larger_buffer_pool()
    {
        var environment = new Dictionary<string, string>();
        RuntimeTuning.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("1", environment[RuntimeTuning.InlineCompletions]);
        Assert.Equal("1", environment[RuntimeTuning.ThreadCount]);
        Assert.Equal("512", environment[RuntimeTuning.PooledArraysPerSize]);
        // What this test run has (runtime-tuning.runsettings) is what the program sets.
        foreach ((string name, string value) in environment)
        {
            Assert.Equal(value, Environment.GetEnvironmentVariable(name));
        }
    }

    [Fact]
    public void An_operator_setting_in_the_environment_wins()
    {
        var environment = new Dictionary<string, string>
        {
            [RuntimeTuning.InlineCompletions] = "0",
            [RuntimeTuning.ThreadCount] = "4",
            [RuntimeTuning.PooledArraysPerSize] = "64",
        };
        RuntimeTuning.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("0", environment[RuntimeTuning.InlineCompletions]);
        Assert.Equal("4", environment[RuntimeTuning.ThreadCount]);
        Assert.Equal("64", environment[RuntimeTuning.PooledArraysPerSize]);
    }

    private static async Task<string?> ReceiveThenNameThreadAsync(Socket socket, byte[] buffer)
    {
        await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
        return Thread.CurrentThread.Name;
    }
}
