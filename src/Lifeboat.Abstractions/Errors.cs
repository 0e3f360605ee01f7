namespace Lifeboat.Abstractions;

/// <summary>
/// The one error taxonomy every provider's errors declare: whether retrying the same request can help
/// (<see cref="Transient"/>), cannot (<see cref="Permanent"/>: a refused request, missing object, damaged data), or
/// the user must change something (<see cref="User"/>: config, credentials, an unreachable or missing endpoint;
/// printed as one line, exit code 2).
/// </summary>
public enum ErrorClass { Transient, Permanent, User }

/// <summary>An error that says which <see cref="ErrorClass"/> it is. Errors of the outside world (a service's answer,
/// a network failure, a damaged file) implement it; an exception that does not is a defect of Lifeboat.</summary>
public interface IClassifiedError
{
    ErrorClass Class { get; }
}
