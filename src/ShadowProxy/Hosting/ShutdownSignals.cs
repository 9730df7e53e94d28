using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace ShadowProxy.Hosting;

/// <summary>
/// Counts SIGTERM, SIGINT (Ctrl+C) and SIGQUIT. The first belongs to the Generic Host's console lifetime: stop
/// accepting, drain within the drain timeout, flush the lines, exit 0. The host ignores any later one, so an operator
/// whose patience has run out would have to reach for SIGKILL; here a second signal ends the process at once, with
/// the shell's code for death by that signal (128 + its number), because lines still in flight are lost.
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
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private PosixSignal? _first;
    private long _firstAt;
    private bool _exiting;

    /// <param name="exit">Ends the process with an exit code: <see cref="Environment.Exit"/>, or a test's stand-in.</param>
    public ShutdownSignals(ILogger<ShutdownSignals> logger, Action<int> exit, TimeProvider? time = null)
    {
        _logger = logger;
        _exit = exit;
        _time = time ?? TimeProvider.System;
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
        ];
    }

    /// <summary>The exit code of a process killed by the signal, as shells report it.</summary>
    public static int ExitCodeFor(PosixSignal signal) => 128 + signal switch
    {
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

    private void OnSignal(PosixSignalContext context) => OnSignal(context.Signal);

    /// <returns>Whether this signal ends the process at once (a second one).</returns>
    internal bool OnSignal(PosixSignal signal)
    {
        lock (_gate)
        {
            if (_first is null)
            {
                // The first signal is left to the host (it cancels the default termination and starts the drain).
                (_first, _firstAt) = (signal, _time.GetTimestamp());
                return false;
            }

            if (_exiting || (signal == _first && _time.GetElapsedTime(_firstAt) < RepeatWindow))
            {
                return false;
            }

            _exiting = true;
        }

        SecondSignal(_logger, signal);
        _exit(ExitCodeFor(signal));
        return true;
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Second {Signal}: exiting at once; requests still in flight get no line")]
    private static partial void SecondSignal(ILogger logger, PosixSignal signal);
}
