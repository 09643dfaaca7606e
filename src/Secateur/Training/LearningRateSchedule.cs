namespace Secateur.Training;

/// <summary>Learning rate as a function of the global step, matching PyTorch's schedulers.</summary>
public static class LearningRateSchedule
{
    /// <summary>The learning rate at <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    public static double At(ScheduleKind kind, double peak, long step, long totalSteps, double warmupFraction = 0.15)
    {
        if (totalSteps <= 1) return peak;
        switch (kind)
        {
            case ScheduleKind.Constant: return peak;
            case ScheduleKind.Cosine: return peak * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps));
            default:
                {
                    // torch.optim.lr_scheduler.OneCycleLR: div_factor 25, final_div_factor 1e4, cosine phases.
                    double initial = peak / 25, final = initial / 1e4;
                    double warmEnd = warmupFraction * totalSteps - 1, end = totalSteps - 1;
                    return step <= warmEnd
                        ? Anneal(initial, peak, warmEnd <= 0 ? 1 : step / warmEnd)
                        : Anneal(peak, final, (step - warmEnd) / (end - warmEnd));
                }
        }
    }

    private static double Anneal(double start, double end, double pct) => end + (start - end) / 2 * (Math.Cos(Math.PI * Math.Min(1, pct)) + 1);
}
