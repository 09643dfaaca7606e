using System.Globalization;
using System.Text.Json;
using Secateur.Graph;
using Secateur.Pruning;
using Secateur.Quantization;

namespace Secateur.Reporting;

/// <summary>
/// Turns the JSON a verb printed (prune, sparsify, quantize, sensitivity, eval, bench, train) into a
/// <see cref="RunReport"/>, so that <c>secateur report</c> renders it like a report the run wrote itself. The object
/// names its schema in <c>verb</c>; output from before that field is recognised by its characteristic fields.
/// </summary>
internal static class VerbReports
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The verbs whose JSON output this reads, as their <c>verb</c> field spells them.</summary>
    internal static readonly string[] Verbs = ["prune", "sparsify", "quantize", "sensitivity", "eval", "bench", "train"];

    /// <summary>The verb whose JSON output <paramref name="root"/> is, or null for a report file (or anything else).</summary>
    internal static string? Recognise(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return null;
        if (root.TryGetProperty("verb", out var v) && v.ValueKind == JsonValueKind.String) return v.GetString();
        bool Has(string name) => root.TryGetProperty(name, out _);
        if (Has("kind") && Has("summary")) return null; // a report file
        if (Has("targetSparsity")) return "sparsify";
        if (Has("macsBefore") && Has("groups")) return "prune";
        if (Has("int8Accuracy")) return "quantize";
        if (Has("points") && Has("baseline")) return "sensitivity";
        if (Has("results") && Has("onnxRuntime")) return "bench";
        if (Has("epochs") && Has("output") && Has("accuracy")) return "train";
        if (Has("accuracy") && (Has("samples") || Has("testImages"))) return "eval";
        return null;
    }

    /// <summary>The report of <paramref name="verb"/>'s output <paramref name="root"/>.</summary>
    internal static RunReport From(string verb, JsonElement root, JsonSerializerOptions json) => verb switch
    {
        "prune" => Prune(root),
        "sparsify" => Sparsify(root),
        "quantize" => Reports.From(root.Deserialize<QuantizeReport>(json) ?? throw new JsonException("no quantize result")),
        "sensitivity" => Reports.Sensitivity(Text(root, "model")!, Text(root, "criterion") ?? "?", Number(root, "baseline") ?? 0,
            root.GetProperty("points").Deserialize<List<SensitivityPoint>>(json) ?? [], Count(root, "validationImages") ?? 0, Preprocessing(root)),
        "eval" => Eval(root),
        "bench" => Bench(root),
        "train" => Train(root),
        _ => throw new JsonException($"'verb' is '{verb}'; expected one of {string.Join(", ", Verbs)}"),
    };

    private static RunReport Prune(JsonElement r)
    {
        var steps = Items(r, "steps");
        bool multi = steps.Count > 1;
        var summary = new List<Measure> { Pair(r, "params", "paramsBefore", "paramsAfter"), Pair(r, "MACs", "macsBefore", "macsAfter") };
        if (r.TryGetProperty("latency", out var l) && l.ValueKind == JsonValueKind.Object)
        {
            var budget = l.GetProperty("budget");
            summary.Add(new Measure(FormattableString.Invariant($"ORT p50 latency, batch {Count(budget, "batch")} (budget {Number(budget, "milliseconds"):0.###} ms)"),
                Number(l, "denseMs") ?? 0, Number(l, "prunedMs") ?? 0, "ms"));
            summary.Add(new Measure($"ORT p90 latency, batch {Count(budget, "batch")}", Number(l, "denseP90Ms") ?? 0, Number(l, "prunedP90Ms") ?? 0, "ms"));
        }
        return new RunReport
        {
            Kind = "prune",
            Model = Text(r, "model") ?? "?",
            Command = Text(r, "command"),
            Summary = summary,
            Accuracy =
            [
                .. Reports.PruneStages(multi, Number(r, "accuracyBefore"), Number(r, "accuracyPruned"), Number(r, "accuracyRecalibrated"), Number(r, "accuracyFinetuned"), Number(r, "accuracyRefit"), Number(r, "accuracyBnRecovered")),
                .. Reports.AgreementStages(multi, Score(r, "agreementPruned"), Score(r, "agreementRecalibrated"), Score(r, "agreementFinetuned")),
            ],
            Layers = Items(r, "groups").Select(g => new LayerChange(Text(g, "group") ?? "?", Count(g, "before") ?? 0, Count(g, "after") ?? 0)).ToList(),
            TradeOff = Reports.PruneTradeOff(Count(r, "macsBefore") ?? 0, Number(r, "accuracyBefore"),
                multi ? steps.Select(s => (Count(s, "step") ?? 0, Count(s, "macs") ?? 0, Number(s, "accuracy"))).ToList() : [],
                Count(r, "macsAfter") ?? 0, Number(r, "accuracyFinetuned") ?? Number(r, "accuracyRecalibrated") ?? Number(r, "accuracyBnRecovered") ?? Number(r, "accuracyRefit") ?? Number(r, "accuracyPruned")),
            Training = Curves(r, multi),
            Notes =
            [
                $"Criterion {Text(r, "criterion")}, {Text(r, "allocation")} allocation, target {Text(r, "target")}; data: {Text(r, "data") ?? "none"}{Images(r, "testImages", "test image")}.",
                Reports.PruneTime(Number(r, "pruneSeconds") ?? 0, Number(r, "totalSeconds") ?? 0, Text(r, "stop")),
                .. Saved(r),
            ],
        };
    }

    private static RunReport Sparsify(JsonElement r) => new()
    {
        Kind = "prune (weights)",
        Model = Text(r, "model") ?? "?",
        Command = Text(r, "command"),
        Summary = [Pair(r, "non-zero params", "nonZeroParamsBefore", "nonZeroParams")],
        Accuracy = Stages(r, ("before pruning", "accuracyBefore"), ("right after pruning", "accuracyPruned"), ("after fine-tuning", "accuracyFinetuned")),
        LayerUnit = "non-zero weights",
        Layers = Items(r, "layers").Select(l => new LayerChange(Text(l, "layer") ?? "?", Count(l, "count") ?? 0, Count(l, "nonZero") ?? 0)).ToList(),
        Training = Curves(r, false),
        Notes =
        [
            FormattableString.Invariant($"Criterion {Text(r, "criterion")}, scope {Text(r, "scope")}{(Text(r, "nm") is { } nm ? $", {nm}" : "")}, schedule {Text(r, "schedule")}; sparsity {Number(r, "sparsity") ?? 0:P2} overall, {Number(r, "weightSparsity") ?? 0:P2} of the pruned layers' weights; data: {Text(r, "data") ?? "none"}{Images(r, "testImages", "test image")}."),
            $"Time: {Wording.Duration(Number(r, "totalSeconds") ?? 0)}.",
            .. Saved(r),
        ],
    };

    private static RunReport Eval(JsonElement r) => new()
    {
        Kind = "eval",
        Model = Text(r, "model") ?? "?",
        Accuracy = Stages(r, ("test top-1", "accuracy"), ("test top-5", "top5")),
        Notes =
        [
            FormattableString.Invariant($"On {Wording.Count(Count(r, "testImages") ?? Count(r, "samples") ?? 0, "test image")} of {Text(r, "data")}; loss {Number(r, "loss") ?? 0:0.0000}."),
            .. Counts(r),
            .. Preprocessing(r) is { } p ? [$"Input preprocessing: {p}."] : Array.Empty<string>(),
        ],
    };

    private static RunReport Train(JsonElement r) => new()
    {
        Kind = "train",
        Model = Text(r, "model") ?? "?",
        Accuracy = Stages(r, ("test top-1 after training", "accuracy"), ("test top-5 after training", "top5")),
        Training = Curves(r, false),
        Notes =
        [
            $"Data: {Text(r, "data")}{Images(r, "trainImages", "training image")}{Images(r, "testImages", "test image")}; time {Wording.Duration(Number(r, "seconds") ?? 0)}.",
            .. Counts(r),
            .. Saved(r),
        ],
    };

    private static RunReport Bench(JsonElement r)
    {
        var model = r.GetProperty("model");
        bool against = r.TryGetProperty("baseline", out var baseline) && baseline.ValueKind == JsonValueKind.Object;
        var rows = Items(r, "results");
        var ms = Wording.Format(rows.SelectMany(row => new[] { "model", "baseline" }.Where(w => IsObject(row, w))
            .SelectMany(w => new[] { Number(row.GetProperty(w), "p50Ms") ?? 0, Number(row.GetProperty(w), "p90Ms") ?? 0 })));
        string Ms(JsonElement row, string who, string field) => (Number(row.GetProperty(who), field) ?? 0).ToString(ms, C);
        string Runs(JsonElement row) => (Count(row.GetProperty("model"), "runs") ?? 0).ToString(C);
        string threads = $"{Wording.Count(Count(r, "threads") ?? 0, "thread")}, ONNX Runtime {Text(r, "onnxRuntime")}";
        ReportTable table = against
            ? new ReportTable($"Latency against {Text(baseline, "name")} (ABBA rounds)", ["batch", "runs", "baseline p50 ms", "model p50 ms", "speed-up (median, IQR of rounds)"],
                rows.Select(row => (IReadOnlyList<string>)[Count(row, "batch")!.Value.ToString(C), Runs(row), Ms(row, "baseline", "p50Ms"), Ms(row, "model", "p50Ms"),
                    Wording.Spread(Number(row, "latencySpeedup") ?? Number(row, "speedup") ?? 0, Number(row, "speedupLow"), Number(row, "speedupHigh"))]).ToList())
            : new ReportTable("Latency", ["batch", "runs", "p50 ms", "p90 ms", "images/s"],
                rows.Select(row => (IReadOnlyList<string>)[Count(row, "batch")!.Value.ToString(C), Runs(row), Ms(row, "model", "p50Ms"), Ms(row, "model", "p90Ms"),
                    (Number(row.GetProperty("model"), "imagesPerSecond") ?? 0).ToString("0.0", C)]).ToList());
        var summary = new List<Measure>();
        if (against)
            foreach (var (name, field) in new[] { ("params", "params"), ("MACs", "macs") })
                if (Count(baseline, field) is { } b && Count(model, field) is { } m) summary.Add(new Measure(name, b, m));
        return new RunReport
        {
            Kind = against ? "bench (against a baseline)" : "bench",
            Model = Text(model, "name") ?? "?",
            Summary = summary,
            Tables = [table],
            Notes =
            [
                $"Input {Text(model, "input")}; {threads}."
                    + (against ? " Speed-up = baseline ÷ model latency, the median over ABBA rounds with the rounds' interquartile range (> 1: the model is faster)." : ""),
                .. against ? Array.Empty<string>() : Counts(model),
            ],
        };
    }

    private static bool IsObject(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object;

    private static string[] Counts(JsonElement r) =>
        Count(r, "params") is { } p ? [FormattableString.Invariant($"Params {p:N0}, MACs {(Count(r, "macs") is { } m ? m.ToString("N0", C) : "unknown")}.")] : [];

    private static string[] Saved(JsonElement r) => Text(r, "output") is { } o ? [$"Saved {o}."] : [];

    private static string Images(JsonElement r, string field, string noun) => Count(r, field) is { } n ? $", {Wording.Count(n, noun)}" : "";

    private static string? Preprocessing(JsonElement r) =>
        Text(r, "preprocessing") is { } p ? InputPreprocessing.Parse(p).Describe() : null;

    private static Measure Pair(JsonElement r, string name, string before, string after) => new(name, Count(r, before) ?? 0, Count(r, after) ?? 0);

    private static List<AccuracyStage> Stages(JsonElement r, params (string Name, string Field)[] stages) =>
        Reports.Stages([.. stages.Select(s => (s.Name, Number(r, s.Field)))]);

    /// <summary>Training curves from <c>epochs</c>.</summary>
    private static List<EpochPoint> Curves(JsonElement r, bool multiStep) =>
        Reports.Curves(Items(r, "epochs").Select((e, i) => (Count(e, "epoch") ?? i + 1, Number(e, "trainLoss") ?? 0, Number(e, "trainAccuracy") ?? 0, Number(e, "testAccuracy"))), multiStep);

    private static IReadOnlyList<JsonElement> Items(JsonElement r, string name) =>
        r.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().ToList() : [];

    private static string? Text(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static double? Number(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    /// <summary>The score of an agreement report property (null when absent or null).</summary>
    private static double? Score(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object ? Number(v, "score") : null;

    private static long? Count(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : null;
}
