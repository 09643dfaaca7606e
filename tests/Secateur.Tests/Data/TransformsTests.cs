using Secateur.Data;

namespace Secateur.Tests.Data;

public sealed class TransformsTests
{
    private static readonly ImageShape s_shape = new(2, 5, 7);

    /// <summary>Distinct, non-zero values: 1 + index.</summary>
    private static float[] Image() => Enumerable.Range(1, s_shape.Size).Select(i => (float)i).ToArray();

    private static float At(float[] image, int c, int y, int x) => image[c * s_shape.PlaneSize + y * s_shape.Width + x];

    [Fact]
    public void Flip_Twice_IsIdentity()
    {
        var flip = new RandomHorizontalFlip(1.0);
        var image = Image();
        var rng = new Random(1);

        flip.Apply(image, s_shape, rng);
        image.ShouldNotBe(Image());
        At(image, 1, 2, 0).ShouldBe(At(Image(), 1, 2, s_shape.Width - 1));
        At(image, 0, 4, 2).ShouldBe(At(Image(), 0, 4, s_shape.Width - 3));

        flip.Apply(image, s_shape, rng);
        image.ShouldBe(Image());
    }

    [Fact]
    public void Flip_WithProbabilityZero_DoesNothing()
    {
        var image = Image();
        var rng = new Random(2);
        for (int i = 0; i < 20; i++) new RandomHorizontalFlip(0).Apply(image, s_shape, rng);
        image.ShouldBe(Image());
    }

    [Fact]
    public void Flip_HalfTheTime_FollowsTheGenerator()
    {
        var flip = new RandomHorizontalFlip(0.5);
        var rng = new Random(3);
        var mirror = new Random(3);
        int flips = 0;
        for (int i = 0; i < 50; i++)
        {
            var image = Image();
            flip.Apply(image, s_shape, rng);
            bool expected = mirror.NextDouble() < 0.5;
            (image[0] == At(Image(), 0, 0, s_shape.Width - 1)).ShouldBe(expected);
            if (expected) flips++;
        }
        flips.ShouldBeInRange(1, 49);
    }

    [Fact]
    public void Crop_WithPadZero_IsIdentity()
    {
        var crop = new PadAndRandomCrop(0);
        var image = Image();
        var rng = new Random(4);
        for (int i = 0; i < 10; i++) crop.Apply(image, s_shape, rng);
        image.ShouldBe(Image());
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 6)]
    [InlineData(3, 7)]
    public void Crop_ShiftsByTheDrawnOffsetAndFillsZeros(int pad, int seed)
    {
        var crop = new PadAndRandomCrop(pad);
        var rng = new Random(seed);
        var mirror = new Random(seed);
        bool sawShift = false;
        for (int trial = 0; trial < 20; trial++)
        {
            var image = Image();
            crop.Apply(image, s_shape, rng);

            // Same draws as the transform: the crop window's top-left in the padded image, minus the padding.
            int dy = mirror.Next(2 * pad + 1) - pad, dx = mirror.Next(2 * pad + 1) - pad;
            sawShift |= dy != 0 || dx != 0;
            var source = Image();
            for (int c = 0; c < s_shape.Channels; c++)
                for (int y = 0; y < s_shape.Height; y++)
                    for (int x = 0; x < s_shape.Width; x++)
                    {
                        int sy = y + dy, sx = x + dx;
                        bool inside = sy >= 0 && sy < s_shape.Height && sx >= 0 && sx < s_shape.Width;
                        At(image, c, y, x).ShouldBe(inside ? At(source, c, sy, sx) : 0f, $"pad {pad} offset ({dy}, {dx}) at c{c} y{y} x{x}");
                    }
        }
        sawShift.ShouldBeTrue();
        rng.Next().ShouldBe(mirror.Next()); // exactly two draws per image
    }

    [Fact]
    public void Crop_PaddingLargerThanImage_CanBlankIt()
    {
        var shape = new ImageShape(1, 2, 2);
        var crop = new PadAndRandomCrop(3);
        var rng = new Random(8);
        var mirror = new Random(8);
        bool sawBlank = false;
        for (int i = 0; i < 50; i++)
        {
            var image = new float[] { 1, 2, 3, 4 };
            crop.Apply(image, shape, rng);
            int dy = mirror.Next(7) - 3, dx = mirror.Next(7) - 3;
            if (Math.Abs(dy) >= 2 || Math.Abs(dx) >= 2)
            {
                image.ShouldAllBe(v => v == 0f);
                sawBlank = true;
            }
        }
        sawBlank.ShouldBeTrue();
    }

    [Fact]
    public void Normalize_PerChannel()
    {
        var norm = new Normalize([0.5f, 0.25f], [0.5f, 2f]);
        var image = Image().Select(v => v / s_shape.Size).ToArray();
        var original = image.ToArray();

        norm.Apply(image, s_shape, new Random(0));

        for (int i = 0; i < image.Length; i++)
        {
            int c = i / s_shape.PlaneSize;
            float expected = c == 0 ? (original[i] - 0.5f) / 0.5f : (original[i] - 0.25f) / 2f;
            image[i].ShouldBe(expected, 1e-6f);
        }
        norm.Mean.ShouldBe([0.5f, 0.25f]);
        norm.Std.ShouldBe([0.5f, 2f]);
    }

    [Fact]
    public void Normalize_OneValue_AppliesToEveryChannel()
    {
        var norm = new Normalize([0.2860f], [0.3530f]);
        var image = Image().Select(v => v / s_shape.Size).ToArray();
        var original = image.ToArray();

        norm.Apply(image, s_shape, new Random(0));

        for (int i = 0; i < image.Length; i++)
            image[i].ShouldBe((original[i] - 0.2860f) / 0.3530f, 1e-5f);
    }

    [Fact]
    public void BadParameters_AreBadArguments()
    {
        Should.Throw<SecateurException>(() => new Normalize([0.5f], [0f])).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new Normalize([0.5f, 0.5f], [1f])).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new Normalize([], [])).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new PadAndRandomCrop(-1)).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new RandomHorizontalFlip(1.5)).Code.ShouldBe(ErrorCode.BadArgument);
        Should.Throw<SecateurException>(() => new RandomHorizontalFlip(double.NaN)).Code.ShouldBe(ErrorCode.BadArgument);
    }
}
