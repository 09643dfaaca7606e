using System.CommandLine;
using Secateur.Data;
using Secateur.Pruning;

namespace Secateur.Cli.Commands;

/// <summary>The channel-pruning options of <c>prune</c> (targets, criterion, allocation, schedule, recalibration), read into a <see cref="PruneRequest"/>.</summary>
internal sealed class PruneOptions
{
    public Option<string> Criterion { get; } = new("--criterion") { Description = $"importance criterion: {string.Join(", ", Importances.Names)}", DefaultValueFactory = _ => "l1" };
    public Option<double?> Ratio { get; } = new("--ratio") { Description = "remove this fraction of the channels (per group, or of all with --global)" };
    public Option<double?> Speedup { get; } = new("--speedup") { Description = "reach at least this many times fewer MACs" };
    public Option<long?> Macs { get; } = new("--macs") { Description = "reach at most this many MACs" };
    public Option<long?> Params { get; } = new("--params") { Description = "reach at most this many parameters" };
    public Option<double?> Threshold { get; } = new("--threshold") { Description = "remove every channel whose importance share of its group (of all groups with --global) is below t, e.g. 0.02" };
    public Option<double?> Latency { get; } = new("--target-latency") { Description = "reach at most this median ONNX Runtime latency in ms on this machine (each candidate is exported and timed)" };
    public Option<int> LatencyBatch { get; } = new("--latency-batch") { Description = "batch size --target-latency is measured at", DefaultValueFactory = _ => 1 };
    public Option<bool> Global { get; } = new("--global") { Description = "rank all channels together instead of the same ratio per group" };
    public Option<bool> BySensitivity { get; } = new("--sensitivity") { Description = "allocate from a sensitivity analysis on a held-out slice of the training data (needs --data)" };
    public Option<string> SensitivityRatios { get; } = new("--sensitivity-ratios") { Description = "ratios the sensitivity analysis measures", DefaultValueFactory = _ => "0.25,0.5,0.75" };
    // 8 by measurement (benchmarks/latency): ONNX Runtime's x86 convolutions work on blocks of 8 channels, and models
    // pruned to other counts ran slower than the dense model at a 2x MACs cut; rounded to 8 they ran 1.4-1.9x faster.
    public Option<int> RoundTo { get; } = new("--round-to") { Description = "keep channel counts multiples of N (8: fast with ONNX Runtime on x86; 1: exact MACs targets)", DefaultValueFactory = _ => 8 };
    public Option<double> MaxRatio { get; } = new("--max-layer-ratio") { Description = "no group loses more than this fraction", DefaultValueFactory = _ => 0.9 };
    public Option<bool> DryRun { get; } = new("--dry-run") { Description = "only list the groups: layers, channels, prunable or blocked and why" };
    public Option<int> Calibration { get; } = new("--calibration-batches") { Description = "batches of 64 training images for data-driven criteria", DefaultValueFactory = _ => 8 };
    public Option<int> Recalibrate { get; } = new("--recalibrate") { Description = "re-estimate batch-norm statistics on N training images after pruning (0: off)", DefaultValueFactory = _ => 1024 };
    public Option<bool> Refit { get; } = new("--refit") { Description = "after pruning, refit every layer reading pruned channels by least squares to reproduce the dense model's outputs (needs --data; before --recalibrate)" };
    public Option<int?> RefitImages { get; } = new("--refit-images") { Description = $"training images --refit solves on (default {new RefitOptions().Images})" };
    public Option<double?> RefitRidge { get; } = new("--refit-ridge") { Description = $"--refit ridge, relative to each layer's mean input energy (default {new RefitOptions().Ridge.ToString(System.Globalization.CultureInfo.InvariantCulture)})" };
    public Option<int?> RefitPositions { get; } = new("--refit-positions") { Description = $"output positions --refit samples per image and conv layer (default {new RefitOptions().PositionsPerImage})" };
    public Option<string> BnRecovery { get; } = new Option<string>("--bn-recovery") { Description = "for models exported with batch norms folded into the convolutions: insert a batch norm after every pruned convolution, calibrate it to the dense model's statistics on the --recalibrate images and fold it back (auto: when the model has no batch norm)", DefaultValueFactory = _ => "auto" }
        .AcceptOnlyFromAmong("auto", "on", "off");
    public Option<string> Schedule { get; } = new Option<string>("--schedule") { Description = "oneshot, iterative, agp or dynamic; lottery with --granularity weight", DefaultValueFactory = _ => "oneshot" }
        .AcceptOnlyFromAmong("oneshot", "iterative", "agp", "dynamic", "lottery");
    public Option<double> Tolerance { get; } = new("--tolerance") { Description = "dynamic: largest accepted validation accuracy drop (0.01 = 1 point)", DefaultValueFactory = _ => 0.01 };

    /// <summary>Every option, in help order.</summary>
    public IEnumerable<Option> All => [Criterion, Ratio, Speedup, Macs, Params, Threshold, Latency, LatencyBatch, Global, BySensitivity, SensitivityRatios, RoundTo, MaxRatio, DryRun, Calibration, Recalibrate, Refit, RefitImages, RefitRidge, RefitPositions, BnRecovery, Schedule, Tolerance];

    /// <summary>The options that only mean something for channel pruning (rejected with <c>--granularity weight</c>).</summary>
    public IEnumerable<Option> ChannelOnly => [Ratio, Speedup, Macs, Params, Threshold, Latency, Global, BySensitivity, SensitivityRatios, DryRun, RoundTo, MaxRatio, Recalibrate, Calibration, Tolerance, Refit, RefitImages, RefitRidge, RefitPositions, BnRecovery];

    /// <summary>The request these options and the shared ones describe.</summary>
    public PruneRequest Request(ParseResult r, RecoveryOptions common, DataSet? data)
    {
        var threads = CommonOptions.ThreadCount(r, common.Threads);
        bool sensitivity = r.GetValue(BySensitivity);
        return new PruneRequest
        {
            Importance = Importances.Create(r.GetValue(Criterion)!),
            Target = new PruningTarget
            {
                Ratio = r.GetValue(Ratio), Speedup = r.GetValue(Speedup), Macs = r.GetValue(Macs), Params = r.GetValue(Params), Threshold = r.GetValue(Threshold),
                Latency = r.GetValue(Latency) is { } ms ? new LatencyBudget(ms, r.GetValue(LatencyBatch), threads ?? 0) : null,
            },
            Allocation = new AllocationOptions(sensitivity ? AllocationKind.Sensitivity : r.GetValue(Global) ? AllocationKind.Global : AllocationKind.Uniform, r.GetValue(RoundTo), r.GetValue(MaxRatio)),
            SensitivityRatios = CommonOptions.ParseRatios(r.GetValue(SensitivityRatios)!, "--sensitivity-ratios"),
            Exclude = CommonOptions.Exclude(r, common.Exclude),
            Schedule = new ScheduleOptions(r.GetValue(Schedule) switch
            {
                "iterative" => PruningScheduleKind.Iterative, "agp" => PruningScheduleKind.Agp, "dynamic" => PruningScheduleKind.Dynamic, _ => PruningScheduleKind.OneShot,
            }, r.GetValue(common.Steps), r.GetValue(Tolerance)),
            Data = data,
            CalibrationBatches = r.GetValue(Calibration),
            RecalibrationImages = r.GetValue(Recalibrate),
            Refit = RefitRequest(r),
            BatchNormRecovery = r.GetValue(BnRecovery) switch { "on" => BatchNormRecoveryMode.On, "off" => BatchNormRecoveryMode.Off, _ => BatchNormRecoveryMode.Auto },
            FineTuning = common.FineTuning(r),
            Distillation = common.Distillation(r),
            Seed = r.GetValue(common.Seed),
            Device = r.GetValue(common.Device)!,
        };
    }

    /// <summary>The refit settings with <c>--refit</c>; its tuning options alone are a mistake, not a silent no-op.</summary>
    private RefitOptions? RefitRequest(ParseResult r)
    {
        if (!r.GetValue(Refit))
        {
            foreach (var o in new Option[] { RefitImages, RefitRidge, RefitPositions })
                if (r.GetResult(o) is { Implicit: false }) throw new SecateurException(ErrorCode.BadArgument, $"{o.Name} has no effect without --refit");
            return null;
        }
        var defaults = new RefitOptions();
        return defaults with
        {
            Images = r.GetValue(RefitImages) ?? defaults.Images,
            Ridge = r.GetValue(RefitRidge) ?? defaults.Ridge,
            PositionsPerImage = r.GetValue(RefitPositions) ?? defaults.PositionsPerImage,
        };
    }
}
