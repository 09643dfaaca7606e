using Microsoft.ML.OnnxRuntime;
using Secateur.Data;
using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using Secateur.Quantization;
using Secateur.Runtime;
using Secateur.Training;
using static TorchSharp.torch;

namespace Secateur.Tests.Quantization;

public sealed class Int8QuantizerTests
{
    private static readonly DataSet Embedded = DataSource.Resolve("embedded");

    private static QuantizedModel Quantize(ModelGraph graph, int images = 128, CalibrationMethod method = CalibrationMethod.MinMax)
    {
        var options = new QuantizationOptions { CalibrationImages = images, Method = method };
        return Int8Quantizer.Quantize(graph, Int8Quantizer.CalibrationBatches(Embedded, options), options);
    }

    /// <summary>The op types of the graph ONNX Runtime actually runs after its optimisations.</summary>
    internal static IReadOnlyList<string> OptimizedOps(byte[] onnx)
    {
        OnnxRuntimeSession.EnsureLoaded();
        var dir = Directory.CreateTempSubdirectory("secateur-quant");
        try
        {
            var path = Path.Combine(dir.FullName, "optimized.onnx");
            using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED, OptimizedModelFilePath = path, IntraOpNumThreads = 1 })
            using (new InferenceSession(onnx, options)) { }
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.Select(n => n.OpType).ToList();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("lenet5", 2, 3)]
    [InlineData("resnet20", 21, 1)]
    [InlineData("mobilenetv2", 52, 1)]
    public void A_quantized_zoo_model_runs_in_ort_on_integer_kernels_only(string name, int convs, int gemms)
    {
        var q = Quantize(ModelZoo.Create(name));

        var ops = OptimizedOps(q.Onnx);
        // One QuantizeLinear for the float input and one DequantizeLinear for the float output: no float island
        // (DequantizeLinear → Clip, ReLU or pooling → QuantizeLinear) is left between two integer kernels.
        ops.Count(o => o == "QuantizeLinear").ShouldBe(1);
        ops.Count(o => o == "DequantizeLinear").ShouldBe(1);
        ops.ShouldNotContain("Clip");
        ops.ShouldNotContain("Relu");
        ops.ShouldNotContain("GlobalAveragePool");
        ops.Count(o => o == "QLinearConv").ShouldBe(convs);
        ops.Count(o => o == "QGemm").ShouldBe(gemms);
        // No float convolution or matrix product is left: every one became an integer kernel.
        ops.ShouldNotContain("Conv");
        ops.ShouldNotContain("FusedConv");
        ops.ShouldNotContain("Gemm");
        ops.ShouldNotContain("MatMul");
        if (name == "resnet20") ops.Count(o => o == "QLinearAdd").ShouldBe(9);
    }

    [Fact]
    public void The_int8_model_keeps_the_input_and_output_names_and_the_dynamic_batch()
    {
        var graph = ModelZoo.Create("resnet20");
        var q = Quantize(graph, 64);
        var model = ModelProto.Parser.ParseFrom(q.Onnx);
        model.Graph.Input.Single().Name.ShouldBe(graph.Inputs[0].Name);
        model.Graph.Output.Single().Name.ShouldBe(graph.Outputs[0].Name);
        model.OpsetImport.Single().Version.ShouldBeGreaterThanOrEqualTo(13);
        // Weights are int8 with one scale per output channel (DequantizeLinear axis 0).
        var conv1 = model.Graph.Initializer.Single(t => t.Name == "conv1.weight_quantized");
        conv1.DataType.ShouldBe(3); // INT8
        model.Graph.Initializer.Single(t => t.Name == "conv1.weight_scale").Dims.ShouldBe([16L]);
        model.Graph.Initializer.ShouldNotContain(t => t.Name == "conv1.weight");

        using var session = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        foreach (int batch in new[] { 1, 5 })
        {
            var shape = session.InputShape(batch);
            var (output, outShape) = session.Run(new float[TensorData.ElementCount(shape)], shape);
            outShape.ShouldBe([batch, 10]);
            output.ShouldAllBe(v => float.IsFinite(v));
        }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void A_trained_lenet5_in_int8_predicts_like_the_float_model()
    {
        var data = Embedded with { Test = Embedded.Test.Take(400) };
        using var module = new GraphModule(ModelZoo.Create("lenet5"));
        new Trainer(module, new TrainingOptions { Epochs = 2, BatchSize = 64, LearningRate = 0.05, Augment = false }).Fit(data.TrainLoader(64, 0, augment: false));
        var graph = module.ToGraph();
        var q = Quantize(graph, 256);

        using var fp32 = OnnxRuntimeSession.FromGraph(graph);
        using var int8 = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        var f = OnnxRuntimeEvaluation.Evaluate(fp32, data.TestLoader(100));
        var i = OnnxRuntimeEvaluation.Evaluate(int8, data.TestLoader(100));
        f.Samples.ShouldBe(400);
        f.Top1.ShouldBeGreaterThan(0.5); // trained: chance is 0.1
        i.Agreement(f).ShouldBeGreaterThanOrEqualTo(0.95);
        Math.Abs(i.Top1 - f.Top1).ShouldBeLessThan(0.03);
    }

    [Fact]
    public void Resnet20_in_int8_is_more_than_three_times_smaller()
    {
        var graph = ModelZoo.Create("resnet20");
        var q = Quantize(graph, 64);
        double ratio = OnnxSerializer.ToBytes(graph).Length / (double)q.Onnx.Length;
        ratio.ShouldBeGreaterThan(3.0);
    }

    [Fact]
    public void Folding_batch_norms_keeps_the_outputs()
    {
        var graph = ModelZoo.Create("resnet20");
        // Non-trivial statistics, else folding would be the identity.
        var random = new Random(3);
        foreach (var n in graph.Nodes.Where(n => n.Op == OpKind.BatchNormalization))
            for (int k = 1; k <= 4; k++)
            {
                var t = graph.Initializers[n.Inputs[k]];
                graph.Initializers[n.Inputs[k]] = TensorData.FromFloats(t.Floats.Select(_ => k == 4 ? 0.5f + (float)random.NextDouble() : (float)(random.NextDouble() - 0.5)).ToArray(), t.Shape);
            }
        var folded = GraphPreparation.FoldBatchNorms(graph);
        folded.Nodes.ShouldNotContain(n => n.Op == OpKind.BatchNormalization);

        using var scope = NewDisposeScope();
        using var a = new GraphModule(graph);
        using var b = new GraphModule(folded);
        a.eval();
        b.eval();
        using var _ = no_grad();
        // A private generator: manual_seed would reseed the process-wide one under tests running in parallel.
        using var generator = new Generator(5);
        var x = randn(4, 1, 28, 28, generator: generator);
        var diff = (a.forward(x) - b.forward(x)).abs().max().item<float>();
        diff.ShouldBeLessThan(1e-3f);
    }

    [Fact]
    public void Percentile_calibration_ignores_an_outlier_that_min_max_keeps()
    {
        var graph = ModelZoo.Create("lenet5");
        var random = new Random(1);
        var images = Enumerable.Range(0, 64 * 28 * 28).Select(_ => (float)random.NextDouble()).ToArray(); // uniform [0, 1)
        images[1234] = 1000f;
        var batches = new[] { new Batch(images, new long[64], 64, [1, 28, 28]) };
        string input = graph.Inputs[0].Name;

        var minMax = Calibrator.Calibrate(graph, batches, [input], CalibrationMethod.MinMax)[input];
        var percentile = Calibrator.Calibrate(graph, batches, [input], CalibrationMethod.Percentile, 99.99)[input];

        minMax.Max.ShouldBe(1000f);
        minMax.Min.ShouldBeInRange(0f, 0.001f);
        percentile.Max.ShouldBeInRange(0.99f, 1.0f);
        percentile.Min.ShouldBeInRange(0f, 0.01f);
        // The outlier makes min-max's step about a thousand times coarser.
        (minMax.Uint8().Scale / percentile.Uint8().Scale).ShouldBeGreaterThan(900);
    }

    [Fact]
    public void Activation_ranges_include_zero_exactly()
    {
        var (scale, zp) = new ActivationRange(-1f, 3f).Uint8();
        scale.ShouldBe(4f / 255f, 1e-7f);
        (zp * scale).ShouldBe(1f, scale); // −min lands on an integer step
        new ActivationRange(2f, 5f).Uint8().ZeroPoint.ShouldBe((byte)0); // widened to [0, 5]
        new ActivationRange(0f, 0f).Uint8().Scale.ShouldBeGreaterThan(0f);
    }


    [Theory]
    [InlineData("resnet18.bn.op17.onnx")]
    [InlineData("vgg11_bn.fold.op17.onnx")]
    public void An_imported_model_quantizes_onto_integer_kernels_with_a_bounded_output_error(string fixture)
    {
        var graph = OnnxSerializer.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", fixture));
        long[] sample = [.. graph.Inputs[0].Concrete(1).Skip(1)];
        var random = new Random(11);
        Batch RandomBatch(int n)
        {
            var images = new float[n * TensorData.ElementCount(sample)];
            for (int i = 0; i < images.Length; i++) images[i] = (float)(random.NextDouble() * 2 - 1);
            return new Batch(images, new long[n], n, sample);
        }
        var q = Int8Quantizer.Quantize(graph, [RandomBatch(4), RandomBatch(4)], new QuantizationOptions { CalibrationImages = 8 });
        q.CalibrationImages.ShouldBe(8);

        int convs = graph.Nodes.Count(n => n.Op == OpKind.Conv);
        OptimizedOps(q.Onnx).Count(o => o == "QLinearConv").ShouldBe(convs);

        var x = RandomBatch(2);
        long[] shape = [2, .. sample];
        using var fp32 = OnnxRuntimeSession.FromGraph(graph);
        using var int8 = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        var expected = fp32.Run(x.Images, shape).Output;
        var actual = int8.Run(x.Images, shape).Output;
        double scale = expected.Max(v => Math.Abs((double)v));
        double error = actual.Zip(expected).Max(p => Math.Abs((double)p.First - p.Second)) / scale;
        error.ShouldBeLessThan(0.05);
    }

    [Fact]
    public void A_pruned_resnet20_quantizes_onto_integer_kernels()
    {
        var pruned = Secateur.Pruning.Pruner.Prune(ModelZoo.Create("resnet20"), new Secateur.Pruning.MagnitudeImportance(1),
            new Secateur.Pruning.PruningOptions { Target = new Secateur.Pruning.PruningTarget { Speedup = 2 } }).Pruned;
        var q = Quantize(pruned, 64);
        var ops = OptimizedOps(q.Onnx);
        ops.Count(o => o == "QLinearConv").ShouldBe(pruned.Nodes.Count(n => n.Op == OpKind.Conv));
        ops.ShouldNotContain("Conv");
        using var session = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        session.Run(new float[2 * 28 * 28], [2, 1, 28, 28]).Shape.ShouldBe([2, 10]);
    }


    [Fact]
    public void Ort_integer_kernels_compute_what_the_qdq_graph_says_with_7_bit_weights()
    {
        // ORT's uint8 x int8 kernels on CPUs without VNNI add product pairs in 16 bits; with 8-bit weights an input
        // quantized around zero point 128 (VGG's first conv) saturates them (measured here on AVX2: 0.17 relative
        // difference with ReduceRange = false). 7-bit weights cannot saturate.
        var graph = OnnxSerializer.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", "vgg11_bn.fold.op17.onnx"));
        long[] shape = [2, .. graph.Inputs[0].Concrete(1).Skip(1)];
        var random = new Random(11);
        var images = new float[TensorData.ElementCount(shape)];
        for (int i = 0; i < images.Length; i++) images[i] = (float)(random.NextDouble() * 2 - 1);
        var q = Int8Quantizer.Quantize(graph, [new Batch(images, new long[2], 2, shape[1..])], new QuantizationOptions { CalibrationImages = 2 });

        OnnxRuntimeSession.EnsureLoaded();
        float[] RunWith(GraphOptimizationLevel level)
        {
            using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1 };
            using var session = new InferenceSession(q.Onnx, options);
            using var input = OrtValue.CreateTensorValueFromMemory(images, shape);
            using var output = session.Run(new RunOptions(), [graph.Inputs[0].Name], [input], [graph.Outputs[0].Name]);
            return output[0].GetTensorDataAsSpan<float>().ToArray();
        }
        // Without optimisations ORT executes QuantizeLinear/DequantizeLinear and float ops: the QDQ graph's meaning.
        var reference = RunWith(GraphOptimizationLevel.ORT_DISABLE_ALL);
        var fused = RunWith(GraphOptimizationLevel.ORT_ENABLE_ALL);
        double difference = fused.Zip(reference).Max(p => Math.Abs((double)p.First - p.Second)) / reference.Max(v => Math.Abs((double)v));
        difference.ShouldBeLessThan(0.001);
    }


    [Fact]
    public void A_relu_that_is_the_graph_output_is_kept()
    {
        var b = new GraphBuilder("convrelu", 1, 8, 8, 0);
        var graph = b.Build(b.Relu(b.Conv(b.Input, "conv1", 4, 3, pad: 1, bias: true), "logits")); // the ReLU writes the graph output
        var random = new Random(2);
        var images = Enumerable.Range(0, 4 * 64).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var q = Int8Quantizer.Quantize(graph, [new Batch(images, new long[4], 4, [1, 8, 8])], new QuantizationOptions { CalibrationImages = 4 });

        using var fp32 = OnnxRuntimeSession.FromGraph(graph);
        using var int8 = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        var expected = fp32.Run(images, [4, 1, 8, 8]).Output;
        var actual = int8.Run(images, [4, 1, 8, 8]).Output;
        actual.ShouldAllBe(v => v >= 0f);
        actual.Zip(expected).Max(p => Math.Abs(p.First - p.Second)).ShouldBeLessThan(0.05f * expected.Max());
    }

    /// <summary>Conv → BN → ReLU6 → depthwise Conv → BN → ReLU6 → 1x1 Conv → GAP → Flatten → Linear, MobileNetV2's block shape.</summary>
    private static ModelGraph Relu6Block(int seed = 0)
    {
        var b = new GraphBuilder("relu6block", 1, 8, 8, seed);
        var x = b.Relu6(b.BatchNorm(b.Conv(b.Input, "expand", 8, 3, pad: 1), "expand.bn"), "expand.relu");
        x = b.Relu6(b.BatchNorm(b.Conv(x, "dw", 8, 3, pad: 1, groups: 8), "dw.bn"), "dw.relu");
        x = b.Flatten(b.GlobalAvgPool(b.Conv(x, "project", 8, 1, bias: true), "gap"), "flatten");
        return b.Build(b.Linear(x, "fc", 4));
    }

    private static float[] RandomImages(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count * 64).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    [Fact]
    public void A_relu6_block_is_written_and_run_without_float_clips()
    {
        var graph = Relu6Block();
        var images = RandomImages(16, 3);
        var q = Int8Quantizer.Quantize(graph, [new Batch(images, new long[16], 16, [1, 8, 8])], new QuantizationOptions { CalibrationImages = 16 });

        // The written file: the ReLU6s are gone, their outputs' QuantizeLinear clamping to [0, max <= 6].
        var written = ModelProto.Parser.ParseFrom(q.Onnx).Graph.Node.Select(n => n.OpType).ToList();
        written.ShouldNotContain("Clip");
        q.Ranges["expand.relu"].Min.ShouldBe(0f);
        q.Ranges["expand.relu"].Max.ShouldBeInRange(1e-3f, 6f);
        q.QuantizedNodes.ShouldContain("gap");
        // What ORT runs: integer kernels from the input's QuantizeLinear to the output's DequantizeLinear.
        var ops = OptimizedOps(q.Onnx);
        ops.Count(o => o == "QLinearConv").ShouldBe(3);
        ops.ShouldContain("QLinearGlobalAveragePool");
        ops.Count(o => o == "QuantizeLinear").ShouldBe(1);
        ops.Count(o => o == "DequantizeLinear").ShouldBe(1);

        // And it computes what the float model does, within int8 error, on images it was not calibrated on.
        using var fp32 = OnnxRuntimeSession.FromGraph(graph);
        using var int8 = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        var x = RandomImages(8, 5);
        var expected = fp32.Run(x, [8, 1, 8, 8]).Output;
        var actual = int8.Run(x, [8, 1, 8, 8]).Output;
        double error = actual.Zip(expected).Max(p => Math.Abs((double)p.First - p.Second)) / expected.Max(v => Math.Abs((double)v));
        error.ShouldBeLessThan(0.08);
    }

    [Fact]
    public void A_dropped_clip_bounds_its_range_even_when_calibration_saw_only_zeros()
    {
        var graph = Relu6Block();
        graph.Initializers["const.six"] = TensorData.FromFloats([0.25f]);
        // expand's output before the clip is negative everywhere on zero images: calibration sees a clip output of 0.
        var expandBn = graph.Nodes.Single(n => n.Name == "expand.bn");
        graph.Initializers[expandBn.Inputs[2]] = TensorData.Filled(-1f, 8); // β = −1
        var q = Int8Quantizer.Quantize(graph, [new Batch(new float[4 * 64], new long[4], 4, [1, 8, 8])], new QuantizationOptions { CalibrationImages = 4 });
        ModelProto.Parser.ParseFrom(q.Onnx).Graph.Node.ShouldNotContain(n => n.OpType == "Clip");
        // The range ends at the clip's max, so the QuantizeLinear saturates where the Clip did, not at 1/255 · 255 = 1.
        q.Ranges["expand.relu"].ShouldBe(new ActivationRange(0f, 0.25f));
        q.Ranges["expand.relu"].Uint8().Scale.ShouldBe(0.25f / 255, 1e-9);
    }

    [Fact]
    public void A_clip_that_does_not_start_at_zero_is_kept()
    {
        var graph = Relu6Block();
        graph.Initializers["const.zero"] = TensorData.FromFloats([-1f]); // Clip(−1, 6): a zero point-0 uint8 cannot clamp at −1
        var images = RandomImages(8, 4);
        var q = Int8Quantizer.Quantize(graph, [new Batch(images, new long[8], 8, [1, 8, 8])], new QuantizationOptions { CalibrationImages = 8 });
        ModelProto.Parser.ParseFrom(q.Onnx).Graph.Node.Count(n => n.OpType == "Clip").ShouldBe(2);
        using var fp32 = OnnxRuntimeSession.FromGraph(graph);
        using var int8 = OnnxRuntimeSession.FromBytes(q.Onnx, "int8");
        var expected = fp32.Run(images, [8, 1, 8, 8]).Output;
        var actual = int8.Run(images, [8, 1, 8, 8]).Output;
        (actual.Zip(expected).Max(p => Math.Abs((double)p.First - p.Second)) / expected.Max(v => Math.Abs((double)v))).ShouldBeLessThan(0.08);
    }

    [Fact]
    public void Bad_options_and_empty_data_are_refused_with_one_line()
    {
        var graph = ModelZoo.Create("lenet5");
        Should.Throw<SecateurException>(() => Int8Quantizer.Quantize(graph, [], new QuantizationOptions())).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new QuantizationOptions { Method = CalibrationMethod.Percentile, Percentile = 101 }.Validated())
            .Parameter.ShouldBe(nameof(QuantizationOptions.Percentile));
        Should.Throw<SecateurException>(() => new QuantizationOptions { Percentile = 50 }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new QuantizationOptions { CalibrationImages = 0 }.Validated()).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => QuantizationOptions.ParseMethod("entropy")).Message.ShouldContain("minmax or percentile");
        QuantizationOptions.ParseMethod("Percentile").ShouldBe(CalibrationMethod.Percentile);
    }
}
