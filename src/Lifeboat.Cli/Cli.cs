using System.Runtime.InteropServices;
using Lifeboat.Abstractions;
using Lifeboat.Core.Config;
using Microsoft.Extensions.Logging;

namespace Lifeboat.Cli;

/// <summary>Exit codes, user-error printing (one line, no stack trace) and signal handling shared by the commands.</summary>
public static class Cli
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int UserError = 2;

    public static async Task<int> Run(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        // Messages may quote a URL from the config: shown without its secrets (Redact).
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"lifeboat: {Redact.Text(e.Message)}");
            return UserError;
        }
        catch (UserErrorException e)
        {
            Console.Error.WriteLine($"lifeboat: {Redact.Text(e.Message)}");
            return UserError;
        }
        catch (StoreException e)
        {
            Console.Error.WriteLine($"lifeboat: {Redact.Text(e.Message)}");
            return Failed;
        }
        catch (Providers.Aws.AwsServiceException e)
        {
            // RDS / Route 53 errors not handled where they happened: one line with the service's code and message.
            Console.Error.WriteLine($"lifeboat: {Redact.Text(e.Message)}");
            return Failed;
        }
        catch (Amazon.Runtime.AmazonServiceException e)
        {
            // A service error not handled where it happened (e.g. during verify): one line, not a stack trace.
            Console.Error.WriteLine($"lifeboat: {e.ErrorCode}: {Redact.Text(e.Message)}");
            return Failed;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            // The state stores translate their errors with the file's name (StateFile.Translate); this is the net under them.
            Console.Error.WriteLine($"lifeboat: state file: SQLite error {e.SqliteErrorCode}: {e.Message.ReplaceLineEndings(" ")}");
            return UserError;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("lifeboat: interrupted");
            return 130;
        }
    }

    /// <summary>Console logs at <paramref name="level"/>, or at LIFEBOAT_LOG_LEVEL (debug, information, warning, ...) when set.</summary>
    public static ILoggerFactory Logs(LogLevel level = LogLevel.Information)
    {
        if (Environment.GetEnvironmentVariable("LIFEBOAT_LOG_LEVEL") is { Length: > 0 } env)
            level = Enum.TryParse<LogLevel>(env, ignoreCase: true, out var l) ? l
                : throw new UserErrorException($"LIFEBOAT_LOG_LEVEL: '{env}' is not a log level (trace, debug, information, warning, error)");
        // Built without a service container (LineLoggerProvider says why); ASP.NET Core's own logs only from warnings.
        return new LoggerFactory([new Hosting.LineLoggerProvider(TimeProvider.System)],
            new LoggerFilterOptions { MinLevel = level, Rules = { new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null) } });
    }

    /// <summary>First SIGINT/SIGTERM: stop taking new work, finish what is in flight, checkpoint.
    /// Second: abort in-flight work too (still safe: nothing is marked done before it is durable).</summary>
    public sealed class Shutdown : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly CancellationTokenSource _abort = new();
        private readonly List<PosixSignalRegistration> _regs = [];

        public Shutdown()
        {
            foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
                _regs.Add(PosixSignalRegistration.Create(sig, ctx =>
                {
                    ctx.Cancel = true;
                    if (!_stop.IsCancellationRequested)
                    {
                        Console.Error.WriteLine("lifeboat: stopping: finishing copies in flight (signal again to abort them)");
                        _stop.Cancel();
                    }
                    else _abort.Cancel();
                }));
        }

        public CancellationToken Stop => _stop.Token;
        public CancellationToken Abort => _abort.Token;

        public void Dispose()
        {
            foreach (var r in _regs) r.Dispose();
            _stop.Dispose();
            _abort.Dispose();
        }
    }
}
