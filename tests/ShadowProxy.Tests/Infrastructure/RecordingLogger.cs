using Microsoft.Extensions.Logging;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>Keeps the diagnostics a component logs, as text: its information, its warnings, and its errors (and anything worse).</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly List<string> _information = [];
    private readonly List<string> _warnings = [];
    private readonly List<string> _errors = [];

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }
    }

    public IReadOnlyList<string> Information
    {
        get
        {
            lock (_information)
            {
                return [.. _information];
            }
        }
    }

    public IReadOnlyList<string> Warnings
    {
        get
        {
            lock (_warnings)
            {
                return [.. _warnings];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel == LogLevel.Information)
        {
            lock (_information)
            {
                _information.Add(formatter(state, exception));
            }
        }
        else if (logLevel == LogLevel.Warning)
        {
            lock (_warnings)
            {
                _warnings.Add(formatter(state, exception));
            }
        }
        else if (logLevel >= LogLevel.Error)
        {
            lock (_errors)
            {
                _errors.Add(formatter(state, exception));
            }
        }
    }
}
