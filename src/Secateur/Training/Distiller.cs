using Secateur.Graph;
using Secateur.Runtime;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Training;

/// <summary>The distillation term of one batch, and what the trainer reports from it.</summary>
/// <param name="Loss">The scalar loss (summed over every output, plus feature matching when on).</param>
/// <param name="TeacherTop1">The teachers' top class per sample of the first classifier output (N), or null when no output is a classifier.</param>
/// <param name="StudentTop1">The student's top class per sample of the same output, or null.</param>
public sealed record DistillationLoss(Tensor Loss, Tensor? TeacherTop1, Tensor? StudentTop1);

/// <summary>
/// Makes a student match its teachers' outputs: for every graph output (matched by position, so a multi-head model
/// keeps every head), KL divergence at temperature T scaled by T² for classifier logits — an output of rank 2,
/// <c>[N, K]</c> with K ≥ 2 — against the teachers' averaged softened probabilities, and normalised MSE (MSE divided by
/// the variance of the averaged teacher output) for any other output; the terms are summed. With a feature weight,
/// it adds attention transfer (Zagoruyko and Komodakis 2017) at every pruned activation: a value whose channel count
/// differs between the student and the dense model it was pruned from and that a weighted layer
/// reads. Attention maps (mean of squares over channels, L2-normalised per sample) do not depend on the channel count,
/// so a pruned activation is compared with its dense counterpart directly.
/// </summary>
public sealed class Distiller
{
    private readonly IReadOnlyList<GraphModule> _teachers;
    private readonly GraphModule _student;
    private readonly double _temperature;
    private readonly double _featureWeight;
    private readonly string[] _features;
    private readonly GraphModule _reference;

    /// <summary>Creates the distillation term of <paramref name="student"/> against <paramref name="teachers"/>.</summary>
    /// <param name="student">The module being trained.</param>
    /// <param name="teachers">One or more teachers (outputs averaged).</param>
    /// <param name="options">Temperature and feature weight.</param>
    /// <param name="featureReference">The dense model the student was pruned from, for feature matching (default: the first teacher).</param>
    /// <exception cref="SecateurException">BadArgument (parameter Teachers) when a teacher's outputs or input do not match the student's.</exception>
    public Distiller(GraphModule student, IReadOnlyList<GraphModule> teachers, DistillationOptions options, GraphModule? featureReference = null)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teachers);
        options = (options ?? throw new ArgumentNullException(nameof(options))).Validated();
        if (teachers.Count == 0) throw new SecateurException(ErrorCode.BadArgument, "distillation needs at least one teacher", nameof(DistillationOptions.Teachers));
        foreach (var t in teachers)
        {
            if (t.Graph.Outputs.Count != student.Graph.Outputs.Count)
                throw new SecateurException(ErrorCode.BadArgument,
                    $"teacher '{t.Graph.Name}' has {t.Graph.Outputs.Count} output(s) but the student '{student.Graph.Name}' has {student.Graph.Outputs.Count}: every output is distilled, so they must match", nameof(DistillationOptions.Teachers));
            if (t.Graph.Inputs.Count != 1 || t.Graph.Inputs[0].ShapeText != student.Graph.Inputs[0].ShapeText)
                throw new SecateurException(ErrorCode.BadArgument,
                    $"teacher '{t.Graph.Name}' takes input {string.Join(", ", t.Graph.Inputs.Select(i => i.ShapeText))} but the student takes {student.Graph.Inputs[0].ShapeText}", nameof(DistillationOptions.Teachers));
        }
        _student = student;
        _teachers = teachers;
        _temperature = options.Temperature;
        _featureWeight = options.FeatureWeight;
        _reference = featureReference ?? teachers[0];
        _features = options.FeatureWeight > 0 ? PrunedActivations(student.Graph, _reference.Graph) : [];
    }

    /// <summary>The student values <see cref="Loss"/> needs captured besides the outputs (the pruned activations matched when feature matching is on).</summary>
    public IReadOnlyCollection<string> Capture => _features;

    /// <summary>
    /// The pruned activations of <paramref name="student"/> against <paramref name="dense"/>: values of rank 3 or more
    /// present in both whose channel count (dimension 1) differs and that a Conv, ConvTranspose, Gemm or MatMul reads.
    /// </summary>
    public static string[] PrunedActivations(ModelGraph student, ModelGraph dense)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(dense);
        var s = ShapeInference.Infer(student);
        var d = ShapeInference.Infer(dense);
        return student.Nodes.Where(n => n.Op is OpKind.Conv or OpKind.ConvTranspose or OpKind.Gemm or OpKind.MatMul)
            .Select(n => n.Inputs[0])
            .Where(v => !student.Initializers.ContainsKey(v) && s.TryGetValue(v, out var a) && d.TryGetValue(v, out var b)
                        && a.Length >= 3 && a.Length == b.Length && a[1] != b[1])
            .Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>True for an output the distillation treats as classifier logits: rank 2, <c>[N, K]</c> with K ≥ 2.</summary>
    public static bool IsClassifier(Tensor output) => output.dim() == 2 && output.shape[1] >= 2;

    /// <summary>The distillation loss of one batch.</summary>
    /// <param name="student">The student's outputs (and <see cref="Capture"/>d values) by name, from <see cref="GraphModule.Run"/>.</param>
    /// <param name="input">The batch the student saw (N, C, H, W).</param>
    public DistillationLoss Loss(IReadOnlyDictionary<string, Tensor> student, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(input);
        var teacherRuns = new List<Dictionary<string, Tensor>>(_teachers.Count);
        Dictionary<string, Tensor>? reference = null;
        using (no_grad())
        {
            Dictionary<string, Tensor> Forward(GraphModule t, bool capture)
            {
                t.eval();
                return t.Run(new Dictionary<string, Tensor> { [t.Graph.Inputs[0].Name] = input }, capture && _features.Length > 0 ? _features : null);
            }
            foreach (var t in _teachers)
            {
                var run = Forward(t, ReferenceEquals(t, _reference));
                if (ReferenceEquals(t, _reference)) reference = run;
                teacherRuns.Add(run);
            }
            if (_features.Length > 0) reference ??= Forward(_reference, true);
        }
        double temp = _temperature;
        Tensor? total = null;
        Tensor? teacherTop1 = null, studentTop1 = null;
        for (int o = 0; o < _student.Graph.Outputs.Count; o++)
        {
            var s = student[_student.Graph.Outputs[o].Name];
            var ts = teacherRuns.Select((run, i) => run[_teachers[i].Graph.Outputs[o].Name]).ToList();
            Tensor term;
            if (IsClassifier(s))
            {
                Tensor p; // (N, K) averaged softened teacher probabilities
                using (no_grad())
                {
                    p = ts.Select(t => F.softmax(t / temp, 1)).Aggregate((a, b) => a + b) / ts.Count;
                    teacherTop1 ??= p.argmax(1);
                }
                studentTop1 ??= s.detach().argmax(1);
                // KL(p ‖ q_s) = Σ p·(log p − log q_s), batch mean, × T² so that gradients keep their size across T.
                term = (p * (p.clamp_min(1e-12).log() - F.log_softmax(s / temp, 1))).sum() / s.shape[0] * (temp * temp);
            }
            else
            {
                Tensor mean;
                using (no_grad()) mean = ts.Aggregate((a, b) => a + b) / ts.Count;
                // Normalised by the teacher's variance: outputs of any scale weigh alike in the sum.
                term = F.mse_loss(s, mean) / (mean.var() + 1e-8);
            }
            total = total is null ? term : total + term;
        }
        if (_features.Length > 0)
        {
            Tensor? at = null;
            foreach (var v in _features)
            {
                var term = (Attention(student[v]) - Attention(reference![v]).detach()).pow(2).sum(1).mean();
                at = at is null ? term : at + term;
            }
            total = total! + at! * (_featureWeight / _features.Length);
        }
        return new DistillationLoss(total!, teacherTop1, studentTop1);
    }

    /// <summary>Spatial attention map of an activation (N, C, ...): mean over channels of the squares, flattened and L2-normalised per sample (N, H·W).</summary>
    private static Tensor Attention(Tensor f)
    {
        var a = f.pow(2).mean([1L]).flatten(1); // (N, H·W)
        return a / (a.norm(1, keepdim: true) + 1e-12);
    }
}
