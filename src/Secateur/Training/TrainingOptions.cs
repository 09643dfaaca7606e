using Secateur.Runtime;

namespace Secateur.Training;

/// <summary>Optimizer used by the <see cref="Trainer"/>.</summary>
public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent with (optionally Nesterov) momentum.</summary>
    Sgd,
    /// <summary>Adam with decoupled weight decay (Loshchilov and Hutter 2019).</summary>
    AdamW,
}

/// <summary>Learning-rate schedule, updated every batch.</summary>
public enum ScheduleKind
{
    /// <summary>PyTorch's OneCycleLR (cosine warm-up from lr/25 to lr over <see cref="TrainingOptions.WarmupFraction"/>, cosine annealing to lr/25e4).</summary>
    OneCycle,
    /// <summary>Cosine annealing from lr to 0 over all steps.</summary>
    Cosine,
    /// <summary>Constant learning rate.</summary>
    Constant,
}

/// <summary>
/// How to train or fine-tune. Defaults are the benchmark protocol's baseline recipe: SGD, momentum 0.9,
/// Nesterov, weight decay 5e-4, batch 128, one-cycle peaking at 0.1 with 15% warm-up.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Number of epochs.</summary>
    public int Epochs { get; init; } = 5;
    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>The optimizer: SGD (with <see cref="Momentum"/> and <see cref="Nesterov"/>) or AdamW.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    /// <summary>Peak (one-cycle) or initial (cosine, constant) learning rate.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>SGD momentum (ignored by AdamW).</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>Use Nesterov momentum with SGD.</summary>
    public bool Nesterov { get; init; } = true;
    /// <summary>L2 weight decay (SGD) or decoupled weight decay (AdamW).</summary>
    public double WeightDecay { get; init; } = 5e-4;
    /// <summary>Learning-rate schedule.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.OneCycle;
    /// <summary>Fraction of all steps spent warming up under one-cycle.</summary>
    public double WarmupFraction { get; init; } = 0.15;
    /// <summary>Label smoothing of the cross-entropy loss (0 = none).</summary>
    public double LabelSmoothing { get; init; }
    /// <summary>Seed for shuffling, augmentation and dropout.</summary>
    public int Seed { get; init; }
    /// <summary>Apply the training augmentation (pad-and-crop, horizontal flip).</summary>
    public bool Augment { get; init; } = true;
    /// <summary>Checkpoint file written atomically after every epoch (none when null).</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>Continue from <see cref="CheckpointPath"/> when it exists.</summary>
    public bool Resume { get; init; }
    /// <summary>
    /// The format of the training steps' convolutions and matrix products: float32 (the default) or bfloat16 mixed
    /// precision with float32 master weights, batch norm and loss (see <see cref="Runtime.Precision"/>). Evaluation
    /// stays float32.
    /// </summary>
    public Precision Precision { get; init; } = Precision.Float32;

    /// <summary>Throws <see cref="SecateurException"/> (BadArgument) naming the first invalid value.</summary>
    public TrainingOptions Validated()
    {
        static void Check(bool ok, string what, string? parameter = null) { if (!ok) throw new SecateurException(ErrorCode.BadArgument, what, parameter); }
        Check(Epochs >= 0, $"epochs must be at least 0 (got {Epochs})");
        Check(BatchSize >= 1, $"batch size must be at least 1 (got {BatchSize})");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), $"learning rate must be positive (got {LearningRate})");
        Check(Momentum is >= 0 and < 1, $"momentum must be in [0, 1) (got {Momentum})");
        Check(WeightDecay >= 0, $"weight decay must be at least 0 (got {WeightDecay})");
        Check(WarmupFraction is > 0 and < 1, $"warm-up fraction must be in (0, 1) (got {WarmupFraction})");
        Check(LabelSmoothing is >= 0 and < 1, $"label smoothing must be in [0, 1) (got {LabelSmoothing})");
        Check(!Resume || CheckpointPath is not null, "resuming needs a checkpoint path", nameof(CheckpointPath));
        return this;
    }
}
