using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// Production fails after its answer has begun: the client already holds the head and part of the body, so no 502 or
/// 504 can be sent any more. The client connection must be cut (a kept-alive client would otherwise take the partial
/// answer for a whole one), and the line must name production's error. Before any byte of its final answer reached
/// the client (an interim 100 Continue is not one): 502 or 504.
/// </summary>
public sealed class ProductionMidResponseTests
{
    private const string PartialPath = "/partial";
    private const string StallsInHeadPath = "/stalls-in-head";
    private const string ContinuedPath = "/continued";
    private static readonly TimeSpan ProductionTimeout = TimeSpan.FromSeconds(1);
    // Generous: a proxy that keeps the connection open would leave the client waiting for ever, not a few seconds.
    private static readonly TimeSpan CutWithin = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Production that answers GET /partial with <paramref name="answerStart"/> (a head and part of the body), waits
    /// until the client holds it (so the fault is mid-answer by construction), then resets its connection or goes silent
    /// until the proxy gives up on it (<paramref name="closed"/>, if given, says when). Any other request gets a 200.
    /// </summary>
    private static LoopbackBackend StartProductionFailingMidAnswer(
        string answerStart, string fault, TaskCompletionSource clientHasBodyPart, TaskCompletionSource? closed = null) =>
        LoopbackBackend.Start(async connection =>
        {
            string? request = await connection.ReadRequestAsync();
            if (request is null)
            {
                return;
            }

            if (!request.StartsWith($"GET {PartialPath} ", StringComparison.Ordinal))
            {
                await connection.SendAsync(FaultyBackends.ProductionOk);
                return;
            }

            await connection.SendAsync(answerStart);
            await clientHasBodyPart.Task.WaitAsync(connection.Stopping);
            if (fault == "reset")
            {
                connection.Reset();
                return;
            }

            await connection.WaitForCloseAsync();   // silent: the proxy has to give up on it
            closed?.TrySetResult();
        });

    public static TheoryData<string, string, string, string> MidResponseFaults => new()
    {
        // fault, framing's head field, the body part production sends before the fault, the error the line names
        { "reset", "Content-Length: 100", "only the first part", "reset" },
        { "reset", "Transfer-Encoding: chunked", "5\r\nfirst\r\n", "reset" },
        { "silent", "Content-Length: 100", "only the first part", "timeout" },
        { "silent", "Transfer-Encoding: chunked", "5\r\nfirst\r\n", "timeout" },
    };

    [Theory]
    [MemberData(nameof(MidResponseFaults))]
    public async Task Production_failing_mid_body_cuts_the_client_and_the_line_names_the_error(
        string fault, string framing, string bodyPart, string expectedError)
    {
        var clientHasBodyPart = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var productionConnectionClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = StartProductionFailingMidAnswer(
            $"HTTP/1.1 200 OK\r\n{framing}\r\n\r\n{bodyPart}", fault, clientHasBodyPart, productionConnectionClosed);
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        // Only the silent fault is to end in the timeout: a reset comes after the client has read the body part, and a
        // 1 s timer running through that round trip would turn a slow test host's reset into a timeout.
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = fault == "silent" ? ProductionTimeout : CutWithin * 3 });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        // A kept-alive client: a connection left open after the partial answer would look like a slow body, not an error.
        await client.SendAsync($"GET {PartialPath} HTTP/1.1\r\nHost: h\r\n\r\n");
        string beforeFault = await client.ReadThroughAsync(bodyPart);
        clientHasBodyPart.SetResult();
        string? afterFault = await client.ReadUntilEndedAsync(CutWithin);
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);

        Assert.True(afterFault is not null, $"the client connection should be cut after production's {fault} mid-response, but it stayed open");
        // Nothing made up after the fault: no 502/504 behind the partial answer, no last chunk that would make it look whole.
        Assert.Equal("", afterFault);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", beforeFault, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n" + bodyPart, beforeFault, StringComparison.Ordinal);
        if (fault == "silent")
        {
            await productionConnectionClosed.Task.WaitAsync(CutWithin);   // the proxy let go of production too
        }

        RequestRecord record = proxy.Records[0];
        Assert.Equal(PartialPath, record.Url);
        Assert.Equal(200, record.Production.StatusCode);
        Assert.Null(record.Production.Elapsed);   // the response was never read whole: no time for it
        Assert.Equal(201, record.Shadow.StatusCode);
        Assert.Matches($@"^{PartialPath} - \d+\.\d{{3}} - 200 201$", TextRequestLine.Format(record));
        using var json = new JsonRequestLine();
        using JsonDocument line = JsonDocument.Parse(json.Format(record));
        Assert.Equal(expectedError, line.RootElement.GetProperty("production_error").GetString());
        Assert.Equal(JsonValueKind.Null, line.RootElement.GetProperty("production_time").ValueKind);
        Assert.Equal("production_error", line.RootElement.GetProperty("diff").GetString());
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    public static TheoryData<string, string, string, string> CloseFramedFaults => new()
    {
        // fault, the request's version, the answer's framing field ("" for none), the body part sent before the fault
        { "reset", "HTTP/1.1", "", "only the first part" },
        { "silent", "HTTP/1.1", "", "only the first part" },
        // chunked to an HTTP/1.0 client, which knows no chunked coding: it too reads to the close
        { "reset", "HTTP/1.0", "Transfer-Encoding: chunked\r\n", "5\r\nfirst\r\n" },
    };

    [Theory]
    [MemberData(nameof(CloseFramedFaults))]
    public async Task Production_failing_mid_answer_that_only_the_close_ends_resets_the_client(
        string fault, string version, string framing, string bodyPart)
    {
        // An answer without a length ends at the close: a plain close after production's failure would tell the
        // client that the part it holds is the whole answer. Only a reset tells it the answer was cut.
        var clientHasBodyPart = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = StartProductionFailingMidAnswer(
            $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{framing}\r\n{bodyPart}", fault, clientHasBodyPart);
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = fault == "silent" ? ProductionTimeout : CutWithin * 3 });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync($"GET {PartialPath} {version}\r\nHost: h\r\n\r\n");
        string beforeFault = await client.ReadThroughAsync(bodyPart);
        clientHasBodyPart.SetResult();
        using var limit = new CancellationTokenSource(CutWithin);
        IOException reset = await Assert.ThrowsAnyAsync<IOException>(() => client.ReadToEndAsync(limit.Token));
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);

        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(reset.InnerException).SocketErrorCode);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", beforeFault, StringComparison.Ordinal);
        RequestRecord record = proxy.Records[0];
        Assert.Equal(200, record.Production.StatusCode);
        Assert.Equal(fault == "reset" ? BackendError.Reset : BackendError.Timeout, record.Production.Error);
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task The_reset_after_a_cut_answer_comes_once_the_client_has_taken_what_was_relayed()
    {
        // A reset throws away what the kernel still holds to send. A slow client would lose the part of the answer the
        // proxy had relayed (and, on a kept-alive connection, whole answers before it) if the reset came at once.
        const string ProductionHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
        await using var production = LoopbackBackend.Start(async connection =>
        {
            if (await connection.ReadRequestAsync() is null)
            {
                return;
            }

            await connection.SendAsync(ProductionHead);
            await connection.SendAsync(new byte[1024 * 1024]);
            connection.Reset();
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { LingerTime = CutWithin });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(proxy.EndPoint);
        await client.SendAsync(Encoding.ASCII.GetBytes($"GET {PartialPath} HTTP/1.1\r\nHost: h\r\n\r\n"));

        // Slowly: the proxy's send queue fills while production sends and resets.
        long received = 0;
        SocketError ending = SocketError.Success;
        byte[] buffer = new byte[4096];
        using var limit = new CancellationTokenSource(CutWithin * 2);
        try
        {
            for (int read; (read = await client.ReceiveAsync(buffer, limit.Token)) > 0;)
            {
                received += read;
                await Task.Delay(1, limit.Token);
            }
        }
        catch (SocketException ex)
        {
            ending = ex.SocketErrorCode;
        }

        await proxy.WaitForLinesAsync(1);
        RequestRecord record = proxy.Records[0];
        Assert.Equal(BackendError.Reset, record.Production.Error);
        Assert.Equal(SocketError.ConnectionReset, ending);
        // Every byte read from production reached the client, its head with the proxy's Connection: close.
        Assert.Equal(record.Production.Bytes + "Connection: close\r\n".Length, received);
        Assert.True(received > ProductionHead.Length + (64 * 1024), $"only {received} bytes relayed: the test did not fill the proxy's send queue");
    }

    [Fact]
    public async Task Production_silent_inside_its_head_gets_the_client_a_504_and_the_proxy_serves_on()
    {
        // Production sent bytes, but not a whole head: nothing could be relayed, so a 504 can still be the answer.
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? request = await connection.ReadRequestAsync();
            if (request?.StartsWith($"GET {StallsInHeadPath} ", StringComparison.Ordinal) == true)
            {
                await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Len");
                await connection.WaitForCloseAsync();
            }
            else if (request is not null)
            {
                await connection.SendAsync(FaultyBackends.ProductionOk);
            }
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = ProductionTimeout });
        var clock = Stopwatch.StartNew();

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {StallsInHeadPath} HTTP/1.1\r\nHost: h\r\n\r\n");
        TimeSpan answeredAfter = clock.Elapsed;
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain("200 OK", response, StringComparison.Ordinal);   // not a byte of the stalled head
        Assert.True(answeredAfter >= ProductionTimeout * 0.8, $"the 504 should wait for the production timeout, came after {answeredAfter}");
        RequestRecord record = proxy.Records[0];
        Assert.Equal(BackendError.Timeout, record.Production.Error);
        Assert.Matches($@"^{StallsInHeadPath} - \d+\.\d{{3}} - - 201$", TextRequestLine.Format(record));
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Theory]
    [InlineData("silent", "HTTP/1.1 504 Gateway Timeout\r\n", nameof(BackendError.Timeout))]
    [InlineData("closes", "HTTP/1.1 502 Bad Gateway\r\n", nameof(BackendError.Reset))]
    public async Task Production_failing_after_a_100_continue_still_gets_the_client_a_502_or_504(
        string fault, string expectedAnswer, string expectedError)
    {
        // 100 Continue is interim (RFC 9110 §15.2): the client that got it still waits for production's final answer.
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? head = await connection.ReadHeadAsync();
            if (head is null)
            {
                return;
            }

            if (!head.StartsWith($"POST {ContinuedPath} ", StringComparison.Ordinal))
            {
                await connection.ReadBodyAsync(head);
                await connection.SendAsync(FaultyBackends.ProductionOk);
                return;
            }

            await connection.SendAsync("HTTP/1.1 100 Continue\r\n\r\n");
            connection.RecordHeadOnly(head + await connection.ReadBodyAsync(head));
            if (fault == "silent")
            {
                await connection.WaitForCloseAsync();
            }

            // closes: the handler's end closes the connection, with no final answer
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = ProductionTimeout });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync($"POST {ContinuedPath} HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        string interim = await client.ReadInterimHeadAsync();
        await client.SendAsync("hello");
        string? final = await client.ReadUntilEndedAsync(CutWithin);
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);

        Assert.Equal("HTTP/1.1 100 Continue\r\n\r\n", interim);
        Assert.True(final is not null, "the client connection should end after production's failure");
        Assert.StartsWith(expectedAnswer, final, StringComparison.Ordinal);
        Assert.Equal($"POST {ContinuedPath} HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", production.Requests[0]);
        RequestRecord record = proxy.Records[0];
        Assert.Equal(Enum.Parse<BackendError>(expectedError), record.Production.Error);
        Assert.Equal(0, record.Production.StatusCode);   // 100 was not production's status
        Assert.Null(record.Production.Facts.FirstByte);   // nor the first byte of its answer
        Assert.Matches($@"^{ContinuedPath} - \d+\.\d{{3}} - - 201$", TextRequestLine.Format(record));
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    public static TheoryData<string, string, bool> BrokenChunkedTails => new()
    {
        // what follows a valid first chunk, the part of it that is still valid framing, whether it comes in a later read
        { "zz\r\n0\r\n\r\n", "", false },                               // a chunk size that is not hex
        { "1G\r\nx\r\n0\r\n\r\n", "1", false },                           // not hex after a valid digit
        { "3\r\nabcX\r\n0\r\n\r\n", "3\r\nabc", false },                  // no CRLF after the chunk data
        { "3\r\nabc\n0\r\n\r\n", "3\r\nabc", false },                     // bare LF after the chunk data
        { "3;ext\u0001\r\nabc\r\n0\r\n\r\n", "3;ext", false },            // a control character in an extension
        { "5 xyz\r\nhello\r\n0\r\n\r\n", "5 ", false },                   // text after a chunk size without a ';'
        { "0\r\nX-No-Colon\r\n\r\n", "0\r\nX-No-Colon", false },          // a trailer line without a colon
        { "3\r\nabcX\r\n0\r\n\r\n", "3\r\nabc", true },
        { "zz\r\n0\r\n\r\n", "", true },
        { "5 xyz\r\nhello\r\n0\r\n\r\n", "5 ", true },
        { "0\r\nX-No-Colon\r\n\r\n", "0\r\nX-No-Colon", true },
    };

    [Theory]
    [MemberData(nameof(BrokenChunkedTails))]
    public async Task A_chunked_answer_that_breaks_part_way_reaches_the_client_as_valid_framing_up_to_the_cut(
        string tail, string validPart, bool tailLater)
    {
        // The client holds the head and the first chunk when production's framing breaks: it can no longer get a 502,
        // so the connection is cut. What it got before the cut must be a valid prefix of chunked framing, never the byte
        // that breaks it: a client (or a cache) parsing leniently could otherwise read something out of that byte.
        const string Head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        const string FirstChunk = "5\r\nfirst\r\n";
        var clientHasFirstChunk = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            if (await connection.ReadRequestAsync() is null)
            {
                return;
            }

            if (tailLater)
            {
                await connection.SendAsync(Head + FirstChunk);
                await clientHasFirstChunk.Task.WaitAsync(connection.Stopping);
                await connection.SendAsync(tail);
            }
            else
            {
                await connection.SendAsync(Head + FirstChunk + tail);
            }

            await connection.WaitForCloseAsync();   // the proxy, not production, ends it
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync($"GET {PartialPath} HTTP/1.1\r\nHost: h\r\n\r\n");
        string beforeTail = tailLater ? await client.ReadThroughAsync(FirstChunk) : "";
        clientHasFirstChunk.TrySetResult();
        string? rest = await client.ReadUntilEndedAsync(CutWithin);
        await proxy.WaitForLinesAsync(1);

        Assert.True(rest is not null, "the client connection should be cut where production's framing breaks");
        string received = beforeTail + rest;
        int bodyStart = received.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", received, StringComparison.Ordinal);
        Assert.Equal(FirstChunk + validPart, received[bodyStart..]);
        RequestRecord record = proxy.Records[0];
        Assert.Equal((200, BackendError.InvalidResponse), (record.Production.StatusCode, record.Production.Error));
        await FaultTests.AssertAllClosedAsync(proxy);
    }
}
