using System.CommandLine;
using System.Globalization;
using Secateur.Analysis;
using Secateur.Graph;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur inspect</c>: per-layer table of output shapes, parameters and MACs.</summary>
public static class InspectCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var model = new Argument<string>("model") { Description = "zoo model name (see 'secateur inspect --list') or .onnx file" };
        model.Arity = ArgumentArity.ZeroOrOne;
        var input = CommonOptions.Input();
        var classes = CommonOptions.Classes();
        var json = CommonOptions.Json();
        var list = new Option<bool>("--list") { Description = "list the zoo models and exit" };
        var cmd = new Command("inspect", "show a model's layers with output shapes, parameters and MACs") { model, input, classes, json, list };
        cmd.SetAction(r =>
        {
            if (r.GetValue(list) || r.GetValue(model) is null) return ListZoo(context, r.GetValue(json));
            var graph = ModelSource.Load(r.GetValue(model)!, r.GetValue(input), r.GetValue(classes));
            var stats = ModelStats.Compute(graph);
            string preprocessing = graph.Preprocessing?.Describe() ?? "none recorded";
            if (r.GetValue(json))
            {
                context.WriteJson(new
                {
                    model = graph.Name,
                    input = graph.Inputs[0].ShapeText,
                    output = graph.Outputs[0].ShapeText,
                    inputs = graph.Inputs.Select(i => new { name = i.Name, shape = i.ShapeText }),
                    outputs = graph.Outputs.Select(o => new { name = o.Name, shape = o.ShapeText }),
                    preprocessing = graph.Preprocessing?.ToString(),
                    @params = stats.Params,
                    macs = stats.Macs,
                    convention = ModelStats.Convention,
                    layers = stats.Layers.Select(l => new { name = l.Name, op = l.Op.ToString(), shape = l.OutputShape, @params = l.Params, macs = l.Macs }),
                });
                return 0;
            }
            var table = new TextTable($"{graph.Name}  {Signature(graph)}  preprocessing {preprocessing}",
                new("layer", Shrink: true), new("op"), new("output"), new("params", Right: true), new("MACs", Right: true));
            foreach (var l in stats.Layers)
                table.Add(l.Name, l.Op.ToString(), TensorData.FormatShape(l.OutputShape), Num(l.Params), Num(l.Macs));
            table.AddBlank().Add("total", "", "", Num(stats.Params), Num(stats.Macs));
            table.Write(context);
            context.Out.WriteLine($"params {stats.Params:N0} ({Human(stats.Params)}), MACs {stats.Macs:N0} ({Human(stats.Macs)}) — {ModelStats.Convention}");
            return 0;
        });
        return cmd;
    }

    /// <summary>"input 1x3x8x8" for one input and one output; every input and output by name when there are more.</summary>
    private static string Signature(ModelGraph graph)
    {
        if (graph.Inputs.Count == 1 && graph.Outputs.Count == 1) return $"input {graph.Inputs[0].ShapeText}";
        static string List(IEnumerable<ValueInfo> values) => string.Join(", ", values.Select(v => $"{v.Name} {v.ShapeText}"));
        return $"inputs {List(graph.Inputs)}  outputs {List(graph.Outputs)}";
    }

    private static int ListZoo(CliContext context, bool json)
    {
        var rows = Models.ModelZoo.Entries.Select(e => new { name = e.Name, input = $"{e.Defaults.Channels}x{e.Defaults.Height}x{e.Defaults.Width}", classes = e.Defaults.Classes, description = e.Description }).ToList();
        if (json) { context.WriteJson(new { models = rows }); return 0; }
        var table = new TextTable(null, new("model"), new("default input"), new("classes", Right: true), new("description"));
        foreach (var r in rows) table.Add(r.name, r.input, r.classes.ToString(CultureInfo.InvariantCulture), r.description);
        table.Write(context);
        return 0;
    }

    internal static string Num(long v) => v == 0 ? "-" : v.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Human(double v) => v switch
    {
        >= 1e9 => (v / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "G",
        >= 1e6 => (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (v / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "K",
        _ => v.ToString("0", CultureInfo.InvariantCulture),
    };
}
