using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Graph;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Onnx;

/// <summary>
/// Upsample (opsets 7–9) is imported as the Resize it is. The importer's opset range is widened elsewhere (issue 12),
/// so the mapping is checked on the same graph declared at opset 11, against ONNX Runtime running it at opset 9.
/// </summary>
public sealed class UpsampleImportTests
{
    private static ModelProto Model(int opset, string mode, bool scalesAsInput)
    {
        var g = new GraphProto { Name = "up" };
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (var d in new long[] { 2, 3, 5 }) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        g.Input.Add(new ValueInfoProto { Name = "input", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } });
        g.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        var scales = new float[] { 1f, 1f, 2f, 3f };
        var node = new NodeProto { Name = "upsample", OpType = "Upsample", Input = { "input" }, Output = { "y" } };
        node.Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(mode) });
        if (scalesAsInput)
        {
            var t = new TensorProto { Name = "scales", DataType = 1, Dims = { 4 }, RawData = ByteString.CopyFrom(scales.SelectMany(BitConverter.GetBytes).ToArray()) };
            g.Initializer.Add(t);
            node.Input.Add("scales");
        }
        else node.Attribute.Add(new AttributeProto { Name = "scales", Type = AttributeProto.Types.AttributeType.Floats, Floats = { scales } });
        g.Node.Add(node);
        var m = new ModelProto { IrVersion = 7, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    [Theory]
    [InlineData("nearest", true)]
    [InlineData("linear", true)]
    [InlineData("nearest", false)]
    [InlineData("linear", false)]
    public void Upsample_imports_as_resize_and_equals_onnxruntime_running_upsample(string mode, bool scalesAsInput)
    {
        var g = OnnxSerializer.FromBytes(Model(11, mode, scalesAsInput).ToByteArray(), "up.onnx");
        var resize = g.Nodes.Single();
        resize.Op.ShouldBe(OpKind.Resize);
        resize.String("coordinate_transformation_mode", "").ShouldBe("asymmetric");

        var shape = new long[] { 2, 2, 3, 5 };
        var rng = new Random(3);
        var x = Enumerable.Range(0, (int)TensorData.ElementCount(shape)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] ours;
        using (var m = new GraphModule(g))
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var y = m.forward(tensor(x, shape));
            y.shape.ShouldBe([2L, 2L, 6L, 15L]);
            ours = y.contiguous().data<float>().ToArray();
        }
        // Opset 9 takes scales as an input, opsets 7-8 as an attribute.
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(Model(scalesAsInput ? 9 : 8, mode, scalesAsInput).ToByteArray(), options);
        using var r = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(x, shape.Select(d => (int)d).ToArray()))]);
        var ort = r.Single().AsTensor<float>().ToArray();
        ort.Length.ShouldBe(ours.Length);
        ours.Zip(ort).Max(p => Math.Abs(p.First - p.Second)).ShouldBeLessThan(1e-4f);
    }
}
