using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace ShadowProxy.Hosting;

/// <summary>
/// Counts SIGTERM, SIGINT (Ctrl+C), SIGQUIT and SIGHUP. The first belongs to the Generic Host's console lifetime: stop
/// accepting, drain within the drain timeout, flush the lines, exit 0 (SIGHUP, which the host leaves to its default, to
/// die at once, is made to do the same here: a terminal or ssh session that closes must not cut the requests in flight
/// and lose their lines). The host ignores any later one, so an operator whose patience has run out would have to
/// reach for SIGKILL; here a second signal ends the process at once, with the shell's code for death by that signal
/// (128 + its number), because lines still in flight are lost.
/// </summary>
internal sealed partial class ShutdownSignals : IDisposable
{
    /// <summary>
    /// The same signal again this soon is the first one delivered twice, not an operator's second: GNU timeout sends its
    /// signal to the program and then to the program's whole process group, so the program gets it twice at once.
    /// </summary>
    public static readonly TimeSpan RepeatWindow = TimeSpan.FromMilliseconds(250);

    private readonly PosixSignalRegistration[] _registrations;
    private readonly ILogger _logger;
    private readonly Action<int> _exit;
    private readonly Action _stop;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private PosixSignal? _first;
    private long _firstAt;
    private bool _exiting;

    /// <param name="exit">Ends the process with an exit code: <see cref="Environment.Exit"/>, or a test's stand-in.</param>
    /// <param name="stop">Starts the drain, as the host does for its own signals: for SIGHUP.</param>
    public ShutdownSignals(ILogger<ShutdownSignals> logger, Action<int> exit, Action stop, TimeProvider? time = null)
    {
        _logger = logger;
        _exit = exit;
        _stop = stop;
        _time = time ?? TimeProvider.System;
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnHangUp),
        ];
    }

    /// <summary>The exit code of a process killed by the signal, as shells report it.</summary>
    public static int ExitCodeFor(PosixSignal signal) => 128 + signal switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGQUIT => 3,
        _ => 15,
    };

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations)
        {
            registration.Dispose();
        }
    }

    /// <summary>What a signal meant.</summary>
    internal enum Meaning
    {
        /// <summary>The first: the drain.</summary>
        First,

        /// <summary>The first again, delivered twice, or one more while the process already exits: nothing to do.</summary>
        Repeat,

        /// <summary>An operator's second: the process exits at once.</summary>
        Second,
    }

    private void OnSignal(PosixSignalContext context) => OnSignal(context.Signal);

    private void OnHangUp(PosixSignalContext context)
    {
        context.Cancel = true;   // not the default, death at once
        if (OnSignal(context.Signal) == Meaning.First)
        {
            _stop();   // the host's own signals start the drain themselves; this one is ours
        }
    }

    internal Meaning OnSignal(PosixSignal signal)
    {
        lock (_gate)
        {
            if (_first is null)
            {
                // The first signal is left to the host (it cancels the default termination and starts the drain).
                (_first, _firstAt) = (signal, _time.GetTimestamp());
                return Meaning.First;
            }

            if (_exiting || (signal == _first && _time.GetElapsedTime(_firstAt) < RepeatWindow))
            {
                return Meaning.Repeat;
            }

            _exiting = true;
        }

        SecondSignal(_logger, signal);
        _exit(ExitCodeFor(signal));
        return Meaning.Second;
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Second {Signal}: exiting at once; requests still in flight get no line")]
    private static partial void SecondSignal(ILogger logger, PosixSignal signal);
}
