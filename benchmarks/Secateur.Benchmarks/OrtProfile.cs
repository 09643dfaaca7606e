using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

// ort-profile FILE.onnx BATCH THREADS RUNS OUT_PREFIX
//   Opens FILE with the session settings Secateur's latency measurement uses (CPU, all graph optimisations, one
//   inter-op thread, sequential), writes ORT's optimised graph (OUT_PREFIX.optimized.onnx, deleted after reading),
//   runs RUNS timed inferences at BATCH with ORT's per-node profiler on, and writes OUT_PREFIX.txt: the optimised
//   graph's op counts (by domain and op type), every Conv-like node's channels and group, and the profiler's kernel
//   time per op type and for the slowest nodes (the warm-up run excluded). The JSON profile is deleted.
static class OrtProfile
{
    public static int Run(string file, int batch, int threads, int runs, string outPrefix)
    {
        var optimized = Path.GetFullPath(outPrefix + ".optimized.onnx");
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            OptimizedModelFilePath = optimized,
            EnableProfiling = true,
            ProfileOutputPathPrefix = Path.GetFullPath(outPrefix + ".profile"),
        };
        options.AddSessionConfigEntry("session.force_spinning_stop", "1");
        string profile;
        double meanMs;
        using (var session = new InferenceSession(file, options))
        {
            var name = session.InputNames[0];
            var dims = session.InputMetadata[name].Dimensions.Select((d, i) => i == 0 ? batch : d).Select(d => (long)d).ToArray();
            var data = new float[dims.Aggregate(1L, (a, b) => a * b)];
            var rng = new Random(0);
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            using var value = OrtValue.CreateTensorValueFromMemory(data, dims);
            using var ro = new RunOptions();
            for (int i = 0; i < 3; i++) { using var _ = session.Run(ro, [name], [value], session.OutputNames); }
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < runs; i++) { using var _ = session.Run(ro, [name], [value], session.OutputNames); }
            meanMs = sw.Elapsed.TotalMilliseconds / runs;
            profile = session.EndProfiling();
        }
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# ort-profile {Path.GetFileName(file)} batch {batch} threads {threads} runs {runs} (ORT {OrtEnv.Instance().GetVersionString()}, load {File.ReadAllText("/proc/loadavg").Trim()})");
        text.AppendLine(CultureInfo.InvariantCulture, $"mean wall time per run with the profiler on: {meanMs:0.000} ms");
        text.AppendLine();
        Graph(optimized, text);
        Profile(profile, runs, text);
        File.Delete(profile);
        File.Delete(optimized);
        File.WriteAllText(outPrefix + ".txt", text.ToString());
        Console.Write(text);
        return 0;
    }

    private static void Graph(string path, StringBuilder text)
    {
        var model = Secateur.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var g = model.Graph;
        var dims = g.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        text.AppendLine(CultureInfo.InvariantCulture, $"## optimised graph: {g.Node.Count} nodes");
        foreach (var group in g.Node.GroupBy(n => (string.IsNullOrEmpty(n.Domain) ? "ai.onnx" : n.Domain) + ":" + n.OpType).OrderByDescending(x => x.Count()))
            text.AppendLine(CultureInfo.InvariantCulture, $"  {group.Count(),4}  {group.Key}");
        text.AppendLine();
        text.AppendLine("## conv-like nodes (op, name, weight dims Cout x Cin/group x kh x kw, group, extra attributes)");
        foreach (var n in g.Node.Where(n => n.OpType.Contains("Conv", StringComparison.Ordinal)))
        {
            // Conv: W is input 1; QLinearConv: input 3 (x, x_scale, x_zp, w, ...).
            int wi = n.OpType.StartsWith("QLinear", StringComparison.Ordinal) ? 3 : 1;
            var w = n.Input.Count > wi && dims.TryGetValue(n.Input[wi], out var d) ? string.Join('x', d) : "?";
            var attrs = string.Join(' ', n.Attribute.Where(a => a.Name is "group" or "channels_last" or "activation" or "kernel_shape")
                .Select(a => a.Name + "=" + (a.Type == Secateur.Onnx.Proto.AttributeProto.Types.AttributeType.Ints ? string.Join(',', a.Ints) : a.Type == Secateur.Onnx.Proto.AttributeProto.Types.AttributeType.String ? a.S.ToStringUtf8() : a.I.ToString(CultureInfo.InvariantCulture))));
            text.AppendLine(CultureInfo.InvariantCulture, $"  {(string.IsNullOrEmpty(n.Domain) ? "" : n.Domain + ":")}{n.OpType}  {n.Name}  W={w}  {attrs}");
        }
        text.AppendLine();
    }

    private static void Profile(string path, int runs, StringBuilder text)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var nodes = new List<(string Name, string Op, double Us)>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            var name = e.GetProperty("name").GetString() ?? "";
            if (!name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            var op = e.TryGetProperty("args", out var a) && a.TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
            nodes.Add((name[..^"_kernel_time".Length], op, e.GetProperty("dur").GetDouble()));
        }
        // The profile holds the 3 warm-up runs too (the first includes one-off costs): keep the last `runs` per node.
        var perNode = nodes.GroupBy(n => n.Name).Select(g => (Name: g.Key, g.First().Op, Us: g.TakeLast(runs).Average(x => x.Us))).ToList();
        double total = perNode.Sum(n => n.Us);
        text.AppendLine(CultureInfo.InvariantCulture, $"## kernel time per run: {total / 1000:0.000} ms over {perNode.Count} nodes (mean of the last {runs} runs)");
        text.AppendLine("  op type                          nodes   ms/run   share");
        foreach (var g in perNode.GroupBy(n => n.Op).Select(g => (Op: g.Key, Count: g.Count(), Us: g.Sum(x => x.Us))).OrderByDescending(g => g.Us))
            text.AppendLine(CultureInfo.InvariantCulture, $"  {g.Op,-32} {g.Count,5} {g.Us / 1000,8:0.000} {100 * g.Us / total,6:0.0}%");
        text.AppendLine();
        text.AppendLine("## slowest 25 nodes");
        foreach (var n in perNode.OrderByDescending(n => n.Us).Take(25))
            text.AppendLine(CultureInfo.InvariantCulture, $"  {n.Us / 1000,8:0.000} ms  {n.Op,-28} {n.Name}");
        text.AppendLine();
    }
}
