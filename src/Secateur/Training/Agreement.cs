using Secateur.Data;
using Secateur.Graph;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Training;

/// <summary>How one output of a model agrees with the same output of a reference model.</summary>
/// <param name="Output">The output's name (the model's).</param>
/// <param name="Kind"><c>classifier</c> (rank 2, [N, K], K ≥ 2), <c>class map</c> (rank 4, [N, K, H, W], K ≥ 2) or <c>other</c>.</param>
/// <param name="RelativeError">‖model − reference‖ / ‖reference‖ over all samples and elements (0: identical).</param>
/// <param name="Cosine">Mean over samples of the cosine similarity of the flattened outputs (1: same direction).</param>
/// <param name="Top1">Classifier: fraction of samples whose top class is the reference's; else null.</param>
/// <param name="MeanIoU">Class map: mIoU of the per-pixel argmax against the reference's argmax; else null.</param>
public sealed record OutputAgreement(string Output, string Kind, double RelativeError, double Cosine, double? Top1, double? MeanIoU)
{
    /// <summary>The output's headline figure: top-1 agreement, mIoU, or (any other output) the cosine similarity.</summary>
    public double Score => Top1 ?? MeanIoU ?? Cosine;
}

/// <summary>Agreement of a model with a reference (the dense model it was pruned from) on a set of images, per output.</summary>
/// <param name="Outputs">One entry per output, in the model's order.</param>
/// <param name="Samples">Images compared.</param>
public sealed record AgreementReport(IReadOnlyList<OutputAgreement> Outputs, long Samples)
{
    /// <summary>Mean over outputs of <see cref="OutputAgreement.Score"/>: what the dynamic schedule watches without labels (1 for the reference itself).</summary>
    public double Score => Outputs.Count == 0 ? double.NaN : Outputs.Average(o => o.Score);

    /// <summary>One line: every output's figures.</summary>
    public override string ToString() => string.Join("; ", Outputs.Select(o => FormattableString.Invariant(
        $"{o.Output} ({o.Kind}): {(o.Top1 is { } t ? $"top-1 agreement {t:P2}, " : "")}{(o.MeanIoU is { } m ? $"mIoU {m:P2}, " : "")}relative error {o.RelativeError:0.0000}, cosine {o.Cosine:0.0000}")));
}

/// <summary>
/// Measures how a (pruned) model's outputs agree with a reference model's on the same images, for any model:
/// relative error and cosine similarity for every output, top-1 agreement for classifier outputs, mIoU against the
/// reference's argmax for per-pixel class maps. Outputs are matched by position; no label is read.
/// </summary>
public static class Agreement
{
    /// <summary>Agreement of <paramref name="model"/> with <paramref name="reference"/> on <paramref name="data"/> (modules built on <paramref name="device"/> and disposed).</summary>
    public static AgreementReport Measure(ModelGraph model, ModelGraph reference, IBatchSource data, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(reference);
        using var m = new GraphModule(model, device);
        using var r = new GraphModule(reference, device);
        return Measure(m, r, data);
    }

    /// <summary>Agreement of <paramref name="model"/> with <paramref name="reference"/> on <paramref name="data"/>, both in eval mode.</summary>
    /// <exception cref="SecateurException">BadArgument when the models' output counts or shapes differ, or the data is empty.</exception>
    public static AgreementReport Measure(GraphModule model, GraphModule reference, IBatchSource data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(data);
        int outputs = model.Graph.Outputs.Count;
        if (reference.Graph.Outputs.Count != outputs)
            throw new SecateurException(ErrorCode.BadArgument, $"'{model.Graph.Name}' has {outputs} output(s) but the reference '{reference.Graph.Name}' has {reference.Graph.Outputs.Count}", ParameterNames.Against);
        var acc = new Accumulator[outputs];
        for (int o = 0; o < outputs; o++) acc[o] = new Accumulator();
        long seen = 0;
        bool mt = model.training, rt = reference.training;
        model.eval();
        reference.eval();
        using (no_grad())
        {
            foreach (var batch in data.Epoch(0))
            {
                using var scope = NewDisposeScope();
                var (x, _) = Trainer.ToTensors(batch, model.Device);
                var a = model.Run(new Dictionary<string, Tensor> { [model.Graph.Inputs[0].Name] = x });
                var b = reference.Run(new Dictionary<string, Tensor> { [reference.Graph.Inputs[0].Name] = x.to(reference.Device) });
                for (int o = 0; o < outputs; o++)
                {
                    var s = a[model.Graph.Outputs[o].Name];
                    var t = b[reference.Graph.Outputs[o].Name].to(s.device);
                    if (!s.shape.SequenceEqual(t.shape))
                        throw new SecateurException(ErrorCode.BadArgument,
                            $"output {o + 1} is [{string.Join(", ", s.shape)}] in '{model.Graph.Name}' but [{string.Join(", ", t.shape)}] in the reference '{reference.Graph.Name}'", ParameterNames.Against);
                    acc[o].Add(s, t);
                }
                seen += batch.Count;
            }
        }
        if (mt) model.train();
        if (rt) reference.train();
        if (seen == 0) throw new SecateurException(ErrorCode.BadArgument, "there are no images to compare the models on", ParameterNames.Data);
        return new AgreementReport([.. acc.Select((x, o) => x.Result(model.Graph.Outputs[o].Name))], seen);
    }

    /// <summary>Sums over batches for one output.</summary>
    private sealed class Accumulator
    {
        private double _diff, _ref, _cosine;
        private long _samples, _hits;
        // Class maps: the reference's argmax as the targets of the segmentation metric (one definition of mIoU).
        private SegmentationMetrics? _classMap;
        private string _kind = "other";

        public void Add(Tensor s, Tensor t)
        {
            var sd = s.to_type(ScalarType.Float64);
            var td = t.to_type(ScalarType.Float64);
            _diff += (sd - td).pow(2).sum().item<double>();
            _ref += td.pow(2).sum().item<double>();
            long n = s.shape[0];
            var a = sd.reshape(n, -1);
            var b = td.reshape(n, -1);
            // Two all-zero rows point the same way: count them as 1, not 0/0.
            var dot = (a * b).sum(1);
            var norms = a.norm(1) * b.norm(1);
            var cos = where(norms.gt(0), dot / norms.clamp_min(1e-300), (a.abs().sum(1) + b.abs().sum(1)).eq(0).to_type(ScalarType.Float64));
            _cosine += cos.sum().item<double>();
            _samples += n;
            if (s.dim() == 2 && s.shape[1] >= 2)
            {
                _kind = "classifier";
                _hits += s.argmax(1).eq(t.argmax(1)).sum().item<long>();
            }
            else if (s.dim() == 4 && s.shape[1] >= 2)
            {
                _kind = "class map";
                _classMap ??= new SegmentationMetrics((int)s.shape[1], ignoreIndex: -1);
                _classMap.Add(s, t.argmax(1));
            }
        }

        public OutputAgreement Result(string name) => new(name, _kind,
            _ref > 0 ? Math.Sqrt(_diff / _ref) : _diff == 0 ? 0 : double.PositiveInfinity,
            _cosine / Math.Max(1, _samples),
            _kind == "classifier" ? _hits / (double)Math.Max(1, _samples) : null,
            _kind == "class map" ? _classMap!.Compute().MeanIoU : null);
    }
}
