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

    /// <summary>The kind of failure.</summary>
    public ErrorCode Code { get; }
}
