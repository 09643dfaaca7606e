using Secateur.Compression;
using Secateur.Graph;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning.Unstructured;

namespace Secateur.Tests.Compression;

public sealed class SparseArchiveTests
{
    private static ModelGraph Sparse(double sparsity, SparsityScope scope = SparsityScope.Layer)
    {
        var g = ModelZoo.Create("lenet5");
        return sparsity == 0 ? g : MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = sparsity, Scope = scope, PruneClassifier = true }).Apply(g);
    }

    [Theory]
    [InlineData(0.0)]   // all dense: positions implied
    [InlineData(0.5)]   // bitmask territory
    [InlineData(0.999)] // a few non-zeros: gaps are smaller
    public void Lossless_archive_loads_back_to_the_identical_model(double sparsity)
    {
        var g = Sparse(sparsity, SparsityScope.Global);
        // Values a "!= 0" test would lose or mangle: −0.0 must come back as −0.0, NaN bit for bit.
        var bias = g.Initializers["fc2.bias"].Floats;
        bias[0] = -0f;
        bias[1] = BitConverter.Int32BitsToSingle(0x7fc00123);
        var bytes = SparseArchive.Compress(g);
        var back = SparseArchive.Decompress(bytes, "test.sct");
        OnnxSerializer.ToBytes(back).ShouldBe(OnnxSerializer.ToBytes(g));
        foreach (var (name, t) in g.Initializers)
        {
            back.Initializers[name].Shape.ShouldBe(t.Shape);
            back.Initializers[name].Floats.Select(BitConverter.SingleToInt32Bits).ShouldBe(t.Floats.Select(BitConverter.SingleToInt32Bits), name);
        }
        back.Initializers.Keys.ShouldBe(g.Initializers.Keys);
        back.Nodes.Count.ShouldBe(g.Nodes.Count);
        for (int i = 0; i < g.Nodes.Count; i++)
        {
            var (a, e) = (back.Nodes[i], g.Nodes[i]);
            (a.Name, a.Op).ShouldBe((e.Name, e.Op));
            a.Inputs.ShouldBe(e.Inputs);
            a.Outputs.ShouldBe(e.Outputs);
            a.Attributes.Keys.ShouldBe(e.Attributes.Keys);
            foreach (var (key, value) in e.Attributes) a.Attributes[key].ShouldBe(value, $"{a.Name}.{key}");
        }
    }

    [Fact]
    [Trait("Category", TestCategories.Slow)]
    public void A_model_with_dropout_keeps_its_exporter_constants_and_round_trips()
    {
        // MobileNetV2 (torchvision layout) has a Dropout, whose ratio the exporter writes as an extra float initializer.
        var g = ModelZoo.Create("mobilenetv2-imagenet", new ZooOptions(3, 32, 32, 10));
        g.Nodes.ShouldContain(n => n.Op == OpKind.Dropout);
        var sparse = MagnitudePruner.Masks(g, new SparsityOptions { Sparsity = 0.7, Scope = SparsityScope.Global }).Apply(g);
        var back = SparseArchive.Decompress(SparseArchive.Compress(sparse, new ArchiveOptions { Level = 3 }), "mnv2.sct");
        OnnxSerializer.ToBytes(back).ShouldBe(OnnxSerializer.ToBytes(sparse));
    }

    [Fact]
    public void Sparser_models_compress_further_and_beat_the_dense_onnx_file()
    {
        long dense = OnnxSerializer.ToBytes(Sparse(0)).LongLength;
        long at50 = SparseArchive.Compress(Sparse(0.5)).LongLength;
        long at90 = SparseArchive.Compress(Sparse(0.9)).LongLength;
        at50.ShouldBeLessThan(dense);
        at90.ShouldBeLessThan(at50);
        // 10% of the float32 values plus their positions: well under a fifth of the dense file.
        (dense / (double)at90).ShouldBeGreaterThan(5);
    }

    [Fact]
    public void Int8_quantizes_only_conv_and_gemm_weights_within_half_a_step()
    {
        var g = Sparse(0.8);
        var int8 = SparseArchive.Compress(g, new ArchiveOptions { Int8 = true });
        int8.Length.ShouldBeLessThan(SparseArchive.Compress(g).Length);
        var back = SparseArchive.Decompress(int8, "int8.sct");
        foreach (var name in new[] { "conv1.weight", "conv2.weight", "fc1.weight", "fc3.weight" })
        {
            var t = g.Initializers[name];
            var q = back.Initializers[name].Floats;
            long perRow = t.Count / t.Shape[0];
            for (int r = 0; r < t.Shape[0]; r++)
            {
                var row = t.Floats.Skip((int)(r * perRow)).Take((int)perRow).ToArray();
                float step = row.Max(Math.Abs) / 127f;
                for (int i = 0; i < row.Length; i++)
                {
                    float v = q[r * perRow + i];
                    Math.Abs(v - row[i]).ShouldBeLessThanOrEqualTo(step / 2 * 1.0001f + 1e-12f, $"{name}[{r},{i}]");
                    if (row[i] == 0) v.ShouldBe(0f);
                }
            }
        }
        back.Initializers["fc1.bias"].Floats.ShouldBe(g.Initializers["fc1.bias"].Floats); // biases stay exact
        back.Initializers["conv2.weight"].Floats.ShouldNotBe(g.Initializers["conv2.weight"].Floats); // and the weights did change
    }

    [Fact]
    public void Corrupt_truncated_foreign_and_future_archives_are_one_clear_bad_file_error()
    {
        var bytes = SparseArchive.Compress(Sparse(0.9));
        void Bad(byte[] b, string expected)
        {
            var e = Should.Throw<SecateurException>(() => SparseArchive.Decompress(b, "m.sct"));
            e.Code.ShouldBe(ErrorCode.BadFile);
            e.Message.ShouldStartWith("'m.sct' ");
            e.Message.ShouldContain(expected);
            e.Message.ShouldNotContain("\n");
        }
        Bad(bytes[..(bytes.Length - 7)], "truncated");
        Bad(bytes[..20], "truncated");
        Bad([], "no SCTZ header");
        Bad(OnnxSerializer.ToBytes(Sparse(0)), "no SCTZ header");
        var future = (byte[])bytes.Clone();
        future[4] = 9;
        Bad(future, "version 9");
        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x5a;
        Bad(flipped, "corrupt");
    }
}
