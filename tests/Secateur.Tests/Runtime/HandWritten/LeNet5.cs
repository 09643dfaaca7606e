using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Secateur.Tests.Runtime.HandWritten;

/// <summary>LeNet-5: conv5x5(6, pad 2)-ReLU-maxpool2, conv5x5(16)-ReLU-maxpool2, Linear 120-84-classes, ReLU between.</summary>
internal sealed class LeNet5 : HandWrittenModel
{
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly MaxPool2d pool;
    private readonly ReLU relu;
    private readonly Flatten flatten;
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Linear fc3;

    public LeNet5(long channels, long height, long width, long classes) : base("lenet5")
    {
        conv1 = nn.Conv2d(channels, 6, 5, padding: 2);
        conv2 = nn.Conv2d(6, 16, 5);
        pool = nn.MaxPool2d(2, 2);
        relu = nn.ReLU();
        flatten = nn.Flatten();
        // conv1 keeps the size (pad 2), pool halves it, conv2 (no pad) takes 4 off, pool halves again.
        long h = (height / 2 - 4) / 2, w = (width / 2 - 4) / 2;
        fc1 = nn.Linear(16 * h * w, 120);
        fc2 = nn.Linear(120, 84);
        fc3 = nn.Linear(84, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = pool.forward(relu.forward(conv1.forward(x)));   // (N, 6, H/2, W/2)
        x = pool.forward(relu.forward(conv2.forward(x)));   // (N, 16, h, w)
        x = flatten.forward(x);                             // (N, 16*h*w)
        x = relu.forward(fc1.forward(x));
        x = relu.forward(fc2.forward(x));
        return fc3.forward(x);
    }
}
