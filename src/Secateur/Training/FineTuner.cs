using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;

namespace Secateur.Training;

/// <summary>
/// Knowledge distillation settings. With labelled training images the loss is (1 − α)·CE + α·D, without labels it is
/// D alone, where D is <see cref="Distiller"/>'s term: T²·KL(teacher ‖ student) at temperature T for classifier
/// outputs, what <see cref="ClassMaps"/> says for class maps (segmentation outputs), and normalised MSE for the others,
/// summed over every output, plus <see cref="FeatureWeight"/> × attention transfer at the pruned activations.
/// </summary>
/// <param name="Alpha">Weight α of the distillation term, in [0, 1] (not read without labels).</param>
/// <param name="Temperature">Softmax temperature T, positive.</param>
public sealed record DistillationOptions(double Alpha = 0.7, double Temperature = 4.0)
{
    /// <summary>Weight of feature matching (attention transfer) at the pruned activations; 0 (the default) turns it off.</summary>
    public double FeatureWeight { get; init; }

    /// <summary>
    /// How class maps (outputs <c>[N, K, H, W]</c>, K ≥ 2) are distilled; <see cref="ClassMapLoss.Auto"/> (the default):
    /// class-balanced per-pixel KL on segmentation data, normalised MSE otherwise (see <see cref="ClassMapLoss"/>).
    /// </summary>
    public ClassMapLoss ClassMaps { get; init; } = ClassMapLoss.Auto;

    /// <summary>These settings with <see cref="ClassMaps"/> decided for <paramref name="data"/> when it is <see cref="ClassMapLoss.Auto"/>.</summary>
    public DistillationOptions For(DataSet data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (ClassMaps != ClassMapLoss.Auto) return this;
        return this with { ClassMaps = data.Train.HasMasks || data.Test.HasMasks ? ClassMapLoss.BalancedKl : ClassMapLoss.Mse };
    }

    /// <summary>
    /// Teachers whose outputs are averaged (an ensemble fused into one student) instead of the unpruned model's; empty
    /// (the default): the unpruned model teaches. Each must have the student's input and as many outputs. Feature
    /// matching always compares with the unpruned model.
    /// </summary>
    public IReadOnlyList<ModelGraph> Teachers { get; init; } = [];

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) naming the first invalid value.</summary>
    public DistillationOptions Validated()
    {
        if (Alpha is < 0 or > 1 || double.IsNaN(Alpha))
            throw new SecateurException(ErrorCode.BadArgument, $"the distillation weight must be in [0, 1] (got {Alpha})", nameof(Alpha));
        if (!(Temperature > 0) || double.IsInfinity(Temperature))
            throw new SecateurException(ErrorCode.BadArgument, $"the distillation temperature must be positive (got {Temperature})", nameof(Temperature));
        if (!(FeatureWeight >= 0) || double.IsInfinity(FeatureWeight))
            throw new SecateurException(ErrorCode.BadArgument, $"the feature-matching weight must be at least 0 (got {FeatureWeight})", nameof(FeatureWeight));
        if (!Enum.IsDefined(ClassMaps))
            throw new SecateurException(ErrorCode.BadArgument, $"unknown class-map distillation loss {ClassMaps}", nameof(ClassMaps));
        return this;
    }
}

/// <summary>What one fine-tuning run produced.</summary>
/// <param name="Graph">The fine-tuned graph (the input graph itself when there was nothing to do).</param>
/// <param name="History">One entry per epoch trained.</param>
/// <param name="Rewind">The weights at the end of the requested rewind epoch, when one was requested and reached.</param>
public sealed record FineTuneResult(ModelGraph Graph, IReadOnlyList<EpochResult> History, ModelGraph? Rewind = null);

/// <summary>
/// Fine-tunes graphs on one data set with one recipe: optionally distilling from a teacher graph, optionally
/// keeping an <see cref="IParameterConstraint"/> (e.g. sparsity masks), optionally capturing the weights at the end
/// of one epoch (the lottery ticket's rewind point). The pruning and sparsity workflows both fine-tune through it.
/// </summary>
public sealed class FineTuner
{
    private readonly DataSet _data;
    private readonly TrainingOptions _training;
    private readonly string _device;

    /// <summary>Creates a fine-tuner over <paramref name="data"/> (trained on its train split, evaluated after every epoch on its test split).</summary>
    /// <param name="data">The data set.</param>
    /// <param name="training">The recipe; <see cref="TrainingOptions.Epochs"/> is the default length of a run.</param>
    /// <param name="device">Device name (cpu, cuda, cuda:N).</param>
    public FineTuner(DataSet data, TrainingOptions training, string device = "cpu")
    {
        _data = data ?? throw new ArgumentNullException(nameof(data));
        _training = (training ?? throw new ArgumentNullException(nameof(training))).Validated();
        _device = device;
    }

    /// <summary>The teacher to distil from (typically the unpruned model), or null for plain fine-tuning.</summary>
    public ModelGraph? Teacher { get; init; }

    /// <summary>Distillation settings, used when <see cref="Teacher"/> is set.</summary>
    public DistillationOptions Distillation { get; init; } = new();

    /// <summary>Receives every training run (and its epochs).</summary>
    public IWorkflowProgress Progress { get; init; } = WorkflowProgress.Silent;

    /// <summary>
    /// The fine-tuner a compression workflow recovers with: none without data; otherwise one over <paramref name="data"/>
    /// seeded by <paramref name="seed"/>, distilling from <paramref name="original"/> when <paramref name="distillation"/> is set.
    /// </summary>
    public static FineTuner? ForRecovery(ModelGraph original, DataSet? data, TrainingOptions training, int seed, string device,
        DistillationOptions? distillation, IWorkflowProgress progress)
    {
        ArgumentNullException.ThrowIfNull(training);
        // Without labels the only thing to learn from is the unpruned model: fine-tuning then always distils.
        return data is null ? null : new FineTuner(data, training with { Seed = seed }, device)
        {
            Teacher = distillation is null && data.TrainLabelled ? null : original,
            Distillation = distillation ?? new DistillationOptions(),
            Progress = progress,
        };
    }

    /// <summary>The recipe every run uses.</summary>
    public TrainingOptions Training => _training;

    /// <summary>Fine-tunes <paramref name="graph"/>; with zero epochs returns it unchanged (the same instance).</summary>
    /// <param name="graph">The graph to train.</param>
    /// <param name="title">What the run is, for <see cref="Progress"/>.</param>
    /// <param name="epochs">Epochs of this run (default: the recipe's).</param>
    /// <param name="constraint">Constraint kept throughout training, or null.</param>
    /// <param name="rewindEpoch">Epoch (≥ 1) whose end weights to return as <see cref="FineTuneResult.Rewind"/>, or null.</param>
    public FineTuneResult Run(ModelGraph graph, string title, int? epochs = null, IParameterConstraint? constraint = null, int? rewindEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var options = epochs is { } n ? (_training with { Epochs = n }).Validated() : _training;
        if (options.Epochs <= 0) return new FineTuneResult(graph, []);
        var device = Devices.Parse(_device);
        Distillation.Validated();
        if (!_data.TrainLabelled && Teacher is null && Distillation.Teachers.Count == 0)
            throw new SecateurException(ErrorCode.BadArgument, $"the training images of {_data.Name} have no labels: fine-tuning them needs a teacher to distil from", nameof(Teacher));
        using var module = new GraphModule(graph, device);
        // The dense model teaches unless other teachers are given; it is also the feature-matching reference.
        var teachers = new List<GraphModule>();
        try
        {
            if (Teacher is not null) teachers.Add(new GraphModule(Teacher, device));
            foreach (var t in Distillation.Teachers) teachers.Add(new GraphModule(t, device));
            var outputTeachers = Distillation.Teachers.Count > 0 && teachers.Count > Distillation.Teachers.Count ? teachers.Skip(1).ToList() : teachers;
            // Distillation's teachers alone distil too, with or without the dense model.
            var distiller = teachers.Count == 0 ? null : new Distiller(module, outputTeachers, Distillation.For(_data), teachers[0]);
            var trainer = new Trainer(module, options)
            {
                Constraint = constraint,
                Distillation = distiller,
                DistillationAlpha = _data.TrainLabelled ? Distillation.Alpha : 1,
                LabelFree = !_data.TrainLabelled,
            };
            return Fit(trainer, module, options, title, rewindEpoch);
        }
        finally
        {
            foreach (var t in teachers) t.Dispose();
        }
    }

    private FineTuneResult Fit(Trainer trainer, GraphModule module, TrainingOptions options, string title, int? rewindEpoch)
    {
        var loader = _data.TrainLoader(options.BatchSize, options.Seed, options.Augment);
        // Without test labels there is no accuracy to watch per epoch (agreement is measured by the workflows).
        var test = _data.TestLabelled ? _data.TestLoader() : null;
        ModelGraph? rewind = null;
        var history = Progress.Train(title, options.Epochs, options.Epochs * loader.BatchesPerEpoch, (batches, epochEnd) =>
            trainer.Fit(loader, test, batches, e =>
            {
                // Captured here, inside the run, so a caller cannot forget it (the lottery ticket depends on it).
                if (e.Epoch == rewindEpoch) rewind = module.ToGraph();
                epochEnd?.Invoke(e);
            }));
        return new FineTuneResult(module.ToGraph(), history, rewind);
    }
}
