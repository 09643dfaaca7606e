namespace Secateur;

/// <summary>
/// Well-known values of <see cref="SecateurException.Parameter"/> that several library calls share, for inputs
/// that are not one options property (a front end maps each to its own spelling, as the CLI maps them to flags).
/// Failures about a single options property use that property's name instead, e.g.
/// <c>nameof(Pruning.PruningTarget.Speedup)</c>.
/// </summary>
public static class ParameterNames
{
    /// <summary>
    /// The data a step runs on: calibration data for a data-driven criterion (<see cref="Pruning.ImportanceContext.Calibration"/>),
    /// validation data for a schedule that watches accuracy, or the dataset specification given to
    /// <see cref="Data.DataSource.Resolve(string, Data.DataSourceOptions)"/>.
    /// </summary>
    public const string Data = "Data";

    /// <summary>The directory a dataset's files are read from (the <c>dataDir</c> of <see cref="Data.FashionMnist.Load(string?, bool)"/>).</summary>
    public const string DataDirectory = "DataDirectory";

    /// <summary>
    /// A model input's shape without the batch (<see cref="Deployment.LatencyOptions.InputShape"/>, or the sample shape
    /// given to <see cref="Deployment.OnnxRuntimeSession.InputShape"/>).
    /// </summary>
    public const string InputShape = "InputShape";

    /// <summary>
    /// What a model is fed (<see cref="Graph.InputPreprocessing"/>): a description that does not parse or does not fit
    /// the data, or a model that records none where one is needed (<see cref="Data.PreprocessingSelection.Choose"/>).
    /// </summary>
    public const string Preprocessing = "Preprocessing";

    /// <summary>The task a workflow serves (<see cref="Data.DataSourceOptions.Task"/>): data that does not fit it (labels for segmentation, masks for classification).</summary>
    public const string Task = "Task";
    /// <summary>
    /// The reference model another model is compared with (<c>Training.Agreement.Measure</c>):
    /// its outputs must match the model's in number and shape.
    /// </summary>
    public const string Against = "Against";
}
