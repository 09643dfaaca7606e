// Use a pruned model in an application: once through an ML.NET pipeline (ApplyOnnxModel), once through plain ONNX
// Runtime, and check that both predict what Secateur's own evaluation predicts.
//   dotnet run
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Secateur.Data;
using Secateur.Deployment;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Pruning;

// 1. A pruned model file (any ONNX file Secateur wrote works the same way).
var dense = ModelZoo.Create("lenet5");
var pruned = PruningPipeline.Run(dense, new PruneRequest { Importance = Importances.Create("l1"), Target = new PruningTarget { Speedup = 2 } }).Graph;
OnnxSerializer.Save(pruned, "lenet5.pruned.onnx");
string inputName = pruned.Inputs[0].Name, outputName = pruned.Outputs[0].Name;

// 2. Images fed exactly as the model expects: the preprocessing recorded in the model.
var data = DataSource.Resolve("embedded", DataSourceOptions.ForModel(pruned));
var test = data.Test.Take(200);
var loader = new DataLoader(test, batchSize: 1, prefetch: false, preprocessing: pruned.Preprocessing ?? data.Preprocessing);
var images = loader.Epoch(0).Select(b => new ImageRow { Image = b.Images }).ToList();
var shape = loader.SampleShape.Select(d => (int)d).Prepend(1).ToArray();

// 3. ML.NET: the ONNX input column must carry the model's input name.
var ml = new MLContext();
var pipeline = ml.Transforms.CopyColumns(inputName, nameof(ImageRow.Image))
    .Append(ml.Transforms.ApplyOnnxModel([outputName], [inputName], "lenet5.pruned.onnx",
        shapeDictionary: new Dictionary<string, int[]> { [inputName] = shape }, gpuDeviceId: null, fallbackToCpu: false));
var rows = ml.Data.LoadFromEnumerable(images, SchemaDefinition.Create(typeof(ImageRow)).WithVectorSize(nameof(ImageRow.Image), images[0].Image.Length));
var scored = pipeline.Fit(rows).Transform(rows);
var mlNet = scored.GetColumn<float[]>(outputName).Select(ArgMax).ToList();

// 4. Plain ONNX Runtime.
using var session = new InferenceSession("lenet5.pruned.onnx");
var ort = images.Select(row =>
{
    using var result = session.Run([NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<float>(row.Image, shape))]);
    return ArgMax(result.First().AsEnumerable<float>().ToArray());
}).ToList();

// 5. Secateur's own evaluation of the same file.
using var secateurSession = OnnxRuntimeSession.FromFile("lenet5.pruned.onnx");
var reference = OnnxRuntimeEvaluation.Evaluate(secateurSession, loader).Predictions;

var same = Enumerable.Range(0, images.Count).Count(i => mlNet[i] == reference[i] && ort[i] == reference[i]);
Console.WriteLine($"ML.NET, ONNX Runtime and Secateur agree on {same} of {images.Count} images (model {inputName} {string.Join('x', shape)} -> {outputName})");
if (same != images.Count) throw new InvalidOperationException("the three runtimes disagree");

static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());

sealed class ImageRow
{
    public float[] Image { get; set; } = [];
}

static class SchemaExtensions
{
    public static SchemaDefinition WithVectorSize(this SchemaDefinition schema, string column, int size)
    {
        schema[column].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        return schema;
    }
}
