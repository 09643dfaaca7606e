using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using Secateur.Pruning;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// Hand-built ONNX models for the op forms the torchvision fixtures do not reach (opset-18 inputs, Split,
/// Squeeze/Unsqueeze, Gemm options, Pad modes, external data), each checked against ONNX Runtime on the same file.
/// </summary>
public sealed class OnnxImportOpsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-importops-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>A tiny ModelProto builder: float input 'input' with a symbolic batch, nodes in order, one output.</summary>
    private sealed class Proto
    {
        private readonly GraphProto _g = new() { Name = "hand" };
        private readonly int _opset;
        private int _count;

        public Proto(int opset, params long[] dims)
        {
            _opset = opset;
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
            foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            _g.Input.Add(new ValueInfoProto { Name = "input", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } });
        }

        public string Floats(string name, float[] data, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(data.SelectMany(BitConverter.GetBytes).ToArray()) };
            t.Dims.AddRange(dims);
            _g.Initializer.Add(t);
            return name;
        }

        public string Longs(string name, params long[] data)
        {
            var t = new TensorProto { Name = name, DataType = 7, Dims = { data.Length } };
            t.Int64Data.AddRange(data);
            _g.Initializer.Add(t);
            return name;
        }

        public string Scalar(string name, long value)
        {
            var t = new TensorProto { Name = name, DataType = 7 };
            t.Int64Data.Add(value);
            _g.Initializer.Add(t);
            return name;
        }

        public string Random(string name, int seed, params long[] dims)
        {
            var rng = new Random(seed);
            return Floats(name, Enumerable.Range(0, (int)TensorData.ElementCount(dims)).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), dims);
        }

        public string[] NodeN(string op, string[] inputs, int outputs, params (string Name, object Value)[] attrs)
        {
            var n = new NodeProto { OpType = op, Name = $"{op.ToLowerInvariant()}{_count++}" };
            n.Input.AddRange(inputs);
            var outs = Enumerable.Range(0, outputs).Select(i => $"{n.Name}_out{i}").ToArray();
            n.Output.AddRange(outs);
            foreach (var (name, value) in attrs)
            {
                var a = new AttributeProto { Name = name };
                switch (value)
                {
                    case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
                    case int i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
                    case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
                    case string s: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
                    case long[] ls: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
                    case TensorProto t: a.Type = AttributeProto.Types.AttributeType.Tensor; a.T = t; break;
                    default: throw new ArgumentException(name);
                }
                n.Attribute.Add(a);
            }
            _g.Node.Add(n);
            return outs;
        }

        public string Node(string op, string[] inputs, params (string Name, object Value)[] attrs) => NodeN(op, inputs, 1, attrs)[0];

        public TensorProto LastInitializer => _g.Initializer[^1];

        /// <summary>The IR version written (default: the lowest the opset allows in current ONNX).</summary>
        public long? IrVersion { get; init; }

        /// <summary>Lists every initializer as a graph input too, as IR-3 exporters did.</summary>
        public bool InitializersAsInputs { get; init; }

        public ModelProto Build(string output)
        {
            var g = _g.Clone();
            g.Output.Add(new ValueInfoProto { Name = output, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
            if (InitializersAsInputs)
                foreach (var t in g.Initializer)
                {
                    var shape = new TensorShapeProto();
                    foreach (var d in t.Dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
                    g.Input.Add(new ValueInfoProto { Name = t.Name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = t.DataType, Shape = shape } } });
                }
            var m = new ModelProto { IrVersion = IrVersion ?? (_opset >= 21 ? 10 : _opset >= 19 ? 9 : 8), Graph = g };
            m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = _opset });
            return m;
        }
    }

    private string Write(ModelProto model, string name)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static float[] Ort(string path, float[] x, long[] shape, out long[] outShape)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(path, options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(x, shape.Select(d => (int)d).ToArray()))]);
        var t = results.Single().AsTensor<float>();
        outShape = t.Dimensions.ToArray().Select(d => (long)d).ToArray();
        return t.ToArray();
    }

    private static float[] Ours(ModelGraph g, float[] x, long[] shape, out long[] outShape)
    {
        using var m = new GraphModule(g);
        m.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var y = m.forward(tensor(x, shape));
        outShape = y.shape;
        return y.contiguous().data<float>().ToArray();
    }

    /// <summary>Loads the file with Secateur and checks its output against ONNX Runtime's at batch 1 and 3.</summary>
    private ModelGraph ShouldMatchOnnxRuntime(ModelProto model, string name)
    {
        var path = Write(model, name);
        var graph = OnnxSerializer.Load(path);
        foreach (var batch in new long[] { 1, 3 })
        {
            var shape = graph.Inputs[0].Concrete(batch);
            var rng = new Random((int)batch);
            var x = Enumerable.Range(0, (int)TensorData.ElementCount(shape)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var expected = Ort(path, x, shape, out var expectedShape);
            var actual = Ours(graph, x, shape, out var actualShape);
            actualShape.ShouldBe(expectedShape, $"{name} at batch {batch}");
            double scale = Math.Max(1e-6, expected.Max(v => Math.Abs(v)));
            (actual.Zip(expected).Max(p => Math.Abs(p.First - p.Second)) / scale).ShouldBeLessThan(1e-5, $"{name} at batch {batch}");
        }
        return graph;
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(18)]
    public void Split_along_channels_becomes_slices_in_every_opset_form(int opset)
    {
        var p = new Proto(opset, 3, 4, 4);
        var conv = p.Node("Conv", ["input", p.Random("w", 9, 6, 3, 1, 1)]);
        var attrs = new List<(string, object)> { ("axis", 1L) };
        var inputs = new List<string> { conv };
        if (opset < 13) attrs.Add(("split", new long[] { 2, 4 }));
        else if (opset < 18) inputs.Add(p.Longs("sizes", 2, 4));
        else attrs.Add(("num_outputs", 2L)); // equal halves: 3 and 3
        var parts = p.NodeN("Split", [.. inputs], 2, [.. attrs]);
        var a = p.Node("Relu", [parts[0]]);
        var b = p.Node("Sigmoid", [parts[1]]);
        var y = p.Node("Concat", [b, a], ("axis", 1L));
        var g = ShouldMatchOnnxRuntime(p.Build(y), $"split{opset}.onnx");
        g.Nodes.Count(n => n.Op == OpKind.Slice).ShouldBe(2);
        // Each part of the split is a group of its own (ChannelLayoutTests proves prunes of such parts exact); here both
        // reach the graph output.
        var groups = DependencyGraph.Build(g).Groups.Where(gr => gr.Producers.Contains("conv0")).ToList();
        (string, long)[] expected = opset < 18 ? [("conv0[0:2]", 2L), ("conv0[2:6]", 4L)] : [("conv0[0:3]", 3L), ("conv0[3:6]", 3L)];
        groups.Select(gr => (gr.Name, gr.Channels)).ShouldBe(expected);
        groups.ShouldAllBe(gr => gr.BlockedReason!.StartsWith("feeds graph output", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(11, 0)]
    [InlineData(13, 1)]
    [InlineData(18, 0)]
    [InlineData(18, 1)]
    public void ReduceMean_over_height_and_width_is_global_pooling_with_axes_attribute_or_input(int opset, long keepdims)
    {
        var p = new Proto(opset, 3, 5, 5);
        var conv = p.Node("Conv", ["input", p.Random("w", 1, 4, 3, 3, 3)]);
        var mean = opset < 18
            ? p.Node("ReduceMean", [conv], ("axes", new long[] { 2, 3 }), ("keepdims", keepdims))
            : p.Node("ReduceMean", [conv, p.Longs("axes", -1, -2)], ("keepdims", keepdims));
        var g = ShouldMatchOnnxRuntime(p.Build(mean), $"reducemean{opset}-{keepdims}.onnx");
        g.Nodes.ShouldContain(n => n.Op == OpKind.GlobalAveragePool);
        g.Nodes.Any(n => n.Op == OpKind.Flatten).ShouldBe(keepdims == 0);
    }

    [Fact]
    public void ReduceMean_over_channels_imports_as_a_ReduceMean_node_and_equals_onnxruntime_while_one_over_the_batch_is_refused()
    {
        // Written-out channels-first LayerNorm (issue 12) averages over axis 1: kept as a ReduceMean, not refused.
        var p = new Proto(13, 3, 5, 5);
        var mean = p.Node("ReduceMean", ["input"], ("axes", new long[] { 1 }));
        var g = ShouldMatchOnnxRuntime(p.Build(mean), "rm.onnx");
        g.Nodes.ShouldHaveSingleItem().Op.ShouldBe(OpKind.ReduceMean);
        g.Nodes[0].Ints("axes").ShouldBe([1L]);

        var q = new Proto(13, 3, 5, 5);
        var batch = q.Node("ReduceMean", ["input"], ("axes", new long[] { 0 }));
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(q.Build(batch), "rm0.onnx")));
        e.Message.ShouldContain("batch axis");
    }

    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    public void Squeeze_and_unsqueeze_of_activations_become_reshapes_that_keep_the_batch_dynamic(int opset)
    {
        var p = new Proto(opset, 3, 4, 4);
        var pooled = p.Node("GlobalAveragePool", ["input"]);
        var squeezed = opset < 13 ? p.Node("Squeeze", [pooled], ("axes", new long[] { 3, 2 })) : p.Node("Squeeze", [pooled, p.Longs("sq", 3, 2)]);
        var fc = p.Node("Gemm", [squeezed, p.Random("fc.w", 2, 5, 3), p.Random("fc.b", 3, 5)], ("transB", 1L));
        var back = opset < 13 ? p.Node("Unsqueeze", [fc], ("axes", new long[] { 2 })) : p.Node("Unsqueeze", [fc, p.Longs("us", 2)]);
        var g = ShouldMatchOnnxRuntime(p.Build(back), $"squeeze{opset}.onnx");
        g.Nodes.Where(n => n.Op == OpKind.Reshape).ShouldAllBe(n => g.Initializers[n.Inputs[1]].Longs[0] == 0);
    }

    [Fact]
    public void Gemm_with_transposed_a_untransposed_b_alpha_and_beta_matches()
    {
        var p = new Proto(13, 2, 3, 3);
        var flat = p.Node("Flatten", ["input"]);
        var t = p.Node("Transpose", [flat], ("perm", new long[] { 1, 0 }));
        var y = p.Node("Gemm", [t, p.Random("b", 4, 18, 7), p.Random("c", 5, 7)], ("transA", 1L), ("alpha", 0.5f), ("beta", 2f));
        ShouldMatchOnnxRuntime(p.Build(y), "gemm.onnx");
    }

    [Theory]
    [InlineData("constant", 11)]
    [InlineData("reflect", 13)]
    [InlineData("edge", 18)]
    public void Pad_modes_and_the_opset_18_axes_input(string mode, int opset)
    {
        var p = new Proto(opset, 2, 5, 5);
        string pad;
        if (opset >= 18) pad = p.Node("Pad", ["input", p.Longs("pads", 1, 2, 2, 0), "", p.Longs("axes", 2, 3)], ("mode", mode));
        else if (mode == "constant") pad = p.Node("Pad", ["input", p.Longs("pads", 0, 0, 1, 2, 0, 0, 2, 0), p.Floats("fill", [0.75f])], ("mode", mode));
        else pad = p.Node("Pad", ["input", p.Longs("pads", 0, 0, 1, 2, 0, 0, 2, 0)], ("mode", mode));
        var conv = p.Node("Conv", [pad, p.Random("w", 6, 3, 2, 3, 3)]);
        var g = ShouldMatchOnnxRuntime(p.Build(conv), $"pad-{mode}.onnx");
        // Padding H and W passes channels through; nothing about it blocks the conv's input channels.
        DependencyGraph.Build(g).Groups.ShouldNotContain(gr => gr.BlockedReason != null && gr.BlockedReason.Contains("Pad"));
    }

    [Fact]
    public void Pad_on_the_channel_axis_blocks_its_group()
    {
        var p = new Proto(13, 2, 4, 4);
        var c1 = p.Node("Conv", ["input", p.Random("w1", 7, 3, 2, 1, 1)]);
        var pad = p.Node("Pad", [c1, p.Longs("pads", 0, 1, 0, 0, 0, 0, 0, 0)]);
        var c2 = p.Node("Conv", [pad, p.Random("w2", 8, 2, 4, 1, 1)]);
        var g = ShouldMatchOnnxRuntime(p.Build(c2), "pad-channels.onnx");
        DependencyGraph.Build(g).Groups.ShouldContain(gr => gr.Producers.Contains("conv0") && gr.BlockedReason!.Contains("pads the batch or channel axis"));
    }

    [Fact]
    public void Transpose_that_moves_channels_takes_them_along_and_one_that_swaps_h_and_w_passes_them()
    {
        var p = new Proto(13, 2, 4, 4);
        var c1 = p.Node("Conv", ["input", p.Random("w1", 7, 3, 2, 1, 1)]);
        var hw = p.Node("Transpose", [c1], ("perm", new long[] { 0, 1, 3, 2 }));
        var c2 = p.Node("Conv", [hw, p.Random("w2", 8, 3, 3, 1, 1)]);
        var nhwc = p.Node("Transpose", [c2], ("perm", new long[] { 0, 2, 3, 1 }));
        var sliced = p.Node("Slice", [nhwc, p.Longs("s", 3), p.Longs("e", long.MinValue), p.Longs("a", 2), p.Longs("st", -1)]);
        var g = ShouldMatchOnnxRuntime(p.Build(sliced), "transpose.onnx");
        var deps = DependencyGraph.Build(g);
        deps.Groups.Single(gr => gr.Producers.Contains("conv0")).Prunable.ShouldBeTrue();
        // Channels moved last are followed to the graph output, which fixes them.
        deps.Groups.Single(gr => gr.Producers.Contains("conv2")).BlockedReason.ShouldBe("feeds graph output 'slice4_out0'");
    }

    [Fact]
    public void Batch_dependent_reshape_that_merges_the_batch_gets_minus_one()
    {
        // x.view(N * C, H * W): the first dimension follows the batch but is not the input's batch dimension.
        var p = new Proto(13, 3, 4, 4);
        var shape = p.Node("Shape", ["input"]);
        var n = p.Node("Gather", [shape, p.Scalar("zero", 0)], ("axis", 0L));
        var c = p.Node("Gather", [shape, p.Scalar("one", 1)], ("axis", 0L));
        var nc = p.Node("Mul", [n, c]);
        var first = p.Node("Unsqueeze", [nc, p.Longs("ax", 0)]);
        var target = p.Node("Concat", [first, p.Longs("hw", 16)], ("axis", 0L));
        var reshaped = p.Node("Reshape", ["input", target]);
        var y = p.Node("Relu", [reshaped]);
        var g = ShouldMatchOnnxRuntime(p.Build(y), "merge.onnx");
        var r = g.Nodes.Single(x => x.Op == OpKind.Reshape);
        g.Initializers[r.Inputs[1]].Longs.ShouldBe([-1L, 16]);
        g.Nodes.Select(x => x.Op).ShouldBe([OpKind.Reshape, OpKind.Relu]);
        g.Initializers.Count.ShouldBe(1); // the shape arithmetic's constants went with it
    }

    [Fact]
    public void Constant_chains_with_range_neg_squeeze_and_constant_of_shape_fold_away()
    {
        var p = new Proto(13, 3, 4, 4);
        TensorProto Int64(long v) => new() { DataType = 7, Dims = { 1 }, Int64Data = { v } };
        var zeros = p.Node("ConstantOfShape", [p.Longs("two", 2)], ("value", Int64(0)));
        var ones = p.Node("ConstantOfShape", ["two"], ("value", Int64(1)));
        var pads = p.Node("Concat", [zeros, ones, zeros, ones], ("axis", 0L)); // [0,0,1,1,0,0,1,1]
        var padded = p.Node("Pad", ["input", pads]);
        var range = p.Node("Range", [p.Scalar("start", 0), p.Scalar("limit", 2), p.Scalar("delta", 1)]); // [0,1]
        var neg = p.Node("Neg", [range]); // [0,-1]
        var up = p.Node("Unsqueeze", [neg, p.Longs("ax", 0)]);
        var target = p.Node("Squeeze", [up, "ax"]);
        var y = p.Node("Reshape", [padded, target]);
        var g = ShouldMatchOnnxRuntime(p.Build(y), "chain.onnx");
        g.Nodes.Select(n => n.Op).ShouldBe([OpKind.Pad, OpKind.Reshape]);
        g.Initializers[g.Nodes[0].Inputs[1]].Longs.ShouldBe([0L, 0, 1, 1, 0, 0, 1, 1]);
        g.Initializers[g.Nodes[1].Inputs[1]].Longs.ShouldBe([0L, -1]);
    }

    [Fact]
    public void View_batch_minus_one_before_a_linear_layer_is_followed_like_flatten()
    {
        // x.view(x.size(0), -1) as torch exports it: Shape → Gather → Unsqueeze → Concat → Reshape.
        var p = new Proto(13, 3, 4, 4);
        var conv = p.Node("Conv", ["input", p.Random("w", 1, 6, 3, 3, 3), p.Random("b", 2, 6)], ("pads", new long[] { 1, 1, 1, 1 }));
        var act = p.Node("Relu", [conv]);
        var n = p.Node("Gather", [p.Node("Shape", [act]), p.Scalar("zero", 0)], ("axis", 0L));
        var target = p.Node("Concat", [p.Node("Unsqueeze", [n, p.Longs("ax", 0)]), p.Longs("rest", -1)], ("axis", 0L));
        var flat = p.Node("Reshape", [act, target]);
        var y = p.Node("Gemm", [flat, p.Random("fc.w", 3, 5, 96), p.Random("fc.b", 4, 5)], ("transB", 1L));
        var g = ShouldMatchOnnxRuntime(p.Build(y), "view.onnx");
        g.Initializers[g.Nodes.Single(x => x.Op == OpKind.Reshape).Inputs[1]].Longs.ShouldBe([0L, -1]);

        var deps = DependencyGraph.Build(g);
        var group = deps.Groups.Single(gr => gr.Producers.Contains("conv0"));
        group.Prunable.ShouldBeTrue();
        group.Slices.ShouldContain(sl => sl.Tensor == "fc.w" && sl.Axis == 1 && sl.Factor == 16);
        var choice = new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [group] = [1L, 4] };
        var x = Enumerable.Range(0, 2 * 48).Select(i => (float)Math.Sin(i)).ToArray();
        var pruned = Ours(StructuredPruner.Prune(deps, choice), x, [2, 3, 4, 4], out _);
        var zeroed = Ours(StructuredPruner.ZeroOut(deps, choice), x, [2, 3, 4, 4], out _);
        pruned.Zip(zeroed).Max(q => Math.Abs(q.First - q.Second)).ShouldBeLessThan(1e-5f);
    }

    [Fact]
    public void Softmax_before_opset_13_is_kept_when_it_means_the_same_and_reported_when_not()
    {
        var p = new Proto(11, 3, 4);
        var flat = p.Node("Flatten", ["input"]);
        var y = p.Node("Softmax", [flat]); // default axis 1 of a 2-D value: the last axis
        var g = ShouldMatchOnnxRuntime(p.Build(y), "softmax11.onnx");
        g.Nodes.Single(n => n.Op == OpKind.Softmax).Int("axis", 0).ShouldBe(-1);

        var q = new Proto(11, 3, 4);
        var z = q.Node("Softmax", ["input"]); // axis 1 of a 3-D value: over 3x4 values at once
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(q.Build(z), "softmax11-3d.onnx")));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'softmax0'");
    }

    [Fact]
    public void Shape_with_the_opset_15_start_attribute_folds()
    {
        var p = new Proto(15, 3, 4, 5);
        var hw = p.Node("Shape", ["input"], ("start", 2L)); // [4, 5]
        var target = p.Node("Concat", [p.Longs("minus", -1), hw], ("axis", 0L));
        var y = p.Node("Reshape", ["input", target]);
        var g = ShouldMatchOnnxRuntime(p.Build(y), "shape15.onnx");
        g.Initializers[g.Nodes.Single().Inputs[1]].Longs.ShouldBe([-1L, 4, 5]);
    }

    [Fact]
    public void Batch_dependent_constant_outside_a_reshape_is_a_clear_error()
    {
        var p = new Proto(13, 3, 4, 4);
        var shape = p.Node("Shape", ["input"]);
        var n = p.Node("Gather", [shape, p.Scalar("zero", 0)], ("axis", 0L));
        var ends = p.Node("Unsqueeze", [n, p.Longs("ax", 0)]);
        var sliced = p.Node("Slice", ["input", p.Longs("starts", 0), ends, p.Longs("axes", 2)]);
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(p.Build(sliced), "batchdep.onnx")));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'slice3'");
        e.Message.ShouldContain("depends on the batch size");
    }

    [Fact]
    public void Unsupported_ops_are_all_listed_while_foldable_ones_are_not()
    {
        var p = new Proto(13, 3, 4, 4);
        var foo = p.Node("Foo", ["input"]);
        var shape = p.Node("Shape", [foo]); // cannot fold: Foo's shape is unknown
        var shape2 = p.Node("Shape", ["input"]); // folds
        var g2 = p.Node("Gather", [shape2, p.Longs("i", 1)]);
        var bar = p.Node("Bar", [foo, shape, g2]);
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(p.Build(bar), "unsupported.onnx")));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("Foo (node 'foo0')");
        e.Message.ShouldContain("Bar (node 'bar4')");
        e.Message.ShouldContain("Shape (node 'shape1')");
        e.Message.ShouldNotContain("'shape2'");
        e.Message.ShouldNotContain("'gather3'");
    }

    [Fact]
    public void Unsupported_ops_are_listed_once_each_with_their_count_and_first_node_on_one_line()
    {
        var p = new Proto(13, 3, 4, 4);
        var x = "input";
        for (int i = 0; i < 30; i++) x = p.Node(i % 6 == 5 ? "Bar" : "Foo", [x]);
        var path = Write(p.Build(x), "many-unsupported.onnx");
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(path));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("Foo ×25 (first: 'foo0'), Bar ×5 (first: 'bar5')");
        e.Message.ShouldNotContain("'foo1'");
        e.Message.ShouldNotContain("\n");
        // One screen line of a terminal, whatever the model's size: the path plus two ops.
        e.Message.Replace(path, "", StringComparison.Ordinal).Length.ShouldBeLessThan(160, e.Message);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(8)]
    public void Old_opset_forms_are_read_and_saved_back_at_a_supported_opset(int opset)
    {
        // IR 3 with initializers listed as graph inputs; BatchNormalization with spatial=1; attribute-form Pad (with a
        // non-zero fill, so a lost value shows) and Slice.
        var p = new Proto(opset, 3, 6, 6) { IrVersion = 3, InitializersAsInputs = true };
        var y = p.Node("Conv", ["input", p.Random("w", 1, 4, 3, 3, 3)]);
        y = p.Node("BatchNormalization", [y, p.Random("scale", 2, 4), p.Random("bias", 3, 4), p.Random("mean", 4, 4),
            p.Floats("var", [0.5f, 1, 1.5f, 2], 4)], ("spatial", 1L), ("epsilon", 1e-5f));
        y = p.Node("Pad", [y], ("pads", new long[] { 0, 0, 1, 2, 0, 0, 2, 1 }), ("value", 0.5f), ("mode", "constant"));
        y = p.Node("Slice", [y], ("starts", new long[] { 1, 0 }), ("ends", new long[] { 6, 5 }), ("axes", new long[] { 2, 3 }));
        var graph = ShouldMatchOnnxRuntime(p.Build(p.Node("Relu", [y])), $"old{opset}.onnx");
        graph.Inputs.Select(i => i.Name).ShouldBe(["input"]);
        // Saved at the default opset, it loads again and means the same (the 11+ forms, bit for bit after a round trip).
        var saved = Path.Combine(_dir.FullName, $"old{opset}-resaved.onnx");
        OnnxSerializer.Save(graph, saved);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(saved));
        model.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version.ShouldBe(OnnxSaveOptions.DefaultOpset);
        model.Graph.Node.Single(n => n.OpType == "Pad").Input.Count.ShouldBe(3);
        model.Graph.Node.Single(n => n.OpType == "Slice").Input.Count.ShouldBe(4);
        OnnxSerializer.ToBytes(OnnxSerializer.Load(saved)).ShouldBe(OnnxSerializer.ToBytes(graph));
    }

    [Fact]
    public void Batch_normalization_with_spatial_0_is_refused_naming_the_node()
    {
        var p = new Proto(7, 2, 2, 2);
        var y = p.Node("BatchNormalization", ["input", p.Random("scale", 2, 2), p.Random("bias", 3, 2), p.Random("mean", 4, 2),
            p.Floats("var", [1f, 1], 2)], ("spatial", 0L));
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(p.Build(y), "spatial0.onnx")));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'batchnormalization0'");
        e.Message.ShouldContain("spatial=0");
    }

    [Theory]
    [InlineData(6)]
    [InlineData(27)]
    public void Opsets_outside_7_to_26_are_rejected_naming_the_opset(int opset)
    {
        var p = new Proto(opset, 3);
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(p.Build(p.Node("Relu", ["input"])), "opset.onnx")));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain($"opset {opset}");
    }

    private static ModelProto ExternalModel(string location, long offset, long? length)
    {
        var p = new Proto(13, 3, 4, 4);
        var y = p.Node("Conv", ["input", p.Floats("w", new float[2 * 3], 2, 3, 1, 1)]);
        var t = p.LastInitializer;
        t.ClearRawData();
        t.DataLocation = TensorProto.Types.DataLocation.External;
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (length is { } l) t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = l.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        return p.Build(y);
    }

    [Fact]
    public void External_data_is_read_relative_to_the_model_file()
    {
        var weights = Enumerable.Range(1, 6).Select(i => i * 0.25f).ToArray();
        var bytes = new byte[16].Concat(weights.SelectMany(BitConverter.GetBytes)).ToArray();
        Directory.CreateDirectory(Path.Combine(_dir.FullName, "data"));
        File.WriteAllBytes(Path.Combine(_dir.FullName, "data", "weights.bin"), bytes);
        var g = ShouldMatchOnnxRuntime(ExternalModel("data/weights.bin", 16, 24), "external.onnx");
        g.Initializers["w"].Floats.ShouldBe(weights);
        // Saved by Secateur, the weights are inside the file.
        var again = OnnxSerializer.FromBytes(OnnxSerializer.ToBytes(g), "mem");
        again.Initializers["w"].Floats.ShouldBe(weights);
    }

    [Fact]
    public void Missing_or_short_external_data_is_bad_file_naming_it()
    {
        var missing = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(ExternalModel("absent.bin", 0, 24), "m1.onnx")));
        missing.Code.ShouldBe(ErrorCode.BadFile);
        missing.Message.ShouldContain("absent.bin");
        missing.Message.ShouldContain("does not exist");

        File.WriteAllBytes(Path.Combine(_dir.FullName, "short.bin"), new byte[20]);
        var shortFile = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(ExternalModel("short.bin", 0, 24), "m2.onnx")));
        shortFile.Code.ShouldBe(ErrorCode.BadFile);
        shortFile.Message.ShouldContain("short.bin");
        shortFile.Message.ShouldContain("holds 20");

        // 40 bytes for a tensor of 2x3 floats (24 bytes) is caught by the size check.
        File.WriteAllBytes(Path.Combine(_dir.FullName, "long.bin"), new byte[40]);
        Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(ExternalModel("long.bin", 0, 40), "m3.onnx")))
            .Code.ShouldBe(ErrorCode.BadFile);

        var escape = Should.Throw<SecateurException>(() => OnnxSerializer.Load(Write(ExternalModel("../x.bin", 0, 24), "m4.onnx")));
        escape.Code.ShouldBe(ErrorCode.BadFile);

        var inMemory = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(ExternalModel("short.bin", 0, 24).ToByteArray(), "mem.onnx"));
        inMemory.Code.ShouldBe(ErrorCode.BadFile);
        inMemory.Message.ShouldContain("loaded from a file");
    }
}
