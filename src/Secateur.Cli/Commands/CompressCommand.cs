using System.CommandLine;
using Secateur.Compression;
using Secateur.Onnx;
using Secateur.Pruning.Unstructured;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur compress</c> and <c>secateur decompress</c>: the compact storage of sparse models.</summary>
public static class CompressCommand
{
    /// <summary>Builds <c>compress</c>.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = ".onnx file (or a zoo model name)" };
        var output = new Option<string?>("--output", "-o") { Description = "where to write the archive (default: <model>.sct)" };
        var int8 = new Option<bool>("--int8") { Description = "store Conv/Gemm non-zeros as int8 with per-row scales (lossy; everything else stays exact)" };
        var level = new Option<int>("--level") { Description = "zstd level 1..22", DefaultValueFactory = _ => 19 };
        var json = CommonOptions.Json();
        var cmd = new Command("compress", "write a sparse model as a compact archive: non-zero positions and values, then zstd") { model, output, int8, level, json };
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(model)!;
            var graph = ModelSource.Load(spec, null, null);
            var options = new ArchiveOptions { Int8 = r.GetValue(int8), Level = r.GetValue(level) }.Validated();
            var path = CommonOptions.NotAnInput(r.GetValue(output) ?? (File.Exists(spec) ? Path.ChangeExtension(spec, null) : spec) + ".sct", spec);
            long dense = OnnxSerializer.ToBytes(graph).LongLength;
            long size = SparseArchive.Save(graph, path, options);
            // The lossless promise is checked on every write, not just in the tests.
            bool? exact = null;
            if (!options.Int8)
            {
                exact = OnnxSerializer.ToBytes(SparseArchive.Load(path)).AsSpan().SequenceEqual(OnnxSerializer.ToBytes(graph));
                if (exact != true) throw new InvalidOperationException($"'{path}' does not load back to the same model");
            }
            var sparsity = SparsityReport.Compute(graph);
            var summary = new { model = graph.Name, output = path, denseOnnxBytes = dense, bytes = size, ratio = dense / (double)size,
                int8 = options.Int8, lossless = !options.Int8, verified = exact, @params = sparsity.Params, nonZeroParams = sparsity.NonZeroParams };
            if (r.GetValue(json)) context.WriteJson(summary);
            else context.Out.WriteLine(FormattableString.Invariant(
                $"{graph.Name}: {dense:N0} bytes as dense ONNX -> {size:N0} bytes ({dense / (double)size:0.0}x smaller), {sparsity.NonZeroParams:N0} of {sparsity.Params:N0} params non-zero, ") +
                (options.Int8 ? "int8 weights (lossy)" : "lossless (verified)") + $"; saved {path}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Builds <c>decompress</c>.</summary>
    public static Command CreateDecompress(CliContext context)
    {
        var archive = new Argument<string>("archive") { Description = ".sct file written by compress" };
        var output = new Option<string?>("--output", "-o") { Description = "where to write the ONNX model (default: <archive>.decompressed.onnx, so that the dense <archive>.onnx survives)" };
        var json = CommonOptions.Json();
        var cmd = new Command("decompress", "turn a compressed model back into a standard ONNX file") { archive, output, json };
        cmd.SetAction(r =>
        {
            var spec = r.GetValue(archive)!;
            var graph = SparseArchive.Load(spec);
            // Not <archive>.onnx: that is usually the dense model the archive was made from, and must survive.
            var path = CommonOptions.NotAnInput(r.GetValue(output) ?? Path.ChangeExtension(spec, ".decompressed.onnx"), spec);
            OnnxSerializer.Save(graph, path);
            var sparsity = SparsityReport.Compute(graph);
            if (r.GetValue(json)) context.WriteJson(new { model = graph.Name, output = path, bytes = new FileInfo(path).Length, @params = sparsity.Params, nonZeroParams = sparsity.NonZeroParams });
            else context.Out.WriteLine(FormattableString.Invariant($"{graph.Name}: {sparsity.NonZeroParams:N0} of {sparsity.Params:N0} params non-zero; saved {path} ({new FileInfo(path).Length:N0} bytes)"));
            return 0;
        });
        return cmd;
    }
}
