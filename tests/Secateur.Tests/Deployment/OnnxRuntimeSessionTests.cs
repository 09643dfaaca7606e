using Secateur.Deployment;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Runtime;
using static TorchSharp.torch;

namespace Secateur.Tests.Deployment;

public sealed class OnnxRuntimeSessionTests
{
    [Theory]
    [InlineData("lenet5")]
    [InlineData("resnet20")]
    [InlineData("mobilenetv2")]
    public void Ort_matches_the_torch_runtime_on_an_exported_zoo_model(string name)
    {
        var graph = ModelZoo.Create(name);
        using var session = OnnxRuntimeSession.FromGraph(graph, new SessionSettings(Threads: 2));
        var shape = session.InputShape(3);
        shape.ShouldBe([3, 1, 28, 28]);
        var random = new Random(7);
        var input = Enumerable.Range(0, (int)TensorData.ElementCount(shape)).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        var (ortOut, ortShape) = session.Run(input, shape);

        using var scope = NewDisposeScope();
        using var module = new GraphModule(graph);
        module.eval();
        float[] expected;
        using (no_grad()) expected = module.forward(tensor(input, shape)).data<float>().ToArray();
        ortShape.ShouldBe([3, 10]);
        ortOut.Length.ShouldBe(expected.Length);
        for (int i = 0; i < expected.Length; i++)
            Math.Abs(ortOut[i] - expected[i]).ShouldBeLessThan(1e-4f, $"output {i}");
    }

    [Fact]
    public void A_saved_file_opens_and_reports_its_input()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-ort");
        try
        {
            var path = Path.Combine(dir.FullName, "lenet.onnx");
            OnnxSerializer.Save(ModelZoo.Create("lenet5"), path);
            using var session = OnnxRuntimeSession.FromFile(path, new SessionSettings(1));
            session.InputDims.Count.ShouldBe(4);
            session.InputDims[0].IsSymbolic.ShouldBeTrue();
            session.ShapeText.ShouldBe("Nx1x28x28");
            session.InputShape(64).ShouldBe([64, 1, 28, 28]);
            // A sample shape must agree with the fixed dimensions.
            Should.Throw<SecateurException>(() => session.InputShape(1, [3, 28, 28])).Code.ShouldBe(ErrorCode.BadArgument);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Symbolic_dimensions_besides_the_batch_ask_for_an_input_shape()
    {
        var graph = ModelZoo.Create("resnet20");
        graph.Inputs[0] = graph.Inputs[0] with { Dims = [Dim.Symbolic("N"), new Dim(1), Dim.Symbolic("H"), Dim.Symbolic("W")] };
        using var session = OnnxRuntimeSession.FromGraph(graph, new SessionSettings(1));
        var e = Should.Throw<SecateurException>(() => session.InputShape(1));
        e.Code.ShouldBe(ErrorCode.BadArgument);
        e.Message.ShouldContain("input shape");
        e.Parameter.ShouldBe(ParameterNames.InputShape);
        session.InputShape(2, [1, 32, 32]).ShouldBe([2, 1, 32, 32]);
        var (output, shape) = session.Run(new float[2 * 32 * 32], [2, 1, 32, 32]);
        shape.ShouldBe([2, 10]);
        output.Length.ShouldBe(20);
    }

    [Fact]
    public void Garbage_bytes_are_a_bad_file_not_a_crash()
    {
        var e = Should.Throw<SecateurException>(() => OnnxRuntimeSession.FromBytes([1, 2, 3, 4, 5], "junk.onnx"));
        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldStartWith("'junk.onnx'");
        e.Message.ShouldNotContain("\n");
    }
}
