using System.Diagnostics;
using Secateur.Data;
using Secateur.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Training;

/// <summary>
/// Trains and evaluates a <see cref="GraphModule"/>: SGD or AdamW, per-batch learning-rate schedule, label
/// smoothing, top-1/top-5 metrics, a checkpoint written atomically after every epoch and resumption from it.
/// Deterministic for a seed on CPU. Every batch runs in its own dispose scope, so native memory stays flat.
/// </summary>
public sealed class Trainer
{
    private readonly GraphModule _module;
    private readonly TrainingOptions _options;

    /// <summary>Creates a trainer for <paramref name="module"/>.</summary>
    public Trainer(GraphModule module, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        _module = module;
        _options = options.Validated();
    }

    /// <summary>
    /// Optional knowledge distillation: when set, the loss is <c>(1-α)·CE(student, label) + α·D</c> with D the
    /// distiller's term over every output (<see cref="Distiller"/>; α is <see cref="DistillationAlpha"/>), or D alone
    /// when <see cref="LabelFree"/>.
    /// </summary>
    public Distiller? Distillation { get; init; }

    /// <summary>When set, collects the time of every phase of every training step (see <see cref="TrainingProfile"/>).</summary>
    public TrainingProfile? Profile { get; init; }

    /// <summary>Weight α of the distillation term against the cross-entropy with labels, in [0, 1].</summary>
    public double DistillationAlpha { get; init; } = 0.7;

    /// <summary>
    /// Train without labels (the batches' labels are placeholders): the loss is the distillation term alone, and the
    /// running "accuracy" is top-1 agreement with the teachers (per pixel for a class map; see
    /// <see cref="DistillationLoss.TeacherTop1"/>). Needs <see cref="Distillation"/>.
    /// </summary>
    public bool LabelFree { get; init; }

    /// <summary>
    /// Optional constraint on the parameters (e.g. fixed sparsity masks): applied before training, after every
    /// optimizer step and after a checkpoint is restored on resume.
    /// </summary>
    public IParameterConstraint? Constraint { get; init; }

    /// <summary>Trains for the configured epochs, evaluating on <paramref name="test"/> after each when given.</summary>
    /// <param name="train">Training batches (augmented as the source decides).</param>
    /// <param name="test">Held-out batches, or null.</param>
    /// <param name="progress">Receives a report after every batch.</param>
    /// <param name="onEpoch">Called after every epoch (after the checkpoint is written).</param>
    /// <param name="cancellation">Stops between batches; the last complete epoch's checkpoint remains.</param>
    public IReadOnlyList<EpochResult> Fit(IBatchSource train, IBatchSource? test = null, IProgress<TrainingProgress>? progress = null,
        Action<EpochResult>? onEpoch = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!LabelFree) DataLoader.RequireLabels(train, "training with a loss on labels");
        if (train.BatchesPerEpoch == 0) throw new SecateurException(ErrorCode.BadArgument, "the training set yields no batches (is it smaller than one batch with drop-last?)");
        if (LabelFree && Distillation is null) throw new SecateurException(ErrorCode.BadArgument, "training without labels needs a teacher to distil from", nameof(Distillation));
        if (DistillationAlpha is < 0 or > 1 || double.IsNaN(DistillationAlpha))
            throw new SecateurException(ErrorCode.BadArgument, $"the distillation weight must be in [0, 1] (got {DistillationAlpha})", nameof(DistillationAlpha));
        PrecisionSupport.Require(_options.Precision, _module.Device);
        manual_seed(_options.Seed);
        var parameters = _module.GraphParameters().Select(p => p.Parameter).ToList();
        using var optimizer = CreateOptimizer(parameters);
        var history = new List<EpochResult>();
        int startEpoch = 0;
        if (_options.Resume && _options.CheckpointPath is { } resumeFrom && File.Exists(resumeFrom))
        {
            var state = Checkpoint.Restore(resumeFrom, _module, optimizer);
            if (state.Epochs is { } written && written != _options.Epochs)
                throw new SecateurException(ErrorCode.BadArgument,
                    $"checkpoint '{resumeFrom}' was written by a run of {written} epochs and this run has {_options.Epochs}: resuming it would join two learning-rate schedules; train {written} epochs, or give another checkpoint file",
                    nameof(TrainingOptions.CheckpointPath));
            startEpoch = state.EpochsDone;
            history.AddRange(state.History);
            // Dropout draws continue from a state that depends only on the seed and the epoch.
            manual_seed(_options.Seed + startEpoch);
        }
        Constraint?.Apply(_module);
        long totalSteps = (long)_options.Epochs * train.BatchesPerEpoch;
        var clock = Stopwatch.StartNew();
        long imagesThisRun = 0;
        for (int epoch = startEpoch; epoch < _options.Epochs; epoch++)
        {
            cancellation.ThrowIfCancellationRequested();
            manual_seed(_options.Seed + epoch);
            _module.train();
            var epochClock = Stopwatch.StartNew();
            double lossSum = 0; long correct = 0, seen = 0, targets = 0;
            int batchIndex = 0;
            double lr = 0;
            var profile = Profile;
            using var batches = train.Epoch(epoch).GetEnumerator();
            var precision = _module.Precision;
            _module.Precision = _options.Precision;
            try
            {
                while (true)
                {
                    profile?.BatchStarting();
                    long t = TrainingProfile.Now();
                    if (!batches.MoveNext()) break;
                    var batch = batches.Current;
                    if (profile is not null) t = profile.Lap(0, t);
                    cancellation.ThrowIfCancellationRequested();
                    long step = (long)epoch * train.BatchesPerEpoch + batchIndex;
                    lr = LearningRateSchedule.At(_options.Schedule, _options.LearningRate, step, totalSteps, _options.WarmupFraction);
                    foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
                    var scope = NewDisposeScope();
                    try
                    {
                        var (x, y) = ToTensors(batch, _module.Device);
                        if (profile is not null) t = profile.Lap(1, t);
                        optimizer.zero_grad();
                        if (profile is not null) t = profile.Lap(2, t);
                        var outputs = _module.Run(new Dictionary<string, Tensor> { [_module.Graph.Inputs[0].Name] = x }, Distillation?.Capture);
                        var logits = outputs[_module.Graph.Outputs[0].Name]; // (N, classes)
                        if (profile is not null) t = profile.Lap(3, t);
                        var (loss, metrics) = Loss(outputs, logits, y, x, batch.IgnoreIndex);
                        if (profile is not null) t = profile.Lap(4, t);
                        loss.backward();
                        if (profile is not null) t = profile.Lap(5, t);
                        optimizer.step();
                        Constraint?.Apply(_module);
                        if (profile is not null) t = profile.Lap(6, t);
                        lossSum += loss.item<float>() * batch.Count;
                        var (hits, counted) = metrics();
                        correct += hits;
                        targets += counted;
                        if (profile is not null) t = profile.Lap(7, t);
                    }
                    finally
                    {
                        scope.Dispose();
                    }
                    if (profile is not null) t = profile.Lap(8, t);
                    seen += batch.Count;
                    imagesThisRun += batch.Count;
                    batchIndex++;
                    if (progress is not null)
                    {
                        double ips = seen / Math.Max(1e-9, epochClock.Elapsed.TotalSeconds);
                        long remaining = totalSteps - ((long)epoch * train.BatchesPerEpoch + batchIndex);
                        var eta = TimeSpan.FromSeconds(remaining * (double)_options.BatchSize / Math.Max(1e-9, imagesThisRun / clock.Elapsed.TotalSeconds));
                        progress.Report(new TrainingProgress(epoch + 1, _options.Epochs, batchIndex, train.BatchesPerEpoch,
                            lossSum / seen, (double)correct / Math.Max(1, targets), ips, lr, clock.Elapsed, eta) { Agreement = LabelFree });
                    }
                    if (profile is not null)
                    {
                        profile.Lap(9, t);
                        profile.BatchDone(batch.Count);
                    }
                }
            }
            finally
            {
                // The per-epoch evaluation (and whatever the caller does next) computes in the module's own precision.
                _module.Precision = precision;
            }
            double seconds = epochClock.Elapsed.TotalSeconds;
            var trainResult = new EvaluationResult(lossSum / Math.Max(1, seen), (double)correct / Math.Max(1, targets), null, seen);
            var testResult = test is null ? null : Evaluate(_module, test);
            var result = new EpochResult(epoch + 1, trainResult, testResult, seen / Math.Max(1e-9, seconds), seconds) { TrainAgreement = LabelFree };
            history.Add(result);
            if (_options.CheckpointPath is { } path) Checkpoint.Save(path, _module, optimizer, new CheckpointState(epoch + 1, history) { Epochs = _options.Epochs });
            onEpoch?.Invoke(result);
        }
        _module.eval();
        return history;
    }

    /// <summary>
    /// The batch loss, and a function that reads its top-1 hits and how many targets they are out of: against the
    /// labels (samples, or for segmentation the pixels not at <paramref name="ignoreIndex"/>), or (label-free) against
    /// the teachers' top class. The metrics are read after the optimizer step (they only read the forward's values).
    /// </summary>
    private (Tensor Loss, Func<(long Hits, long Counted)> Metrics) Loss(Dictionary<string, Tensor> outputs, Tensor logits, Tensor labels, Tensor input, int ignoreIndex)
    {
        Func<(long Hits, long Counted)> Against(Tensor target) => () =>
        {
            var counted = target.ne(ignoreIndex);
            return (logits.argmax(1).eq(target).logical_and(counted).sum().item<long>(), counted.sum().item<long>());
        };
        // (N, K) against (N) labels, or pixel-wise (N, K, H, W) against (N, H, W) masks, ignored targets left out.
        Tensor CrossEntropy() => F.cross_entropy(logits, labels, ignore_index: ignoreIndex, label_smoothing: _options.LabelSmoothing);
        if (Distillation is not { } kd) return (CrossEntropy(), Against(labels));
        var d = kd.Loss(outputs, input);
        if (LabelFree)
            return (d.Loss, d.TeacherTop1 is { } t && d.StudentTop1 is { } s ? () => (s.eq(t).sum().item<long>(), t.numel()) : () => (0, labels.shape[0]));
        return (CrossEntropy() * (1 - DistillationAlpha) + d.Loss * DistillationAlpha, Against(labels));
    }

    private TorchSharp.Modules.OptimizerHelper CreateOptimizer(IList<TorchSharp.Modules.Parameter> parameters) => _options.Optimizer switch
    {
        OptimizerKind.AdamW => optim.AdamW(parameters, _options.LearningRate, weight_decay: _options.WeightDecay),
        _ => optim.SGD(parameters, _options.LearningRate, _options.Momentum, nesterov: _options.Nesterov && _options.Momentum > 0,
            weight_decay: _options.WeightDecay),
    };

    /// <summary>
    /// Copies a managed batch into tensors on <paramref name="device"/>: images (N, C, H, W) and targets: labels (N),
    /// or masks (N, H, W) for a segmentation batch.
    /// </summary>
    public static (Tensor Images, Tensor Labels) ToTensors(Batch batch, Device device)
    {
        ArgumentNullException.ThrowIfNull(batch);
        long[] shape = [batch.Count, .. batch.SampleShape];
        var x = tensor(batch.Images, shape);
        var y = batch.Masks is { } masks ? tensor(masks, [batch.Count, batch.MaskSize.Height, batch.MaskSize.Width]) : tensor(batch.Labels, [batch.Count]);
        return device.type == DeviceType.CPU ? (x, y) : (x.to(device), y.to(device));
    }

    /// <summary>
    /// Top-1 accuracy (mean IoU on segmentation data) of <paramref name="graph"/> on <paramref name="data"/>: the one
    /// "evaluate a graph" helper the workflows and the sensitivity analysis share (it builds a module on
    /// <paramref name="device"/> and disposes it).
    /// </summary>
    public static double Accuracy(Secateur.Graph.ModelGraph graph, IBatchSource data, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        using var module = new GraphModule(graph, device);
        return Evaluate(module, data).Score;
    }

    /// <summary>
    /// Loss, top-1 and top-5 accuracy of <paramref name="module"/> in eval mode; on segmentation batches, the pixel-wise
    /// loss, pixel accuracy (as top-1) and <see cref="EvaluationResult.Segmentation"/>.
    /// </summary>
    public static EvaluationResult Evaluate(GraphModule module, IBatchSource data, IProgress<(int Batch, int Batches)>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(data);
        DataLoader.RequireLabels(data, "accuracy");
        bool wasTraining = module.training;
        module.eval();
        double lossSum = 0; long top1 = 0, top5 = 0, seen = 0;
        int index = 0, classes = int.MaxValue;
        SegmentationMetrics? segmentation = null;
        using (no_grad())
        {
            foreach (var batch in data.Epoch(0))
            {
                using var scope = NewDisposeScope();
                var (x, y) = ToTensors(batch, module.Device);
                var logits = module.forward(x); // (N, classes), or (N, classes, H, W) for segmentation
                if (batch.Masks is not null)
                {
                    segmentation ??= new SegmentationMetrics((int)logits.shape[1], batch.IgnoreIndex);
                    segmentation.Add(logits, y);
                    // Summed over counted pixels here, divided by their number at the end.
                    lossSum += F.cross_entropy(logits, y, ignore_index: batch.IgnoreIndex, reduction: nn.Reduction.Sum).item<float>();
                    seen += batch.Count;
                    progress?.Report((++index, data.BatchesPerEpoch));
                    continue;
                }
                lossSum += F.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                classes = (int)logits.shape[1];
                int k = Math.Min(5, classes);
                var (_, indices) = logits.topk(k, 1);
                var hits = indices.eq(y.unsqueeze(1)); // (N, k)
                top1 += hits[.., 0].sum().item<long>();
                top5 += hits.any(1).sum().item<long>();
                seen += batch.Count;
                progress?.Report((++index, data.BatchesPerEpoch));
            }
        }
        if (wasTraining) module.train();
        if (seen == 0) throw new SecateurException(ErrorCode.BadArgument, "the evaluation set is empty");
        if (segmentation?.Compute() is { } scores)
            return new EvaluationResult(lossSum / Math.Max(1, scores.Pixels), scores.PixelAccuracy, null, seen) { Segmentation = scores };
        // With five or fewer outputs every label is in the top five: no top-5 to report.
        return new EvaluationResult(lossSum / seen, (double)top1 / seen, (double)top5 / seen, seen).ForClasses(classes);
    }
}
