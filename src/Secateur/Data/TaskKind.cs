namespace Secateur.Data;

/// <summary>What a model predicts, and so how its data is labelled and how it is scored.</summary>
public enum TaskKind
{
    /// <summary>One class per image (labels); scored by top-1 accuracy.</summary>
    Classification,
    /// <summary>One class per pixel (masks); the model outputs N×K×H×W; scored by mean IoU and pixel accuracy.</summary>
    Segmentation,
}
