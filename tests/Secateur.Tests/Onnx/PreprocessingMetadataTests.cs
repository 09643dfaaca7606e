using Google.Protobuf;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Onnx.Proto;
using Secateur.Pruning;
using Secateur.Quantization;
using Secateur.Runtime;

namespace Secateur.Tests.Onnx;

/// <summary>Issue 17: a model's input preprocessing travels with it through ONNX files.</summary>
public sealed class PreprocessingMetadataTests
{
    private static ModelGraph Tiny()
    {
        var b = new GraphBuilder("tiny", 3, 8, 8);
        var x = b.Relu(b.Conv(b.Input, "conv", 4, 3, pad: 1), "relu");
        return b.Build(b.Linear(b.Flatten(b.GlobalAvgPool(x, "gap"), "flat"), "fc", 2));
    }

    [Fact]
    public void It_is_written_to_metadata_props_under_the_documented_key_and_read_back()
    {
        var g = Tiny();
        var p = InputPreprocessing.ImageNet with { Order = ChannelOrder.Bgr, Layout = InputLayout.Nhwc };
        g.Preprocessing = p;

        var bytes = OnnxSerializer.ToBytes(g);

        var proto = ModelProto.Parser.ParseFrom(bytes);
        var entry = proto.MetadataProps.Single(e => e.Key == "secateur.preprocessing");
        entry.Value.ShouldBe("range=0..1;mean=0.485,0.456,0.406;std=0.229,0.224,0.225;order=bgr;color=none;resize=crop:0.875;layout=nhwc");
        OnnxSerializer.FromBytes(bytes, "tiny.onnx").Preprocessing.ShouldBe(p);
    }

    [Fact]
    public void It_survives_a_file_round_trip_and_a_file_without_one_has_none()
    {
        var dir = Directory.CreateTempSubdirectory("secateur-pre-");
        try
        {
            var path = Path.Combine(dir.FullName, "m.onnx");
            var g = Tiny();
            g.Preprocessing = InputPreprocessing.Unit;
            OnnxSerializer.Save(g, path);
            OnnxSerializer.Load(path).Preprocessing.ShouldBe(InputPreprocessing.Unit);

            var none = Tiny();
            OnnxSerializer.Save(none, path);
            var loaded = OnnxSerializer.Load(path);
            loaded.Preprocessing.ShouldBeNull();
            loaded.Metadata.ShouldNotContainKey(InputPreprocessing.MetadataKey);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void A_malformed_record_fails_the_load_naming_the_key()
    {
        var proto = ModelProto.Parser.ParseFrom(OnnxSerializer.ToBytes(Tiny()));
        proto.MetadataProps.Add(new StringStringEntryProto { Key = InputPreprocessing.MetadataKey, Value = "mean=0.5" });

        var e = Should.Throw<SecateurException>(() => OnnxSerializer.FromBytes(proto.ToByteArray(), "bad.onnx"));

        e.Code.ShouldBe(ErrorCode.BadFile);
        e.Message.ShouldContain(InputPreprocessing.MetadataKey);
        e.Message.ShouldContain("as many means as standard deviations");
    }

    [Fact]
    public void Zoo_models_record_the_preset_they_are_built_for_and_none_otherwise()
    {
        ModelZoo.Create("lenet5").Preprocessing.ShouldBeNull();
        var g = ModelZoo.Create("lenet5", new ZooOptions(1, 28, 28, 10) { Preprocessing = InputPreprocessing.FashionMnist });
        g.Preprocessing.ShouldBe(InputPreprocessing.FashionMnist);
        OnnxSerializer.FromBytes(OnnxSerializer.ToBytes(g), "lenet5.onnx").Preprocessing.ShouldBe(InputPreprocessing.FashionMnist);
    }

    [Fact]
    public void It_travels_through_every_step_that_rewrites_a_graph()
    {
        // The failure was a pruned, fine-tuned file that silently expected other inputs: each rewriting
        // step must hand the description on (they copy the metadata it lives in).
        var g = ModelZoo.Create("resnet20");
        var p = InputPreprocessing.Unit with { Order = ChannelOrder.Bgr };
        g.Preprocessing = p;

        var deps = DependencyGraph.Build(g);
        var pruned = StructuredPruner.Prune(deps, new Dictionary<PruningGroup, IReadOnlyCollection<long>> { [deps.Prunable.First()] = [0] });
        pruned.ParameterCount().ShouldBeLessThan(g.ParameterCount());
        pruned.Preprocessing.ShouldBe(p);

        using (var module = new GraphModule(pruned)) module.ToGraph().Preprocessing.ShouldBe(p);
        GraphPreparation.FoldBatchNorms(pruned).Preprocessing.ShouldBe(p);
        OnnxSerializer.FromBytes(OnnxSerializer.ToBytes(pruned), "pruned.onnx").Preprocessing.ShouldBe(p);
    }
}
