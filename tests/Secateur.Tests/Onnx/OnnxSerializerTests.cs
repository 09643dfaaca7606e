using Google.Protobuf;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Onnx.Proto;

namespace Secateur.Tests.Onnx;

public sealed class OnnxSerializerTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("secateur-onnx-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathFor(string name) => Path.Combine(_dir.FullName, name);

    /// <summary>A small residual net touching every attribute kind, depthwise conv, Clip, Concat, Dropout and an int64 initializer.</summary>
    private static ModelGraph SampleNet()
    {
        var b = new GraphBuilder("mini-res", 3, 16, 16, seed: 7);
        var x = b.Conv(b.Input, "stem", 8, 3, pad: 1, bias: true);
        x = b.BatchNorm(x, "stem_bn");
        x = b.Relu6(x, "stem_act");
        var dw = b.Conv(x, "dw", 8, 3, pad: 1, groups: 8);
        dw = b.BatchNorm(dw, "dw_bn", epsilon: 1e-3f, momentum: 0.99f);
        dw = b.Relu(dw, "dw_act");
        var pw = b.Conv(dw, "pw", 8, 1);
        var res = b.AddValues(x, pw, "residual");
        var cat = b.Add("cat", OpKind.Concat, [res, x], ("axis", AttributeValue.Of(1L)));
        var p = b.MaxPool(cat, 2, 2, name: "pool");
        p = b.AvgPool(p, 2, 2, name: "avg");
        var g = b.GlobalAvgPool(p, "gap");
        var shape = b.Initializer("head.shape", TensorData.FromLongs([0, -1], 2));
        var r = b.Add("head.reshape", OpKind.Reshape, [g, shape]);
        var f = b.Flatten(r, "flat");
        var d = b.Dropout(f, 0.2f, "drop");
        var y = b.Linear(d, "fc", 10);
        var graph = b.Build(y);
        graph.Metadata["classes"] = "zero,one,two,three,four,five,six,seven,eight,nine";
        graph.Metadata["mean"] = "0.5,0.5,0.5";
        return graph;
    }

    private static void ShouldEqual(ModelGraph actual, ModelGraph expected)
    {
        actual.Name.ShouldBe(expected.Name);
        actual.Nodes.Select(n => n.Name).ShouldBe(expected.Nodes.Select(n => n.Name));
        for (int i = 0; i < expected.Nodes.Count; i++)
        {
            var (a, e) = (actual.Nodes[i], expected.Nodes[i]);
            a.Op.ShouldBe(e.Op, a.Name);
            a.Inputs.ShouldBe(e.Inputs, a.Name);
            a.Outputs.ShouldBe(e.Outputs, a.Name);
            a.Attributes.Keys.ShouldBe(e.Attributes.Keys, a.Name);
            foreach (var (key, value) in e.Attributes) a.Attributes[key].ShouldBe(value, $"{a.Name}.{key}");
        }
        actual.Initializers.Keys.ShouldBe(expected.Initializers.Keys);
        foreach (var (name, e) in expected.Initializers)
        {
            var a = actual.Initializers[name];
            a.Type.ShouldBe(e.Type, name);
            a.Shape.ShouldBe(e.Shape, name);
            a.Floats.Select(BitConverter.SingleToInt32Bits).ShouldBe(e.Floats.Select(BitConverter.SingleToInt32Bits), name);
            a.Longs.ShouldBe(e.Longs, name);
        }
        ShouldEqual(actual.Inputs, expected.Inputs);
        ShouldEqual(actual.Outputs, expected.Outputs);
        actual.Metadata.ShouldBe(expected.Metadata);
    }

    private static void ShouldEqual(List<ValueInfo> actual, List<ValueInfo> expected)
    {
        actual.Count.ShouldBe(expected.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            actual[i].Name.ShouldBe(expected[i].Name);
            actual[i].Type.ShouldBe(expected[i].Type);
            actual[i].Dims.ShouldBe(expected[i].Dims, actual[i].Name);
        }
    }

    [Fact]
    public void SaveThenLoad_GivesAnEqualGraph()
    {
        var graph = SampleNet();
        var path = PathFor("net.onnx");
        OnnxSerializer.Save(graph, path);
        ShouldEqual(OnnxSerializer.Load(path), graph);
    }

    [Fact]
    public void SaveLoadSave_IsByteIdentical()
    {
        var path = PathFor("a.onnx");
        var again = PathFor("b.onnx");
        OnnxSerializer.Save(SampleNet(), path);
        OnnxSerializer.Save(OnnxSerializer.Load(path), again);
        File.ReadAllBytes(again).ShouldBe(File.ReadAllBytes(path));
        OnnxSerializer.ToBytes(SampleNet()).ShouldBe(File.ReadAllBytes(path));
    }

    [Fact]
    public void Save_WritesModelHeaderAndKeepsInitializersOutOfInputs()
    {
        var graph = SampleNet();
        var model = ModelProto.Parser.ParseFrom(OnnxSerializer.ToBytes(graph));
        model.IrVersion.ShouldBe(8);
        model.OpsetImport.Single().Domain.ShouldBe("");
        model.OpsetImport.Single().Version.ShouldBe(17);
        model.ProducerName.ShouldBe("Secateur");
        model.ProducerVersion.ShouldNotContain("+");
        model.Graph.Name.ShouldBe("mini-res");
        model.Graph.Input.Select(i => i.Name).ShouldBe(["input"]);
        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        dims[0].DimParam.ShouldBe("N");
        dims.Skip(1).Select(d => d.DimValue).ShouldBe([3L, 16, 16]);
        model.MetadataProps.Select(p => p.Key).ShouldBe(["classes", "mean"]);
        var w = model.Graph.Initializer.Single(t => t.Name == "stem.weight");
        w.DataType.ShouldBe(1);
        w.Dims.ShouldBe([8L, 3, 3, 3]);
        w.RawData.Length.ShouldBe(8 * 3 * 3 * 3 * 4);
        model.Graph.Initializer.Single(t => t.Name == "head.shape").DataType.ShouldBe(7);
    }

    [Fact]
    public void Opset17_WritesDropoutRatioAsConstantInput_AndLoadRestoresTheAttribute()
    {
        var model = ModelProto.Parser.ParseFrom(OnnxSerializer.ToBytes(SampleNet()));
        var drop = model.Graph.Node.Single(n => n.OpType == "Dropout");
        drop.Attribute.ShouldBeEmpty();
        drop.Input.ShouldBe(["flat", "drop.ratio"]);
        var ratio = model.Graph.Initializer.Single(t => t.Name == "drop.ratio");
        ratio.Dims.ShouldBeEmpty();
        BitConverter.ToSingle(ratio.RawData.ToByteArray()).ShouldBe(0.2f);

        var loaded = OnnxSerializer.FromBytes(model.ToByteArray(), "mem");
        loaded.IsInitializer("drop.ratio").ShouldBeFalse();
        var node = loaded.FindNode("drop")!;
        node.Inputs.ShouldBe(["flat"]);
        node.Float("ratio", -1).ShouldBe(0.2f);
    }

    [Fact]
    public void Opset11_KeepsDropoutRatioAsAttribute()
    {
        var graph = SampleNet();
        var bytes = OnnxSerializer.ToBytes(graph, new OnnxSaveOptions { Opset = 11 });
        var model = ModelProto.Parser.ParseFrom(bytes);
        model.OpsetImport.Single().Version.ShouldBe(11);
        var drop = model.Graph.Node.Single(n => n.OpType == "Dropout");
        drop.Input.ShouldBe(["flat"]);
        drop.Attribute.Single().Name.ShouldBe("ratio");
        ShouldEqual(OnnxSerializer.FromBytes(bytes, "mem"), graph);
    }

    [Fact]
    public void Save_RejectsOpsetsItCannotWrite()
    {
        Should.Throw<SecateurException>(() => OnnxSerializer.ToBytes(SampleNet(), new OnnxSaveOptions { Opset = 10 }))
            .Code.ShouldBe(ErrorCode.BadArgument);
        var b = new GraphBuilder("hs", 3, 4, 4);
        var graph = b.Build(b.Add("hs", OpKind.HardSwish, [b.Input]), "hs");
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.ToBytes(graph, new OnnxSaveOptions { Opset = 13 }));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("'hs'");
    }

    [Fact]
    public void SymbolicAndUnknownDims_RoundTrip()
    {
        var b = new GraphBuilder("dims", 3, 8, 8);
        var graph = b.Build(b.Relu(b.Input, "r"), "r");
        graph.Inputs[0] = new ValueInfo("input", ElementType.Float, [Dim.Symbolic("batch"), new Dim(3), new Dim(-1), Dim.Symbolic("W")]);
        graph.Outputs[0] = new ValueInfo("r", ElementType.Float, [Dim.Symbolic("batch"), new Dim(3), new Dim(-1), Dim.Symbolic("W")]);
        var path = PathFor("dims.onnx");
        OnnxSerializer.Save(graph, path);
        ShouldEqual(OnnxSerializer.Load(path), graph);
    }

    [Fact]
    public void Save_OverwritesAtomically_LeavingNoTemporaryFiles()
    {
        var path = PathFor("model.onnx");
        File.WriteAllText(path, "old contents");
        OnnxSerializer.Save(SampleNet(), path);
        OnnxSerializer.Load(path).Nodes.Count.ShouldBe(SampleNet().Nodes.Count);
        _dir.GetFiles().Select(f => f.Name).ShouldBe(["model.onnx"]);
    }

    [Fact]
    public void Save_ToMissingDirectory_IsBadFile()
    {
        var path = Path.Combine(_dir.FullName, "no", "such", "dir", "m.onnx");
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Save(SampleNet(), path));
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain(path);
    }

    [Fact]
    public void Load_MissingFile_IsBadFileNamingIt()
    {
        var path = PathFor("absent.onnx");
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(path));
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain(path);
    }

    [Theory]
    [InlineData("this is certainly not an ONNX model, just some text\n")]
    [InlineData("\u00ff\u00fe\u0001\u0002garbage\u0000\u0007")]
    public void Load_Garbage_IsBadFileNamingIt(string contents)
    {
        var path = PathFor("garbage.onnx");
        File.WriteAllText(path, contents);
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(path));
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain(path);
    }

    [Fact]
    public void Load_EmptyFile_IsBadFile()
    {
        var path = PathFor("empty.onnx");
        File.WriteAllBytes(path, []);
        Should.Throw<SecateurException>(() => OnnxSerializer.Load(path)).Code.ShouldBe(ErrorCode.BadFile);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.01)]
    public void Load_TruncatedFile_IsBadFile(double fraction)
    {
        var bytes = OnnxSerializer.ToBytes(SampleNet());
        var path = PathFor("truncated.onnx");
        File.WriteAllBytes(path, bytes[..Math.Max(1, (int)(bytes.Length * fraction))]);
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.Load(path));
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain(path);
    }

    private static ModelProto MinimalModel(params NodeProto[] nodes)
    {
        var g = new GraphProto { Name = "hand" };
        g.Node.AddRange(nodes);
        g.Input.Add(TensorInfo("x", 1, 4));
        g.Output.Add(TensorInfo(nodes[^1].Output[0], 1, 4));
        var m = new ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return m;
    }

    private static ValueInfoProto TensorInfo(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private static NodeProto NodeOf(string op, string name, string[] inputs, string output, string domain = "")
    {
        var n = new NodeProto { OpType = op, Name = name };
        if (domain.Length > 0) n.Domain = domain;
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    [Fact]
    public void Load_ReportsEveryUnsupportedOpAtOnce()
    {
        var model = MinimalModel(
            NodeOf("Foo", "first_foo", ["x"], "a"),
            NodeOf("Relu", "ok", ["a"], "b"),
            NodeOf("Bar", "the_bar", ["b"], "c"),
            NodeOf("Foo", "second_foo", ["c"], "d"));
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(model.ToByteArray(), "hand.onnx"));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("hand.onnx");
        e.Message.ShouldContain("Foo");
        e.Message.ShouldContain("Bar");
        // Each op once, with its count and first node (issue 12: the full node list made a wall of text).
        e.Message.ShouldContain("Foo ×2 (first: 'first_foo')");
        e.Message.ShouldNotContain("'second_foo'");
        e.Message.ShouldContain("Bar (node 'the_bar')");
        e.Message.ShouldNotContain("'ok'");
    }

    [Fact]
    public void Load_RejectsForeignDomainsAndGraphAttributes_NamingNodeAndAttribute()
    {
        var custom = NodeOf("Relu", "custom_relu", ["x"], "a", domain: "com.example");
        var withGraph = NodeOf("Relu", "relu_with_graph", ["a"], "b");
        withGraph.Attribute.Add(new AttributeProto { Name = "body", Type = AttributeProto.Types.AttributeType.Graph, G = new GraphProto() });
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(MinimalModel(custom, withGraph).ToByteArray(), "m.onnx"));
        e.Code.ShouldBe(ErrorCode.UnsupportedOp);
        e.Message.ShouldContain("com.example.Relu");
        e.Message.ShouldContain("'custom_relu'");
        e.Message.ShouldContain("'relu_with_graph'");
        e.Message.ShouldContain("'body'");
        e.Message.ShouldContain("GRAPH");
    }

    [Fact]
    public void Load_WithoutGraph_IsBadFile()
    {
        var m = new ModelProto { IrVersion = 8 };
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(m.ToByteArray(), "nograph.onnx"));
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain("nograph.onnx");
    }

    [Fact]
    public void Load_InvalidGraph_NamesTheNode()
    {
        var model = MinimalModel(NodeOf("Relu", "r1", ["x"], "a"), NodeOf("Add", "bad_add", ["a", "nowhere"], "b"));
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(model.ToByteArray(), "inv.onnx"));
        e.Code.ShouldBe(ErrorCode.InvalidGraph);
        e.Message.ShouldContain("'bad_add'");
        e.Message.ShouldContain("inv.onnx");
    }

    [Fact]
    public void Load_SortsNodesThatAreNotInTopologicalOrder()
    {
        var graph = SampleNet();
        var model = ModelProto.Parser.ParseFrom(OnnxSerializer.ToBytes(graph));
        var reversed = model.Graph.Node.Reverse().ToList();
        model.Graph.Node.Clear();
        model.Graph.Node.AddRange(reversed);
        var loaded = OnnxSerializer.FromBytes(model.ToByteArray(), "shuffled.onnx");
        loaded.Nodes.Select(n => n.Name).Order(StringComparer.Ordinal).ShouldBe(graph.Nodes.Select(n => n.Name).Order(StringComparer.Ordinal));
        // This graph has a single valid order apart from the two independent branches; either way it validated.
        loaded.Nodes[0].Name.ShouldBe("stem");
        loaded.Nodes[^1].Name.ShouldBe("logits");
    }

    [Fact]
    public void Load_NodeCycle_IsInvalidGraph()
    {
        var model = MinimalModel(NodeOf("Add", "p", ["x", "b"], "a"), NodeOf("Relu", "q", ["a"], "b"));
        var e = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(model.ToByteArray(), "cycle.onnx"));
        e.Code.ShouldBe(ErrorCode.InvalidGraph);
        e.Message.ShouldContain("'p'");
        e.Message.ShouldContain("'q'");
    }

    [Fact]
    public void Load_ConvertsConstantsDoublesInt32sAndTypedDataFields()
    {
        // value: a DOUBLE tensor in double_data; value_ints; an INT32 initializer in raw_data listed as an input (IR 3 style).
        var constant = new NodeProto { OpType = "Constant", Name = "c", Output = { "offset" } };
        constant.Attribute.Add(new AttributeProto
        {
            Name = "value",
            Type = AttributeProto.Types.AttributeType.Tensor,
            T = new TensorProto { DataType = 11, Dims = { 4 }, DoubleData = { 1, 2, 3, 4.5 } },
        });
        var shapeConst = new NodeProto { OpType = "Constant", Name = "s", Output = { "shape" } };
        shapeConst.Attribute.Add(new AttributeProto { Name = "value_ints", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 4 } });
        var add = NodeOf("Add", "add", ["x", "offset"], "y");
        var mul = NodeOf("Mul", "mul", ["y", "scale"], "z");
        var reshape = NodeOf("Reshape", "reshape", ["z", "shape"], "out");
        var model = MinimalModel(constant, shapeConst, add, mul, reshape);
        model.Graph.Output[0] = TensorInfo("out", 1, 4);
        model.Graph.Initializer.Add(new TensorProto
        {
            Name = "scale", DataType = 6, Dims = { 1 },
            RawData = ByteString.CopyFrom(BitConverter.GetBytes(-3)),
        });
        model.Graph.Input.Add(TensorInfo("scale", 1));

        var g = OnnxSerializer.FromBytes(model.ToByteArray(), "consts.onnx");
        g.Inputs.Select(i => i.Name).ShouldBe(["x"]);
        g.Nodes.Select(n => n.Name).ShouldBe(["add", "mul", "reshape"]);
        g.Initializers["offset"].Type.ShouldBe(ElementType.Float);
        g.Initializers["offset"].Floats.ShouldBe([1f, 2f, 3f, 4.5f]);
        g.Initializers["scale"].Type.ShouldBe(ElementType.Int64);
        g.Initializers["scale"].Longs.ShouldBe([-3L]);
        g.Initializers["shape"].Longs.ShouldBe([1L, 4]);
        g.Initializers["shape"].Shape.ShouldBe([2L]);
    }

    [Fact]
    public void Load_DropoutWithFalseTrainingMode_DropsIt()
    {
        var drop = NodeOf("Dropout", "d", ["x", "r", "t"], "y");
        var model = MinimalModel(drop);
        model.Graph.Initializer.Add(new TensorProto { Name = "r", DataType = 1, FloatData = { 0.3f } });
        model.Graph.Initializer.Add(new TensorProto { Name = "t", DataType = 9, RawData = ByteString.CopyFrom(0) });
        var g = OnnxSerializer.FromBytes(model.ToByteArray(), "drop.onnx");
        g.Initializers.Count.ShouldBe(0);
        g.Nodes.Single().Inputs.ShouldBe(["x"]);
        g.Nodes.Single().Float("ratio", -1).ShouldBe(0.3f);
    }

    [Fact]
    public void Load_UnnamedNodes_GetNames()
    {
        var model = MinimalModel(NodeOf("Relu", "", ["x"], "a"), NodeOf("Relu", "", ["a"], "b"));
        var g = OnnxSerializer.FromBytes(model.ToByteArray(), "unnamed.onnx");
        g.Nodes.Select(n => n.Name).ShouldBe(["Relu_0", "Relu_1"]);
    }

    [SkippableFact]
    [Trait("Category", TestCategories.Slow)]
    public void OnnxChecker_AcceptsSavedModels()
    {
        Skip.IfNot(PythonOnnxAvailable(), "/usr/bin/python3 with the onnx package (Debian python3-onnx) is not available");
        foreach (var opset in new[] { 11, 13, 17 })
        {
            var path = PathFor($"checked-{opset}.onnx");
            OnnxSerializer.Save(SampleNet(), path, new OnnxSaveOptions { Opset = opset });
            var (code, output) = Python.Run(
                "import sys, onnx\n" +
                "m = onnx.load(sys.argv[1])\n" +
                "onnx.checker.check_model(m, full_check=True)\n" +
                "print('ok', m.opset_import[0].version)\n",
                path);
            code.ShouldBe(0, output);
            output.ShouldContain($"ok {opset}");
        }
    }

    private static bool PythonOnnxAvailable() =>
        File.Exists("/usr/bin/python3") && Python.Run("import onnx").Code == 0;

}
