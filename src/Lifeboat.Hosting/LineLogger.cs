using Microsoft.Extensions.Logging;

namespace Lifeboat.Hosting;

/// <summary>
/// Console logs, one line per entry, in the format of Microsoft.Extensions.Logging's simple console logger with
/// SingleLine and an "HH:mm:ss.fff " timestamp (<c>12:00:00.000 info: lifeboat.photos[0] message</c>), written to
/// standard output as that logger does. Written here instead of using that logger: its dependency-injection container,
/// options and formatter set-up took ~30 ms of every command's start-up, a tenth of a short backfill's wall time
/// (docs/benchmarks.md). Lines are written whole and synchronously (Console.Out is synchronised): Lifeboat logs per
/// pass and per problem, not per object, so a slow reader of the output slows nothing that matters.
/// </summary>
public sealed class LineLoggerProvider(TimeProvider time, TextWriter? output = null) : ILoggerProvider
{
    private readonly TextWriter _out = output ?? Console.Out;
    private readonly TimeProvider _time = time;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private sealed class Logger(LineLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var message = formatter(state, exception);
            if (exception is not null) message = message.Length == 0 ? exception.ToString() : $"{message} {exception}";
            if (message.Length == 0) return;
            // A URL from the config (a webhook, an endpoint with user-info) never shows its secrets in a log.
            message = Lifeboat.Abstractions.Redact.Text(message);
            var at = owner._time.GetLocalNow();
            // Single line: embedded line breaks (an exception's stack) are folded as the simple console logger does.
            owner._out.Write($"{at:HH:mm:ss.fff} {LevelName(logLevel)}: {category}[{eventId.Id}] {message.ReplaceLineEndings(" ")}{Environment.NewLine}");
        }
    }
}
