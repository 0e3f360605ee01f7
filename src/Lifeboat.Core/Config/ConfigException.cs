namespace Lifeboat.Core.Config;

/// <summary>A user error in a configuration file: always names the file, line and key.</summary>
public sealed class ConfigException(string file, long line, long column, string key, string message)
    : Exception($"{file}:{line}:{column}: {key}: {message}"), Abstractions.IClassifiedError
{
    public Abstractions.ErrorClass Class => Abstractions.ErrorClass.User;
    public string File { get; } = file;
    public long Line { get; } = line;
    public string Key { get; } = key;
}

/// <summary>A user error outside config files (unreachable endpoint, missing bucket...): printed as one line, no stack trace.</summary>
public sealed class UserErrorException(string message, Exception? inner = null) : Exception(message, inner), Abstractions.IClassifiedError
{
    public Abstractions.ErrorClass Class => Abstractions.ErrorClass.User;
}
