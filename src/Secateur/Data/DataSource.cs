namespace Secateur.Data;

/// <summary>A resolved dataset: train and test splits and the normalisation to apply to both.</summary>
/// <param name="Name">Short name for messages and reports.</param>
/// <param name="Train">Training images.</param>
/// <param name="Test">Held-out images.</param>
/// <param name="Mean">Per-channel mean (in [0, 1] units).</param>
/// <param name="Std">Per-channel standard deviation.</param>
public sealed record DataSet(string Name, ImageDataset Train, ImageDataset Test, float[] Mean, float[] Std)
{
    /// <summary>Padding used by the training augmentation: 2 pixels for 28×28 and smaller (the protocol), else 1/8 of the side.</summary>
    public int CropPadding => Train.Height <= 28 ? 2 : Math.Max(2, Train.Height / 8);

    /// <summary>Batches of the training split: shuffled, augmented (pad-and-crop, horizontal flip) when asked, normalised.</summary>
    public DataLoader TrainLoader(int batchSize, int seed, bool augment = true, bool dropLast = false)
    {
        IImageTransform[] transforms = augment
            ? [new PadAndRandomCrop(CropPadding), new RandomHorizontalFlip(0.5), new Normalize(Mean, Std)]
            : [new Normalize(Mean, Std)];
        return new DataLoader(Train, batchSize, shuffle: true, dropLast, seed, transforms);
    }

    /// <summary>Batches of the test split in file order, normalised, without augmentation.</summary>
    public DataLoader TestLoader(int batchSize = 256) => new(Test, batchSize, transforms: [new Normalize(Mean, Std)]);

    /// <summary>The same data with the training split replaced (e.g. by a subset).</summary>
    public DataSet WithTrain(ImageDataset train) => this with { Train = train };
}

/// <summary>Resolves a dataset specification (e.g. <c>fashion-mnist</c> or <c>cifar10:DIR</c>) into a <see cref="DataSet"/>.</summary>
public static class DataSource
{
    /// <summary>The accepted forms, for help texts and errors.</summary>
    public const string Forms = "fashion-mnist, embedded (alias fashion-mnist-mini), mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, or a directory holding IDX, CIFAR or class-folder data";

    /// <summary>Loads the dataset named by <paramref name="spec"/>.</summary>
    /// <param name="spec">One of <see cref="Forms"/>.</param>
    /// <param name="dataDir">Directory overriding the default location of fashion-mnist.</param>
    /// <param name="imageShape">Size to decode image folders to (default 3×32×32).</param>
    public static DataSet Resolve(string spec, string? dataDir = null, ImageShape? imageShape = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        var (kind, path) = spec.IndexOf(':', StringComparison.Ordinal) is var i and > 1 ? (spec[..i].ToLowerInvariant(), spec[(i + 1)..]) : (spec.ToLowerInvariant(), dataDir);
        switch (kind)
        {
            case "fashion-mnist" or "fashionmnist":
                return Idx("fashion-mnist", path);
            case "mnist":
                return Idx("mnist", path ?? throw Bad("mnist needs a directory: mnist:DIR"));
            case "embedded" or "fashion-mnist-mini":
                return new DataSet("fashion-mnist-mini", EmbeddedFashionMnist.Load(true), EmbeddedFashionMnist.Load(false), [FashionMnist.Mean], [FashionMnist.Std]);
            case "cifar10":
                {
                    var dir = path ?? throw Bad("cifar10 needs a directory: cifar10:DIR");
                    return new DataSet("cifar10", Cifar.Load10(dir, true), Cifar.Load10(dir, false), Cifar.Mean, Cifar.Std);
                }
            case "cifar100":
                {
                    var dir = path ?? throw Bad("cifar100 needs a directory: cifar100:DIR");
                    return new DataSet("cifar100", Cifar.Load100(dir, true), Cifar.Load100(dir, false), Cifar.Mean, Cifar.Std);
                }
            case "folder":
                return Folder(path ?? throw Bad("folder needs a directory: folder:DIR"), imageShape ?? new ImageShape(3, 32, 32));
        }
        if (Directory.Exists(spec)) return Detect(spec, imageShape);
        throw Bad($"unknown dataset '{spec}'; use {Forms}");
    }

    private static DataSet Detect(string dir, ImageShape? imageShape)
    {
        var files = Directory.GetFiles(dir).Select(Path.GetFileName).OfType<string>().ToList();
        if (files.Any(f => f.StartsWith("train-images", StringComparison.Ordinal))) return Idx(Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), dir);
        if (files.Contains("data_batch_1.bin") || Directory.Exists(Path.Combine(dir, "cifar-10-batches-bin")))
            return new DataSet("cifar10", Cifar.Load10(dir, true), Cifar.Load10(dir, false), Cifar.Mean, Cifar.Std);
        if (files.Contains("train.bin") || Directory.Exists(Path.Combine(dir, "cifar-100-binary")))
            return new DataSet("cifar100", Cifar.Load100(dir, true), Cifar.Load100(dir, false), Cifar.Mean, Cifar.Std);
        if (Directory.GetDirectories(dir).Length > 0) return Folder(dir, imageShape ?? new ImageShape(3, 32, 32));
        throw new SecateurException(ErrorCode.BadFile, $"'{dir}' holds no IDX, CIFAR or class-folder data");
    }

    private static DataSet Idx(string name, string? dir)
    {
        var train = FashionMnist.Load(dir, true);
        var test = FashionMnist.Load(dir, false);
        if (name != "fashion-mnist")
        {
            // Same file layout, other content: compute the statistics rather than assume Fashion-MNIST's.
            var (mean, std) = Statistics(train);
            return new DataSet(name, train, test, mean, std);
        }
        return new DataSet(name, train, test, [FashionMnist.Mean], [FashionMnist.Std]);
    }

    private static DataSet Folder(string dir, ImageShape shape)
    {
        string? Sub(params string[] names) => names.Select(n => Path.Combine(dir, n)).FirstOrDefault(Directory.Exists);
        var trainDir = Sub("train", "training");
        var testDir = Sub("test", "val", "validation");
        ImageDataset train, test;
        if (trainDir is not null && testDir is not null)
        {
            train = ImageFolder.Load(trainDir, shape.Channels, shape.Height, shape.Width);
            // A class only the test folder has would be dropped without a word (the model cannot name it): refuse.
            var known = new HashSet<string>(train.ClassNames ?? [], StringComparer.Ordinal);
            var extra = Directory.EnumerateDirectories(testDir).Where(d => !known.Contains(Path.GetFileName(d)))
                .Select(d => (Name: Path.GetFileName(d), Count: Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Count())).Where(x => x.Count > 0).ToList();
            if (extra.Count > 0)
                throw Bad($"the test folder has {extra.Count} class(es) the training folder lacks ({string.Join(", ", extra.Select(x => $"'{x.Name}': {x.Count} files"))}); their images would be lost");
            test = ImageFolder.Load(testDir, shape.Channels, shape.Height, shape.Width, train.ClassNames);
        }
        else
        {
            // One folder of classes (or a train/ folder without a test/ one): hold out a stratified 10% as the test split.
            (train, test) = ImageFolder.Load(trainDir ?? dir, shape.Channels, shape.Height, shape.Width).Split(0.1, seed: 0);
        }
        var (mean, std) = Statistics(train);
        return new DataSet(Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), train, test, mean, std);
    }

    /// <summary>Per-channel mean and standard deviation of a dataset's pixels (in [0, 1] units).</summary>
    public static (float[] Mean, float[] Std) Statistics(ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        int c = data.Channels, plane = data.Shape.PlaneSize;
        var sum = new double[c];
        var sq = new double[c];
        var image = new float[data.Shape.Size];
        for (int i = 0; i < data.Count; i++)
        {
            data.CopyImage(i, image);
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < plane; p++)
                {
                    double v = image[ch * plane + p];
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
        }
        double n = (double)data.Count * plane;
        var mean = sum.Select(s => (float)(s / n)).ToArray();
        var std = sq.Select((s, ch) => (float)Math.Sqrt(Math.Max(1e-12, s / n - mean[ch] * (double)mean[ch]))).ToArray();
        return (mean, std);
    }

    private static SecateurException Bad(string message) => new(ErrorCode.BadArgument, message, ParameterNames.Data);
}
