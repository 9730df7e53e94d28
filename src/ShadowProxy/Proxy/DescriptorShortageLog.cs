using Microsoft.Extensions.Logging;

namespace ShadowProxy.Proxy;

/// <summary>
/// Says on stderr that sockets are being given up to keep descriptors free for the runtime
/// (Transport/DescriptorHeadroom): the first at once, then at most one line per <see cref="ReportInterval"/> while it
/// goes on, each counting the sockets given up since the line before it. A shortage comes with load, socket after
/// socket: a line each would flood stderr just when it matters. When a client is taken again with descriptors to spare,
/// one more line says the shortage is over and how many were given up after the last line, so that a count is never
/// left for a later shortage, maybe hours on, to carry (as Proxy/AcceptFailureLog does for accept failures).
/// </summary>
internal sealed class DescriptorShortageLog(ILogger logger, TimeProvider time)
{
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private long? _lastLine;
    private long _givenUp;
    private bool _saidShort;

    /// <param name="descriptor">The number of the descriptor given up: every lower one was in use.</param>
    public void Short(int descriptor, long limit, int headroom)
    {
        lock (_gate)
        {
            _givenUp++;
            long now = time.GetTimestamp();
            if (_lastLine is long last && time.GetElapsedTime(last, now) < ReportInterval)
            {
                return;
            }

            _lastLine = now;
            logger.DescriptorsShort(limit, descriptor + 1, _givenUp, headroom);
            _givenUp = 0;
            Volatile.Write(ref _saidShort, true);
        }
    }

    /// <summary>Whether a shortage was said and its end not yet: one read per accepted client.</summary>
    public bool ShortageSaid => Volatile.Read(ref _saidShort);

    /// <summary>A client was taken with descriptors to spare: says the shortage is over, once, with what it left uncounted.</summary>
    public void Over()
    {
        lock (_gate)
        {
            if (!_saidShort)
            {
                return;
            }

            logger.DescriptorsNoLongerShort(_givenUp);
            _givenUp = 0;
            _lastLine = null;   // a new shortage is said at once
            Volatile.Write(ref _saidShort, false);
        }
    }
}
