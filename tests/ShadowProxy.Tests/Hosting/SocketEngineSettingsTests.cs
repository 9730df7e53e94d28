using System.Net;
using System.Net.Sockets;
using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Hosting;

public sealed class SocketEngineSettingsTests
{
    [Fact]
    public async Task A_receive_that_had_to_wait_continues_on_the_socket_event_thread()
    {
        // The test run has the program's socket settings (socket-engine.runsettings); if the
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
    public void The_program_asks_for_inline_continuations_on_one_event_thread()
    {
        var environment = new Dictionary<string, string>();
        SocketEngineSettings.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("1", environment[SocketEngineSettings.InlineCompletions]);
        Assert.Equal("1", environment[SocketEngineSettings.ThreadCount]);
        // What this test run has (socket-engine.runsettings) is what the program sets: the test above checks the same thing.
        Assert.Equal("1", Environment.GetEnvironmentVariable(SocketEngineSettings.InlineCompletions));
        Assert.Equal("1", Environment.GetEnvironmentVariable(SocketEngineSettings.ThreadCount));
    }

    [Fact]
    public void An_operator_setting_in_the_environment_wins()
    {
        var environment = new Dictionary<string, string>
        {
            [SocketEngineSettings.InlineCompletions] = "0",
            [SocketEngineSettings.ThreadCount] = "4",
        };
        SocketEngineSettings.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("0", environment[SocketEngineSettings.InlineCompletions]);
        Assert.Equal("4", environment[SocketEngineSettings.ThreadCount]);
    }

    private static async Task<string?> ReceiveThenNameThreadAsync(Socket socket, byte[] buffer)
    {
        await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
        return Thread.CurrentThread.Name;
    }
}
