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
    private readonly PosixSignalRegistration[] _registrations;
    private readonly ILogger _logger;
    private readonly Action<int> _exit;
    private int _received;

    /// <param name="exit">Ends the process with an exit code: <see cref="Environment.Exit"/>, or a test's stand-in.</param>
    public ShutdownSignals(ILogger<ShutdownSignals> logger, Action<int> exit)
    {
        _logger = logger;
        _exit = exit;
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

    private void OnSignal(PosixSignalContext context)
    {
        // The first signal is left to the host (it cancels the default termination and starts the drain).
        if (Interlocked.Increment(ref _received) < 2)
        {
            return;
        }

        SecondSignal(_logger, context.Signal);
        _exit(ExitCodeFor(context.Signal));
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Second {Signal}: exiting at once; requests still in flight get no line")]
    private static partial void SecondSignal(ILogger logger, PosixSignal signal);
}
