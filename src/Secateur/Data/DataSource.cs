using Secateur.Graph;

namespace Secateur.Data;

/// <summary>A resolved dataset: train and test splits and the input preprocessing every loader applies to both.</summary>
/// <param name="Name">Short name for messages and reports.</param>
/// <param name="Train">Training images.</param>
/// <param name="Test">Held-out images.</param>
/// <param name="Preprocessing">What the model is fed: range, normalisation, channel order, colour conversion, layout.</param>
public sealed record DataSet(string Name, ImageDataset Train, ImageDataset Test, InputPreprocessing Preprocessing)
{
    /// <summary>A dataset normalised with <paramref name="Mean"/> and <paramref name="Std"/> on [0, 1] pixels (the form before preprocessing descriptions).</summary>
    /// <param name="Name">Short name for messages and reports.</param>
    /// <param name="Train">Training images.</param>
    /// <param name="Test">Held-out images.</param>
    /// <param name="Mean">Per-channel mean (in [0, 1] units), or one value for all channels.</param>
    /// <param name="Std">Per-channel standard deviation, as many as <paramref name="Mean"/>.</param>
    public DataSet(string Name, ImageDataset Train, ImageDataset Test, float[] Mean, float[] Std)
        : this(Name, Train, Test, InputPreprocessing.Unit with { Mean = Mean, Std = Std })
    {
    }

    /// <summary>What every loader of this dataset feeds the model (validated).</summary>
    public InputPreprocessing Preprocessing { get; init; } = (Preprocessing ?? throw new ArgumentNullException(nameof(Preprocessing))).Validated();

    /// <summary>
    /// Per-channel mean of the preprocessing's normalisation expressed on [0, 1] pixels (range scaling folded in:
    /// 0 for no normalisation on [0, 1], 0.5 for [−1, 1]). With <see cref="Std"/> it is the whole affine map; a
    /// channel reorder, colour conversion or NHWC layout is applied by the loaders only.
    /// </summary>
    public float[] Mean => UnitAffine().Mean;

    /// <summary>Per-channel standard deviation on [0, 1] pixels, the counterpart of <see cref="Mean"/> (1/255 for [0, 255] without normalisation).</summary>
    public float[] Std => UnitAffine().Std;

    /// <summary>
    /// The dimensions of one sample as the loaders batch it, without the batch: C, H, W of the model's input (after
    /// any colour conversion), or H, W, C for an NHWC input. A model fits this data when its input is N × this.
    /// </summary>
    /// <exception cref="SecateurException">BadArgument when the images' channels do not fit the preprocessing.</exception>
    public long[] SampleShape => new InputTransform(Preprocessing, Train.Shape).SampleShape;

    /// <summary>Padding used by the training augmentation: 2 pixels for 28×28 and smaller (the protocol), else 1/8 of the side.</summary>
    public int CropPadding => Train.Height <= 28 ? 2 : Math.Max(2, Train.Height / 8);

    /// <summary>Batches of the training split: shuffled, augmented (pad-and-crop, horizontal flip) when asked, then preprocessed.</summary>
    public DataLoader TrainLoader(int batchSize, int seed, bool augment = true, bool dropLast = false)
    {
        IImageTransform[] transforms = augment ? [new PadAndRandomCrop(CropPadding), new RandomHorizontalFlip(0.5)] : [];
        return new DataLoader(Train, batchSize, shuffle: true, dropLast, seed, transforms, preprocessing: Preprocessing);
    }

    /// <summary>Batches of the test split in file order, preprocessed, without augmentation.</summary>
    public DataLoader TestLoader(int batchSize = 256) => Loader(Test, batchSize);

    /// <summary>
    /// Batches of any images (a calibration subset, a held-out split) in order, preprocessed as this dataset's are,
    /// without augmentation.
    /// </summary>
    public DataLoader Loader(ImageDataset images, int batchSize = 256) => new(images, batchSize, preprocessing: Preprocessing);

    /// <summary>True when the training images carry labels (false for an unlabelled folder or a label-free run).</summary>
    public bool TrainLabelled => Train.IsLabelled;

    /// <summary>True when the test images carry labels, so that accuracy can be measured on them.</summary>
    public bool TestLabelled => Test.IsLabelled;

    /// <summary>
    /// The same data with the training images' labels dropped: calibration, recalibration, fine-tuning and every
    /// decision made on held-out training images then run without labels; the test split is unchanged, so its labels
    /// (if any) still score the result.
    /// </summary>
    public DataSet WithoutTrainLabels() => Train.IsLabelled ? this with { Train = Train.WithoutLabels() } : this;

    /// <summary>The same data with the training split replaced (e.g. by a subset).</summary>
    public DataSet WithTrain(ImageDataset train) => this with { Train = train };

    /// <summary>The same data fed by another preprocessing (the model's).</summary>
    public DataSet WithPreprocessing(InputPreprocessing preprocessing) =>
        this with { Preprocessing = (preprocessing ?? throw new ArgumentNullException(nameof(preprocessing))).Validated() };

    /// <summary>
    /// The same data with the normalisation statistics computed from the training images (what
    /// <see cref="InputPreprocessing.FromDataName"/> asks for): per channel of the model's input, after the colour
    /// conversion and channel order, in the units of the range. The other fields are kept.
    /// </summary>
    public DataSet WithStatisticsFromTrain()
    {
        var p = Preprocessing;
        var plain = p with { Range = InputRange.Unit, Mean = [], Std = [], Layout = InputLayout.Nchw };
        var transform = new InputTransform(plain, Train.Shape);
        int channels = transform.Output.Channels, plane = transform.Output.PlaneSize;
        var sum = new double[channels];
        var sq = new double[channels];
        var image = new float[Train.Shape.Size];
        var converted = new float[transform.Output.Size];
        for (int i = 0; i < Train.Count; i++)
        {
            Train.CopyImage(i, image);
            transform.Apply(image, converted);
            for (int c = 0; c < channels; c++)
                for (int k = 0; k < plane; k++)
                {
                    double v = converted[c * plane + k];
                    sum[c] += v;
                    sq[c] += v * v;
                }
        }
        if (Train.Count == 0) throw new SecateurException(ErrorCode.BadArgument, $"'{Name}' has no training images to compute statistics from", ParameterNames.Data);
        double n = (double)Train.Count * plane;
        var (low, high) = p.RangeBounds;
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double m = sum[c] / n;
            double s = Math.Sqrt(Math.Max(1e-12, sq[c] / n - m * m));
            mean[c] = (float)(low + (high - low) * m);
            std[c] = (float)((high - low) * s);
        }
        return this with { Preprocessing = (p with { Mean = mean, Std = std }).Validated() };
    }

    private (float[] Mean, float[] Std) UnitAffine()
    {
        var p = Preprocessing;
        var (low, high) = p.RangeBounds;
        float span = high - low;
        int n = Math.Max(1, p.Mean.Count);
        var mean = new float[n];
        var std = new float[n];
        for (int c = 0; c < n; c++)
        {
            // (low + span·u − m)/s = (u − (m − low)/span) / (s/span); exact (m, s) for [0, 1].
            mean[c] = p.Range == InputRange.Unit ? p.MeanOf(c) : (p.MeanOf(c) - low) / span;
            std[c] = p.Range == InputRange.Unit ? p.StdOf(c) : p.StdOf(c) / span;
        }
        return (mean, std);
    }
}

/// <summary>How <see cref="DataSource.Resolve(string, DataSourceOptions)"/> loads a dataset for a model.</summary>
public sealed record DataSourceOptions
{
    /// <summary>Directory overriding the default location of fashion-mnist (and the directory of forms given without one).</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Shape (CHW) image folders are decoded to: the model's input; null for 3×32×32.</summary>
    public ImageShape? ImageShape { get; init; }

    /// <summary>
    /// The preprocessing the loaders apply (the model's), which also sets how image folders are resized. Null for the
    /// dataset's own: its protocol's for the known datasets (fashion-mnist, cifar10, cifar100), else
    /// <see cref="InputPreprocessing.Unit"/> — never statistics computed from the data unless
    /// <see cref="StatisticsFromData"/> asks for them.
    /// </summary>
    public InputPreprocessing? Preprocessing { get; init; }

    /// <summary>
    /// Compute the normalisation statistics from the training images (<see cref="InputPreprocessing.FromDataName"/>),
    /// replacing the mean and standard deviation of <see cref="Preprocessing"/> (or the dataset's own).
    /// </summary>
    public bool StatisticsFromData { get; init; }

    /// <summary>
    /// The task the data must serve: segmentation needs masks (<c>segfolder:DIR</c>), classification labels; null
    /// takes the data's own (segmentation exactly when it has masks).
    /// </summary>
    public TaskKind? Task { get; init; }

    /// <summary>Mask value that counts for no class in a segmentation set (0-255).</summary>
    public int IgnoreIndex { get; init; } = ImageDataset.DefaultIgnoreIndex;

    /// <summary>Number of classes of a segmentation set whose folder does not name them (the model's); null for the masks' largest value + 1.</summary>
    public int? ClassCount { get; init; }

    /// <summary>
    /// Use the training images without their labels (<see cref="DataSet.WithoutTrainLabels"/>): nothing that changes a
    /// model reads a label; the test split keeps its labels, if it has any, to score the result.
    /// </summary>
    public bool LabelFree { get; init; }

    /// <summary>Checks the values; throws <see cref="SecateurException"/> (BadArgument) when one is out of range.</summary>
    public DataSourceOptions Validated()
    {
        if (ImageShape is { } s && (s.Channels is not (1 or 3) || s.Height < 1 || s.Width < 1))
            throw new SecateurException(ErrorCode.BadArgument, $"images are decoded to 1 or 3 channels of positive size, not {s}", ParameterNames.InputShape);
        Preprocessing?.Validated();
        if (IgnoreIndex is < 0 or > 255)
            throw new SecateurException(ErrorCode.BadArgument, $"the ignore index must be in [0, 255] (masks are 8-bit), got {IgnoreIndex}", nameof(IgnoreIndex));
        if (ClassCount is < 2 or > 255)
            throw new SecateurException(ErrorCode.BadArgument, $"a segmentation set has 2-255 classes, not {ClassCount}", ParameterNames.Data);
        return this;
    }

    /// <summary>
    /// Options that load data as <paramref name="model"/> expects it: its recorded preprocessing (when it records one)
    /// and its input's image shape (when its input is a fixed-size image batch in the recorded layout).
    /// </summary>
    public static DataSourceOptions ForModel(ModelGraph model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var preprocessing = model.Preprocessing;
        // An N×K×H×W output is a segmentation model's: K is the class count its masks must stay under.
        int? classes = model.Outputs.Count > 0 && model.Outputs[0].Dims is { Count: 4 } o && !o[1].IsSymbolic && o[1].Value is >= 2 and <= 255 ? (int)o[1].Value : null;
        return new DataSourceOptions { Preprocessing = preprocessing, ImageShape = InputImageShape(model, preprocessing?.Layout ?? InputLayout.Nchw), ClassCount = classes };
    }

    /// <summary>
    /// The image shape (CHW) of <paramref name="model"/>'s first input read in <paramref name="layout"/>, or null when
    /// it is not a rank-4 input with fixed image dimensions and 1 or 3 channels.
    /// </summary>
    public static ImageShape? InputImageShape(ModelGraph model, InputLayout layout = InputLayout.Nchw)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Inputs.Count == 0 || model.Inputs[0].Dims is not { Count: 4 } d || d.Skip(1).Any(x => x.IsSymbolic)) return null;
        var shape = layout == InputLayout.Nhwc
            ? new ImageShape((int)d[3].Value, (int)d[1].Value, (int)d[2].Value)
            : new ImageShape((int)d[1].Value, (int)d[2].Value, (int)d[3].Value);
        return shape.Channels is 1 or 3 && shape.Height > 0 && shape.Width > 0 ? shape : null;
    }
}

/// <summary>Resolves a dataset specification (e.g. <c>fashion-mnist</c> or <c>cifar10:DIR</c>) into a <see cref="DataSet"/>.</summary>
public static class DataSource
{
    /// <summary>The accepted forms, for help texts and errors.</summary>
    public const string Forms = "fashion-mnist, embedded (alias fashion-mnist-mini), mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR (class sub-folders, or images directly in DIR: unlabelled), segfolder:DIR (images/ and masks/), or a directory holding IDX, CIFAR, class-folder, image or segmentation data";

    /// <summary>Loads the dataset named by <paramref name="spec"/>.</summary>
    /// <param name="spec">One of <see cref="Forms"/>.</param>
    /// <param name="dataDir">Directory overriding the default location of fashion-mnist.</param>
    /// <param name="imageShape">Size to decode image folders to (default 3×32×32).</param>
    /// <remarks>
    /// Fashion-MNIST and the embedded subset are normalised by the Fashion-MNIST protocol, CIFAR by CIFAR-10's
    /// statistics; other IDX data and image folders are fed in [0, 1] without normalisation (no statistics are
    /// computed from them; <see cref="DataSourceOptions.StatisticsFromData"/> asks for that).
    /// </remarks>
    public static DataSet Resolve(string spec, string? dataDir = null, ImageShape? imageShape = null) =>
        Resolve(spec, new DataSourceOptions { DataDirectory = dataDir, ImageShape = imageShape });

    /// <summary>Loads the dataset named by <paramref name="spec"/> as <paramref name="options"/> say (e.g. <see cref="DataSourceOptions.ForModel"/>).</summary>
    /// <param name="spec">One of <see cref="Forms"/>.</param>
    /// <param name="options">Where the files are, the model's input shape and preprocessing.</param>
    public static DataSet Resolve(string spec, DataSourceOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        ArgumentNullException.ThrowIfNull(options);
        options = options.Validated();
        var set = Load(spec, options);
        bool masks = set.Train.HasMasks;
        if (options.Task == TaskKind.Segmentation && !masks)
            throw new SecateurException(ErrorCode.BadArgument, $"segmentation needs masks, and '{set.Name}' has class labels: give a segmentation set (segfolder:DIR with images/ and masks/)", ParameterNames.Task);
        if (options.Task == TaskKind.Classification && masks)
            throw new SecateurException(ErrorCode.BadArgument, $"'{set.Name}' is a segmentation set (masks, no image labels): it cannot train or score a classifier", ParameterNames.Task);
        if (options.Preprocessing is { } p) set = set.WithPreprocessing(p);
        if (options.LabelFree) set = set.WithoutTrainLabels();
        return options.StatisticsFromData ? set.WithStatisticsFromTrain() : set;
    }

    private static DataSet Load(string spec, DataSourceOptions options)
    {
        var (kind, path) = spec.IndexOf(':', StringComparison.Ordinal) is var i and > 1 ? (spec[..i].ToLowerInvariant(), spec[(i + 1)..]) : (spec.ToLowerInvariant(), options.DataDirectory);
        switch (kind)
        {
            case "fashion-mnist" or "fashionmnist":
                return Idx("fashion-mnist", path);
            case "mnist":
                return Idx("mnist", path ?? throw Bad("mnist needs a directory: mnist:DIR"));
            case "embedded" or "fashion-mnist-mini":
                return new DataSet("fashion-mnist-mini", EmbeddedFashionMnist.Load(true), EmbeddedFashionMnist.Load(false), InputPreprocessing.FashionMnist);
            case "cifar10":
                {
                    var dir = path ?? throw Bad("cifar10 needs a directory: cifar10:DIR");
                    return new DataSet("cifar10", Cifar.Load10(dir, true), Cifar.Load10(dir, false), InputPreprocessing.Cifar10);
                }
            case "cifar100":
                {
                    var dir = path ?? throw Bad("cifar100 needs a directory: cifar100:DIR");
                    return new DataSet("cifar100", Cifar.Load100(dir, true), Cifar.Load100(dir, false), InputPreprocessing.Cifar10);
                }
            case "folder":
                return Folder(path ?? throw Bad("folder needs a directory: folder:DIR"), options);
            case "segfolder":
                return Segmentation(path ?? throw Bad("segfolder needs a directory: segfolder:DIR"), options);
        }
        if (Directory.Exists(spec)) return Detect(spec, options);
        throw Bad($"unknown dataset '{spec}'; use {Forms}");
    }

    private static DataSet Detect(string dir, DataSourceOptions options)
    {
        var files = Directory.GetFiles(dir).Select(Path.GetFileName).OfType<string>().ToList();
        if (files.Any(f => f.StartsWith("train-images", StringComparison.Ordinal))) return Idx(Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), dir);
        if (files.Contains("data_batch_1.bin") || Directory.Exists(Path.Combine(dir, "cifar-10-batches-bin")))
            return new DataSet("cifar10", Cifar.Load10(dir, true), Cifar.Load10(dir, false), InputPreprocessing.Cifar10);
        if (files.Contains("train.bin") || Directory.Exists(Path.Combine(dir, "cifar-100-binary")))
            return new DataSet("cifar100", Cifar.Load100(dir, true), Cifar.Load100(dir, false), InputPreprocessing.Cifar10);
        if (IsSegmentation(dir) || IsSegmentation(Path.Combine(dir, "train"))) return Segmentation(dir, options);
        if (Directory.GetDirectories(dir).Length > 0 || ImageFolder.HasImages(dir)) return Folder(dir, options);
        throw new SecateurException(ErrorCode.BadFile, $"'{dir}' holds no IDX, CIFAR, class-folder, image or segmentation data");
    }

    private static DataSet Idx(string name, string? dir)
    {
        var train = FashionMnist.Load(dir, true);
        var test = FashionMnist.Load(dir, false);
        // Same file layout, other content: assume nothing about it (no statistics unless asked), feed it as [0, 1].
        return new DataSet(name, train, test, name == "fashion-mnist" ? InputPreprocessing.FashionMnist : InputPreprocessing.Unit);
    }

    private static DataSet Folder(string dir, DataSourceOptions options)
    {
        var shape = options.ImageShape ?? new ImageShape(3, 32, 32);
        var resize = options.Preprocessing?.Resize ?? ResizePolicy.Stretch;
        string? Sub(params string[] names) => names.Select(n => Path.Combine(dir, n)).FirstOrDefault(Directory.Exists);
        var trainDir = Sub("train", "training");
        var testDir = Sub("test", "val", "validation");
        ImageDataset train, test;
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir));
        if (trainDir is null && ImageFolder.HasImages(dir))
        {
            // Images directly in the folder: no labels. A held-out 10% (at least one image) is what agreement with the
            // dense model is reported on, so that it is measured on images fine-tuning did not see.
            var all = ImageFolder.LoadUnlabelled(dir, shape, resize);
            if (all.Count < 2) throw Bad($"the unlabelled folder '{dir}' has {all.Count} image; at least 2 are needed (one is held out to measure on)");
            int held = Math.Max(1, (int)Math.Round(all.Count * 0.1));
            var order = Enumerable.Range(0, all.Count).ToArray();
            new Random(0).Shuffle(order);
            test = all.Subset(order[..held].Order(), name + " (held-out)");
            train = all.Subset(order[held..].Order(), name);
            return new DataSet(name, train, test, InputPreprocessing.Unit);
        }
        if (trainDir is not null && testDir is not null)
        {
            train = ImageFolder.Load(trainDir, shape, resize);
            // A class only the test folder has would be dropped without a word (the model cannot name it): refuse.
            var known = new HashSet<string>(train.ClassNames ?? [], StringComparer.Ordinal);
            var extra = Directory.EnumerateDirectories(testDir).Where(d => !known.Contains(Path.GetFileName(d)))
                .Select(d => (Name: Path.GetFileName(d), Count: Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Count())).Where(x => x.Count > 0).ToList();
            if (extra.Count > 0)
                throw Bad($"the test folder has {extra.Count} class(es) the training folder lacks ({string.Join(", ", extra.Select(x => $"'{x.Name}': {x.Count} files"))}); their images would be lost");
            test = ImageFolder.Load(testDir, shape, resize, train.ClassNames);
        }
        else
        {
            // One folder of classes (or a train/ folder without a test/ one): hold out a stratified 10% as the test split.
            (train, test) = ImageFolder.Load(trainDir ?? dir, shape, resize).Split(0.1, seed: 0);
        }
        // The user's images say nothing about what a model expects: [0, 1] unless told (statistics only when asked).
        return new DataSet(name, train, test, InputPreprocessing.Unit);
    }

    private static bool IsSegmentation(string dir) =>
        Directory.Exists(Path.Combine(dir, SegmentationFolder.ImagesFolder)) && Directory.Exists(Path.Combine(dir, SegmentationFolder.MasksFolder));

    private static DataSet Segmentation(string dir, DataSourceOptions options)
    {
        var (train, test) = SegmentationFolder.Load(dir, options.ImageShape, options.ClassCount, options.IgnoreIndex);
        // Like image folders: [0, 1] unless told; the generated Fashion-MNIST canvases say nothing else either.
        return new DataSet(Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), train, test, InputPreprocessing.Unit);
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
