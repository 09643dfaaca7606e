using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Graph;
using Secateur.Onnx;

namespace Secateur.Deployment;

/// <summary>How an ONNX Runtime session runs on the CPU.</summary>
/// <param name="Threads">Intra-op threads (the threads one operator may use); 0 means one per core.</param>
public sealed record SessionSettings(int Threads = 0)
{
    /// <summary>
    /// Whether the intra-op worker threads keep spinning on their cores after a run returns, waiting for the next
    /// run, as ONNX Runtime does unless told otherwise; false (the default) sets ORT's <c>session.force_spinning_stop</c>,
    /// so that the workers spin only while a run is in progress and sleep between runs.
    /// </summary>
    /// <remarks>
    /// A spinning idle session takes a core from whatever runs next in the process (see <see cref="LatencyBenchmark"/>
    /// for the measurements), so comparisons need sessions that sleep between runs, and single-model measurements use
    /// the same setting so that a model's latency reads the same alone and in a comparison. It is also the latency a
    /// deployed model shows when requests do not arrive back to back: its workers have stopped spinning by the time
    /// the next request comes, and each run starts by waking them. Only matters when <see cref="EffectiveThreads"/>
    /// is above 1 (one thread has no worker threads).
    /// </remarks>
    public bool SpinBetweenRuns { get; init; }

    /// <summary>Checks the values.</summary>
    public SessionSettings Validated()
    {
        if (Threads < 0) throw new SecateurException(ErrorCode.BadArgument, $"the thread count must be at least 0, where 0 means one per core (got {Threads})", nameof(Threads));
        return this;
    }

    /// <summary>The intra-op thread count actually used.</summary>
    public int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;
}

/// <summary>
/// An ONNX Runtime inference session over one model with one float input and one output, set up for
/// latency measurement: CPU execution provider, <see cref="SessionSettings.Threads"/> intra-op threads, one
/// inter-op thread, sequential execution, every graph optimisation ORT has, and (unless
/// <see cref="SessionSettings.SpinBetweenRuns"/>) worker threads that sleep between runs.
/// </summary>
public sealed class OnnxRuntimeSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    private OnnxRuntimeSession(byte[] model, string name, SessionSettings settings)
    {
        settings = (settings ?? throw new ArgumentNullException(nameof(settings))).Validated();
        EnsureLoaded();
        Name = name;
        Settings = settings;
        using var options = new SessionOptions
        {
            IntraOpNumThreads = settings.EffectiveThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // Spinning inside a run is kept (it is what makes short parallel sections fast); only the spinning that
        // outlives the run, which steals a core from the next session's run, is stopped.
        if (!settings.SpinBetweenRuns) options.AddSessionConfigEntry("session.force_spinning_stop", "1");
        try
        {
            _session = new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new SecateurException(ErrorCode.BadFile, $"'{name}': ONNX Runtime cannot load the model: {FirstLine(e.Message)}", e);
        }
        if (_session.InputNames.Count < 1 || _session.OutputNames.Count < 1)
        {
            var counts = $"{_session.InputNames.Count} inputs and {_session.OutputNames.Count} outputs";
            _session.Dispose();
            throw new SecateurException(ErrorCode.BadArgument, $"'{name}': a model needs at least one input and one output (this one has {counts})");
        }
        // Every input is fed and every output computed, so that a run (and its timing) is the whole model's.
        _inputNames = [.. _session.InputNames];
        _outputNames = [.. _session.OutputNames];
        var dims = new List<IReadOnlyList<Dim>>();
        foreach (var inputName in _inputNames)
        {
            var input = _session.InputMetadata[inputName];
            if (!input.IsTensor || input.ElementDataType != TensorElementType.Float)
            {
                _session.Dispose();
                throw new SecateurException(ErrorCode.BadArgument, $"'{name}': only float tensor inputs are supported (input '{inputName}' is {input.ElementDataType})");
            }
            dims.Add(input.Dimensions.Select((d, i) => d >= 0 ? new Dim(d)
                : Dim.Symbolic(string.IsNullOrEmpty(input.SymbolicDimensions[i]) ? "?" : input.SymbolicDimensions[i])).ToList());
        }
        AllInputDims = dims;
        InputDims = dims[0];
    }

    /// <summary>The bytes of a model file; a missing or unreadable file is a BadFile error naming it.</summary>
    internal static byte[] ReadModelFile(string path)
    {
        if (!File.Exists(path)) throw new SecateurException(ErrorCode.BadFile, $"'{path}': file not found");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecateurException(ErrorCode.BadFile, $"'{path}': cannot read the file: {e.Message}", e);
        }
        return bytes;
    }

    /// <summary>Opens the ONNX model at <paramref name="path"/>.</summary>
    /// <exception cref="SecateurException">BadFile when the file is missing or ORT cannot load it; NativeLoad when ORT's native library cannot be loaded.</exception>
    public static OnnxRuntimeSession FromFile(string path, SessionSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] bytes = OnnxRuntimeSession.ReadModelFile(path);
        return new OnnxRuntimeSession(bytes, path, settings ?? new SessionSettings());
    }

    /// <summary>Opens an ONNX model held in memory; <paramref name="name"/> names it in messages.</summary>
    public static OnnxRuntimeSession FromBytes(byte[] model, string name, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(name);
        if (model.Length == 0) throw new SecateurException(ErrorCode.BadFile, $"'{name}' is empty, not an ONNX model");
        return new OnnxRuntimeSession(model, name, settings ?? new SessionSettings());
    }

    /// <summary>Exports <paramref name="graph"/> to ONNX (as <see cref="OnnxSerializer.ToBytes"/> does) and opens it.</summary>
    public static OnnxRuntimeSession FromGraph(ModelGraph graph, SessionSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return new OnnxRuntimeSession(OnnxSerializer.ToBytes(graph), graph.Name, settings ?? new SessionSettings());
    }

    /// <summary>The model's name (its file or graph name).</summary>
    public string Name { get; }

    /// <summary>The settings the session was created with.</summary>
    public SessionSettings Settings { get; }

    /// <summary>The first input's dimensions as the model declares them (symbolic ones included): the input callers feed.</summary>
    public IReadOnlyList<Dim> InputDims { get; }

    /// <summary>Every input's dimensions, in the model's order; inputs after the first get random values in [-1, 1).</summary>
    public IReadOnlyList<IReadOnlyList<Dim>> AllInputDims { get; }

    /// <summary>Every output's name, in the model's order (all are computed on each run).</summary>
    public IReadOnlyList<string> OutputNames => _outputNames;

    // Random values for the inputs after the first, per batch size; the arrays must outlive their OrtValues.
    private readonly Dictionary<long, (float[] Data, OrtValue Value)[]> _extraInputs = [];

    /// <summary>
    /// The concrete input shape for a batch of <paramref name="batch"/>: a symbolic first (batch) dimension takes
    /// <paramref name="batch"/>; the other symbolic dimensions take <paramref name="sampleShape"/> (the input shape
    /// without the batch, e.g. C, H, W), which, when given, must also agree with every fixed dimension.
    /// </summary>
    /// <exception cref="SecateurException">BadArgument when a dimension is symbolic and no sample shape is given,
    /// when the model has a fixed batch other than <paramref name="batch"/>, or when the sample shape does not fit.</exception>
    public long[] InputShape(int batch, IReadOnlyList<long>? sampleShape = null)
    {
        if (batch < 1) throw new SecateurException(ErrorCode.BadArgument, $"batch sizes must be at least 1 (got {batch})");
        if (InputDims.Count == 0) throw new SecateurException(ErrorCode.BadArgument, $"'{Name}': the input is a scalar; a batched input is needed");
        var shape = new long[InputDims.Count];
        var first = InputDims[0];
        if (first.IsSymbolic) shape[0] = batch;
        else if (first.Value == batch) shape[0] = batch;
        else throw new SecateurException(ErrorCode.BadArgument, $"'{Name}' has a fixed batch size of {first.Value}; it cannot run a batch of {batch}");
        if (sampleShape is not null && sampleShape.Count != InputDims.Count - 1)
            throw new SecateurException(ErrorCode.BadArgument,
                $"the input shape {string.Join('x', sampleShape)} has {sampleShape.Count} dimensions; '{Name}' takes {InputDims.Count - 1} after the batch ({ShapeText})", ParameterNames.InputShape);
        for (int i = 1; i < shape.Length; i++)
        {
            var d = InputDims[i];
            if (sampleShape is not null)
            {
                if (!d.IsSymbolic && d.Value != sampleShape[i - 1])
                    throw new SecateurException(ErrorCode.BadArgument, $"the input shape {string.Join('x', sampleShape)} does not fit '{Name}', whose input is {ShapeText}", ParameterNames.InputShape);
                shape[i] = sampleShape[i - 1];
            }
            else if (d.IsSymbolic)
                throw new SecateurException(ErrorCode.BadArgument,
                    $"'{Name}' has a symbolic input dimension '{d}' at position {i} ({ShapeText}): give the input shape without the batch, e.g. 3x224x224", ParameterNames.InputShape);
            else shape[i] = d.Value;
        }
        return shape;
    }

    /// <summary>The input's dimensions as text, e.g. <c>Nx3x224x224</c>.</summary>
    public string ShapeText => string.Join('x', InputDims.Select(d => d.ToString()));

    /// <summary>
    /// Runs the model on <paramref name="input"/> of shape <paramref name="shape"/> (the first input; any others get
    /// fixed random values); returns the first output and its shape.
    /// </summary>
    public (float[] Output, long[] Shape) Run(float[] input, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(shape);
        using var value = CreateInput(input, shape);
        using var outputs = Execute(value);
        var o = outputs[0];
        return (o.GetTensorDataAsSpan<float>().ToArray(), o.GetTensorTypeAndShape().Shape);
    }

    /// <summary>Wraps <paramref name="input"/> (kept alive by the caller) as an ORT value of shape <paramref name="shape"/>, for repeated <see cref="RunOnce"/> calls.</summary>
    internal static OrtValue CreateInput(float[] input, long[] shape)
    {
        if (input.LongLength != TensorData.ElementCount(shape))
            throw new ArgumentException($"input has {input.Length} elements but shape {string.Join('x', shape)} needs {TensorData.ElementCount(shape)}", nameof(input));
        return OrtValue.CreateTensorValueFromMemory(input, shape);
    }

    /// <summary>One inference whose result is discarded (what a latency measurement times).</summary>
    internal void RunOnce(OrtValue input)
    {
        using var outputs = Execute(input);
    }

    private IDisposableReadOnlyCollection<OrtValue> Execute(OrtValue input)
    {
        try
        {
            if (_inputNames.Length == 1) return _session.Run(_runOptions, _inputNames, [input], _outputNames);
            return _session.Run(_runOptions, _inputNames, [input, .. ExtraInputs(input.GetTensorTypeAndShape().Shape[0]).Select(e => e.Value)], _outputNames);
        }
        catch (OnnxRuntimeException e)
        {
            throw new SecateurException(ErrorCode.BadArgument, $"'{Name}': ONNX Runtime failed to run the model: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>The random inputs after the first for a batch of <paramref name="batch"/>: a symbolic first dimension takes the batch.</summary>
    private (float[] Data, OrtValue Value)[] ExtraInputs(long batch)
    {
        if (_extraInputs.TryGetValue(batch, out var made)) return made;
        var rng = new Random(batch.GetHashCode());
        made = new (float[], OrtValue)[_inputNames.Length - 1];
        for (int k = 1; k < _inputNames.Length; k++)
        {
            var dims = AllInputDims[k];
            var shape = dims.Select((d, i) => !d.IsSymbolic ? d.Value : i == 0 ? batch
                : throw new SecateurException(ErrorCode.BadArgument,
                    $"'{Name}': input '{_inputNames[k]}' has a symbolic dimension '{d}' at position {i}; only the first input's may be given a shape")).ToArray();
            var data = new float[TensorData.ElementCount(shape)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            made[k - 1] = (data, OrtValue.CreateTensorValueFromMemory(data, shape));
        }
        _extraInputs[batch] = made;
        return made;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var extra in _extraInputs.Values.SelectMany(e => e)) extra.Value.Dispose();
        _session.Dispose();
        _runOptions.Dispose();
    }

    private static readonly Lock Gate = new();
    private static Exception? loadFailure;
    private static volatile bool loaded;

    /// <summary>
    /// Loads ONNX Runtime's native library once, turning a failure into one <see cref="ErrorCode.NativeLoad"/> message
    /// (ORT's own would be a TypeInitializationException with a long trace).
    /// </summary>
    /// <exception cref="SecateurException">NativeLoad, saying what the loader reported.</exception>
    public static void EnsureLoaded()
    {
        if (loaded) return;
        lock (Gate)
        {
            if (loaded) return;
            if (loadFailure is not null) throw new SecateurException(ErrorCode.NativeLoad, loadFailure.Message, loadFailure.InnerException);
            try
            {
                _ = OrtEnv.Instance().GetVersionString();
                loaded = true;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or TypeInitializationException or OnnxRuntimeException)
            {
                var cause = e is TypeInitializationException { InnerException: { } inner } ? inner : e;
                var error = new SecateurException(ErrorCode.NativeLoad,
                    $"ONNX Runtime's native library (libonnxruntime) could not be loaded: {FirstLine(Runtime.NativeLibraries.LoaderMessage(cause))}. " +
                    "Check that the Microsoft.ML.OnnxRuntime native files (runtimes/<rid>/native) were deployed with the application.", cause);
                loadFailure = error;
                throw error;
            }
        }
    }

    private static string FirstLine(string message) =>
        (message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? message).TrimEnd('.');

    /// <summary>ORT's version string, e.g. "1.31.1".</summary>
    public static string RuntimeVersion
    {
        get
        {
            EnsureLoaded();
            return OrtEnv.Instance().GetVersionString().ToString(CultureInfo.InvariantCulture);
        }
    }
}
