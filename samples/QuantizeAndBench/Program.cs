// Quantize a model to int8 (static, calibrated on images) and time fp32 against int8 in ONNX Runtime.
//   dotnet run -- [model.onnx]
// Without an argument it quantizes an untrained zoo LeNet-5, so its accuracies are chance level: what it shows is that
// int8 predicts what fp32 predicts. Pass a trained model (e.g. the demo's demo.onnx) for meaningful accuracies; a model
// this small is also too small for int8 to be faster than fp32 (ResNet-sized models are, see docs/quantization.md).
using Secateur.Data;
using Secateur.Deployment;
using Secateur.Models;
using Secateur.Onnx;
using Secateur.Quantization;

var model = args.Length > 0 ? OnnxSerializer.Load(args[0]) : ModelZoo.Create("lenet5");
var data = DataSource.Resolve("embedded", DataSourceOptions.ForModel(model));

var report = QuantizationPipeline.Run(model, data, "model.int8.onnx", new QuantizationRequest
{
    Latency = new LatencyOptions { BatchSizes = [1], Runs = 20, Rounds = 3 },
});
Console.WriteLine($"int8: {report.QuantizedNodes} nodes quantized, {report.FloatBytes:N0} -> {report.Int8Bytes:N0} bytes; " +
                  $"top-1 fp32 {report.FloatAccuracy:P2}, int8 {report.Int8Accuracy:P2}, same prediction on {report.Agreement:P2}");
foreach (var l in report.Latency)
    Console.WriteLine($"batch {l.Batch}: fp32 {l.FloatP50Ms:0.000} ms, int8 {l.Int8P50Ms:0.000} ms ({l.Speedup:0.00}x, spread {l.SpeedupLow:0.00}-{l.SpeedupHigh:0.00})");
if (report.Agreement < 0.9) throw new InvalidOperationException("int8 disagrees with fp32 on more than 10 % of the images");
