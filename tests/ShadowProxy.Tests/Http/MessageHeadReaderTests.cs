using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Http;

public sealed class MessageHeadReaderTests
{
    private const string Head = "GET /x?y=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";

    [Fact]
    public async Task A_head_written_in_two_pieces_at_any_point_reads_the_same_and_leaves_the_body()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Head + "BODY");
        for (int split = 1; split < bytes.Length; split++)
        {
            var pipe = new Pipe();
            byte[] scratch = new byte[1024];
            ValueTask<HeadRead> reading = MessageHeadReader.ReadAsync(pipe.Reader, scratch, 1024, TimeProvider.System, CancellationToken.None);
            await pipe.Writer.WriteAsync(bytes.AsMemory(0, split));
            await pipe.Writer.WriteAsync(bytes.AsMemory(split));
            await pipe.Writer.CompleteAsync();

            HeadRead read = await reading;
            Assert.Equal(HeadReadStatus.Complete, read.Status);
            Assert.Equal(Head, Encoding.ASCII.GetString(scratch, 0, read.Length));
            ReadResult rest = await pipe.Reader.ReadAsync();
            Assert.Equal("BODY", Encoding.ASCII.GetString(rest.Buffer));
        }
    }

    [Fact]
    public async Task Every_prefix_of_a_head_is_incomplete()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Head);
        for (int length = 1; length < bytes.Length; length++)
        {
            var pipe = new Pipe();
            await pipe.Writer.WriteAsync(bytes.AsMemory(0, length));
            await pipe.Writer.CompleteAsync();

            HeadRead read = await MessageHeadReader.ReadAsync(pipe.Reader, new byte[1024], 1024, TimeProvider.System, CancellationToken.None);
            Assert.Equal(HeadReadStatus.Truncated, read.Status);
        }
    }

    [Fact]
    public async Task A_canceled_read_ends_a_wait_for_a_head_not_begun_and_reads_on_through_one_begun()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(Head);
        var idle = new Pipe();
        ValueTask<HeadRead> waiting = MessageHeadReader.ReadAsync(idle.Reader, new byte[1024], 1024, TimeProvider.System, CancellationToken.None);
        idle.Reader.CancelPendingRead();
        Assert.Equal(HeadReadStatus.ClientClosed, (await waiting).Status);

        var begun = new Pipe();
        byte[] scratch = new byte[1024];
        ValueTask<HeadRead> reading = MessageHeadReader.ReadAsync(begun.Reader, scratch, 1024, TimeProvider.System, CancellationToken.None);
        await begun.Writer.WriteAsync(bytes.AsMemory(0, 10));
        begun.Reader.CancelPendingRead();
        await begun.Writer.WriteAsync(bytes.AsMemory(10));

        HeadRead read = await reading;
        Assert.Equal(HeadReadStatus.Complete, read.Status);
        Assert.Equal(Head, Encoding.ASCII.GetString(scratch, 0, read.Length));
    }

    [Theory]
    [InlineData("", "ClientClosed")]
    [InlineData("\r\n\r\n", "ClientClosed")]
    public async Task An_empty_or_blank_connection_is_a_clean_close(string input, string expected)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(input));
        await pipe.Writer.CompleteAsync();

        HeadRead read = await MessageHeadReader.ReadAsync(pipe.Reader, new byte[64], 64, TimeProvider.System, CancellationToken.None);

        Assert.Equal(Enum.Parse<HeadReadStatus>(expected), read.Status);
    }

    [Fact]
    public async Task A_head_over_the_limit_is_too_large_even_while_still_arriving()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nCookie: " + new string('c', 2000)));

        HeadRead read = await MessageHeadReader.ReadAsync(pipe.Reader, new byte[1024], 1024, TimeProvider.System, CancellationToken.None);

        Assert.Equal(HeadReadStatus.TooLarge, read.Status);
    }

    [Fact]
    public async Task Empty_lines_before_a_request_line_are_skipped()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes("\r\n\r\n" + Head));
        byte[] scratch = new byte[1024];

        HeadRead read = await MessageHeadReader.ReadAsync(pipe.Reader, scratch, 1024, TimeProvider.System, CancellationToken.None);

        Assert.Equal(Head, Encoding.ASCII.GetString(scratch, 0, read.Length));
    }

    [Fact]
    public async Task With_an_empty_scratch_the_head_is_rented_from_the_pool_only_once_it_is_whole()
    {
        var pool = new CountingPool();
        var pipe = new Pipe();
        ValueTask<HeadRead> reading = MessageHeadReader.ReadAsync(pipe.Reader, [], 1024, TimeProvider.System, CancellationToken.None, growFrom: pool);
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(Head[..10]));
        Assert.False(reading.IsCompleted);
        Assert.Equal(0, pool.Rented);   // nothing held while the head is still arriving

        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(Head[10..] + "BODY"));
        HeadRead read = await reading;

        Assert.Equal(HeadReadStatus.Complete, read.Status);
        Assert.NotNull(read.Grown);
        Assert.Equal(1, pool.Rented);
        Assert.Equal(Head, Encoding.ASCII.GetString(read.Grown, 0, read.Length));
        ReadResult rest = await pipe.Reader.ReadAsync();
        Assert.Equal("BODY", Encoding.ASCII.GetString(rest.Buffer));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n", "Truncated")]
    [InlineData("GET / HTTP/1.1\nHost: h\n\n", "Malformed")]
    public async Task A_head_that_does_not_complete_rents_nothing(string input, string expected)
    {
        var pool = new CountingPool();
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.ASCII.GetBytes(input));
        await pipe.Writer.CompleteAsync();

        HeadRead read = await MessageHeadReader.ReadAsync(pipe.Reader, [], 1024, TimeProvider.System, CancellationToken.None, growFrom: pool);

        Assert.Equal(Enum.Parse<HeadReadStatus>(expected), read.Status);
        Assert.Null(read.Grown);
        Assert.Equal(0, pool.Rented);
    }

    [Fact]
    public void ReturnScratch_gives_a_grown_head_back_once_and_leaves_an_empty_scratch()
    {
        var pool = new CountingPool();
        byte[] scratch = pool.Rent(200);

        MessageHeadReader.ReturnScratch(ref scratch, pool);
        MessageHeadReader.ReturnScratch(ref scratch, pool);   // nothing held any more: nothing given back twice

        Assert.Empty(scratch);
        Assert.Equal(1, pool.Returned);
    }

    private sealed class CountingPool : ArrayPool<byte>
    {
        public int Rented { get; private set; }

        public int Returned { get; private set; }

        public override byte[] Rent(int minimumLength)
        {
            Rented++;
            return new byte[minimumLength];
        }

        public override void Return(byte[] array, bool clearArray = false) => Returned++;
    }
}
