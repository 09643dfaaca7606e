namespace Secateur;

/// <summary>What kind of domain failure a <see cref="SecateurException"/> reports; the CLI maps each to an exit code.</summary>
public enum ErrorCode
{
    /// <summary>A file is missing, unreadable, truncated or not in the expected format.</summary>
    BadFile = 2,
    /// <summary>A model graph is malformed (dangling value, wrong arity, inconsistent shapes).</summary>
    InvalidGraph = 3,
    /// <summary>An operator or attribute the graph uses is not supported.</summary>
    UnsupportedOp = 4,
    /// <summary>A user-supplied argument is invalid (unknown model, bad shape string, bad option value).</summary>
    BadArgument = 5,
    /// <summary>A requested target cannot be met (e.g. pruning more than everything prunable).</summary>
    ImpossibleTarget = 6,
    /// <summary>A native library (libtorch, ONNX Runtime) could not be loaded.</summary>
    NativeLoad = 7,
    /// <summary>A requested device (e.g. CUDA) is not available.</summary>
    DeviceUnavailable = 8,
}

/// <summary>The one exception type for domain failures in Secateur. Its message is written for the user.</summary>
public sealed class SecateurException : Exception
{
    /// <summary>Creates an exception with a code and a user-facing message.</summary>
    public SecateurException(ErrorCode code, string message, Exception? inner = null) : base(message, inner) => Code = code;

    /// <summary>
    /// Creates an exception that names the offending parameter (an options property such as
    /// <c>nameof(PruningTarget.Speedup)</c>), so that a front end can point its user at its own spelling of it
    /// (the CLI maps it to a flag) while the message itself stays neutral.
    /// </summary>
    public SecateurException(ErrorCode code, string message, string? parameter, Exception? inner = null) : base(message, inner)
    {
        Code = code;
        Parameter = parameter;
    }

    /// <summary>The kind of failure.</summary>
    public ErrorCode Code { get; }

    /// <summary>The options property the failure is about (e.g. <c>"Speedup"</c>), or null when it is about no single one.</summary>
    public string? Parameter { get; }
}
