using Secateur.Graph;

namespace Secateur.Models;

/// <summary>LeNet-5: conv5x5(6, pad 2)-ReLU-maxpool2, conv5x5(16)-ReLU-maxpool2, linear 120-84-classes.</summary>
public static class LeNet
{
    /// <summary>Builds LeNet-5 for the given input (at least 12x12) and classes.</summary>
    public static ModelGraph Build(ZooOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var b = new GraphBuilder("lenet5", o.Channels, o.Height, o.Width, o.Seed);
        var x = b.Relu(b.Conv(b.Input, "conv1", 6, 5, pad: 2, bias: true), "relu1");
        x = b.MaxPool(x, 2, 2, name: "pool1");
        x = b.Relu(b.Conv(x, "conv2", 16, 5, bias: true), "relu2");
        x = b.MaxPool(x, 2, 2, name: "pool2");
        x = b.Flatten(x, "flatten");
        x = b.Relu(b.Linear(x, "fc1", 120), "relu3");
        x = b.Relu(b.Linear(x, "fc2", 84), "relu4");
        return b.Build(b.Linear(x, "fc3", o.Classes));
    }
}
