using Secateur.Graph;
using Secateur.Runtime;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Secateur.Training;

/// <summary>The distillation term of one batch, and what the trainer reports from it.</summary>
/// <param name="Loss">The scalar loss (summed over every output, plus feature matching when on).</param>
/// <param name="TeacherTop1">
/// The teachers' top class per sample of the first classifier output (N), or per pixel of the first class map
/// (N, H, W), whichever comes first; null when no output is either.
/// </param>
/// <param name="StudentTop1">The student's top class per sample (or pixel) of the same output, or null.</param>
public sealed record DistillationLoss(Tensor Loss, Tensor? TeacherTop1, Tensor? StudentTop1);

/// <summary>How <see cref="Distiller"/> compares a class map: an output of rank 4, <c>[N, K, H, W]</c> with K ≥ 2 (per-pixel class scores).</summary>
public enum ClassMapLoss
{
    /// <summary>
    /// Chosen by the fine-tuner from the data: <see cref="BalancedKl"/> when the data set is a segmentation set (either
    /// split has masks), else <see cref="Mse"/> (a rank-4 output of a classification model is a feature map, not class
    /// scores). A <see cref="Distiller"/> built directly with it uses <see cref="Mse"/>.
    /// </summary>
    Auto,
    /// <summary>Normalised MSE on the scores, as for any output that is not a classifier's.</summary>
    Mse,
    /// <summary>Per-pixel T²·KL(teacher ‖ student) at temperature T over the K classes, averaged over all N·H·W pixels.</summary>
    PixelKl,
    /// <summary>
    /// Per-pixel T²·KL at temperature T, class-balanced: with c(p) the teachers' top class at pixel p, n_c the number of
    /// the batch's P pixels whose top class is c and C the number of classes that occur, pixel p weighs
    /// P / (C · n_c(p)), so the weights average 1 and every class that occurs weighs the same in total (a rare
    /// foreground class as much as the background): D = T² · Σ_p w_p·KL_p / P.
    /// </summary>
    BalancedKl,
}

/// <summary>
/// Makes a student match its teachers' outputs: for every graph output (matched by position, so a multi-head model
/// keeps every head), KL divergence at temperature T scaled by T² for classifier logits — an output of rank 2,
/// <c>[N, K]</c> with K ≥ 2 — against the teachers' averaged softened probabilities; for class maps (rank 4,
/// <c>[N, K, H, W]</c>, K ≥ 2) what <see cref="DistillationOptions.ClassMaps"/> says (per-pixel KL, class-balanced or
/// not, or normalised MSE); and normalised MSE (MSE divided by
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
    private readonly ClassMapLoss _classMaps;
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
        _classMaps = options.ClassMaps == ClassMapLoss.Auto ? ClassMapLoss.Mse : options.ClassMaps;
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

    /// <summary>True for an output that can be a class map (per-pixel class scores): rank 4, <c>[N, K, H, W]</c> with K ≥ 2.</summary>
    public static bool IsClassMap(Tensor output) => output.dim() == 4 && output.shape[1] >= 2;

    /// <summary>
    /// The class-balanced pixel weights of <see cref="ClassMapLoss.BalancedKl"/> for the teachers' top classes
    /// <paramref name="top"/> (N, H, W) of <paramref name="classes"/> classes: P / (C · n_c(p)) per pixel (N, H, W),
    /// float32, summing to P.
    /// </summary>
    public static Tensor BalancedWeights(Tensor top, long classes)
    {
        ArgumentNullException.ThrowIfNull(top);
        var counts = top.flatten().bincount(null, classes).to_type(ScalarType.Float32); // (K) pixels per top class
        var present = counts.gt(0).sum().to_type(ScalarType.Float32);                          // C
        return top.numel() / (present * counts[top]);                                          // (N, H, W)
    }

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
            if (IsClassMap(s) && _classMaps != ClassMapLoss.Mse)
            {
                Tensor p, weights; // (N, K, H, W) averaged softened teacher probabilities; (N, H, W) pixel weights
                using (no_grad())
                {
                    p = ts.Select(t => F.softmax(t / temp, 1)).Aggregate((a, b) => a + b) / ts.Count;
                    var top = p.argmax(1);
                    teacherTop1 ??= top;
                    weights = _classMaps == ClassMapLoss.BalancedKl ? BalancedWeights(top, p.shape[1]) : ones_like(top, ScalarType.Float32);
                }
                studentTop1 ??= s.detach().argmax(1);
                var kl = (p * (p.clamp_min(1e-12).log() - F.log_softmax(s / temp, 1))).sum(1); // (N, H, W)
                term = (kl * weights).mean() * (temp * temp);
            }
            else if (IsClassifier(s))
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
                if (IsClassMap(s))
                {
                    // Even when the scores are matched by MSE, per-pixel agreement is what a class map's progress reports.
                    using (no_grad()) teacherTop1 ??= mean.argmax(1);
                    studentTop1 ??= s.detach().argmax(1);
                }
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
