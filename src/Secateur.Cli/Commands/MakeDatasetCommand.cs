using System.CommandLine;
using Secateur.Data;

namespace Secateur.Cli.Commands;

/// <summary><c>secateur make-dataset fashion-seg</c>: writes the seeded Fashion-MNIST segmentation set (<see cref="FashionSegmentation"/>).</summary>
public static class MakeDatasetCommand
{
    /// <summary>Builds the verb.</summary>
    public static Command Create(CliContext context)
    {
        var kind = new Argument<string>("kind") { Description = "the dataset to make: fashion-seg (Fashion-MNIST garments on canvases, one class per pixel)" }.AcceptOnlyFromAmong("fashion-seg");
        var output = new Option<string>("--output", "-o") { Description = "folder to write (train/ and test/ with images/ and masks/, classes.txt)", Required = true };
        var defaults = new FashionSegmentationOptions();
        var train = new Option<int>("--train") { Description = "training canvases", DefaultValueFactory = _ => defaults.TrainCanvases };
        var test = new Option<int>("--test") { Description = "test canvases", DefaultValueFactory = _ => defaults.TestCanvases };
        var size = new Option<int>("--size") { Description = "canvas side in pixels (a multiple of 8, at least 32)", DefaultValueFactory = _ => defaults.CanvasSize };
        var garments = new Option<string>("--garments") { Description = "garments per canvas, MIN-MAX", DefaultValueFactory = _ => $"{defaults.MinGarments}-{defaults.MaxGarments}" };
        var threshold = new Option<int>("--threshold") { Description = "grey level above which a garment pixel takes its class", DefaultValueFactory = _ => defaults.Threshold };
        var seed = CommonOptions.Seed();
        var dataDir = CommonOptions.DataDir();
        var from = new Option<string>("--from")
        {
            Description = "garments from fashion-mnist (the full set: /usr/share/datasets/fashion-mnist or --data-dir) or embedded (the built-in 3,000 + 1,000 subset, no download)",
            DefaultValueFactory = _ => "fashion-mnist",
        }.AcceptOnlyFromAmong("fashion-mnist", "embedded");
        var cmd = new Command("make-dataset", "write a generated dataset (fashion-seg: a segmentation set from Fashion-MNIST, seeded and reproducible)") { kind, output, train, test, size, garments, threshold, seed, dataDir, from };
        cmd.SetAction(r =>
        {
            var range = r.GetValue(garments)!.Split('-');
            if (range.Length != 2 || !int.TryParse(range[0], out int min) || !int.TryParse(range[1], out int max))
                throw new SecateurException(ErrorCode.BadArgument, $"bad --garments '{r.GetValue(garments)}': expected MIN-MAX, e.g. 1-4");
            var options = new FashionSegmentationOptions
            {
                TrainCanvases = r.GetValue(train), TestCanvases = r.GetValue(test), CanvasSize = r.GetValue(size), MinGarments = min, MaxGarments = max,
                Threshold = r.GetValue(threshold), Seed = r.GetValue(seed),
            }.Validated();
            var dir = r.GetValue(output)!;
            var sourceDir = r.GetValue(dataDir);
            bool embedded = r.GetValue(from) == "embedded";
            FashionSegmentation.Write(dir, embedded ? EmbeddedFashionMnist.Load(true) : FashionMnist.Load(sourceDir, true),
                embedded ? EmbeddedFashionMnist.Load(false) : FashionMnist.Load(sourceDir, false), options,
                new Lines(context.Error));
            context.Out.WriteLine($"wrote {options.TrainCanvases} training and {options.TestCanvases} test canvases of {options.CanvasSize}x{options.CanvasSize} ({FashionSegmentation.ClassNames.Count} classes) to {dir}; use --data segfolder:{dir}");
            return 0;
        });
        return cmd;
    }

    /// <summary>A line on stderr every 1,000 canvases, written at once (not posted to the thread pool as <see cref="Progress{T}"/> does).</summary>
    private sealed class Lines(TextWriter error) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value)
        {
            if (value.Done % 1000 == 0 || value.Done == value.Total) error.WriteLine($"{value.Done}/{value.Total} canvases");
        }
    }
}
