namespace Secateur.Data;

/// <summary>Shape of one image in channel-major (CHW) layout.</summary>
/// <param name="Channels">Number of channels (1 for grayscale, 3 for RGB).</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Width">Width in pixels.</param>
public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    /// <summary>Number of elements of one image: Channels × Height × Width.</summary>
    public int Size => Channels * Height * Width;

    /// <summary>Number of elements of one channel plane: Height × Width.</summary>
    public int PlaneSize => Height * Width;

    /// <inheritdoc />
    public override string ToString() => $"{Channels}×{Height}×{Width}";

    /// <summary>Throws <see cref="ArgumentException"/> unless every dimension is positive and the size fits in an <see cref="int"/>.</summary>
    internal void CheckValid(string paramName)
    {
        if (Channels <= 0 || Height <= 0 || Width <= 0)
            throw new ArgumentException($"Image shape {this} must have positive dimensions.", paramName);
        if ((long)Channels * Height * Width > int.MaxValue)
            throw new ArgumentException($"Image shape {this} is too large.", paramName);
    }
}
