using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Runtime.Reference;

/// <summary>
/// torch.optim.AdamW's single-tensor update (torch/optim/adamw.py, amsgrad and maximize off) in double,
/// line for line: the oracle for <see cref="AdamWKernels"/>. Hyperparameters are the float values the
/// step-scalar buffer holds, widened to double.
/// </summary>
public static class AdamWReference
{
    /// <summary>One step on every element; <paramref name="clipScale"/> multiplies the gradient first.</summary>
    public static void Step(double[] parameters, ReadOnlySpan<float> gradients, double[] firstMoment, double[] secondMoment,
        in StepScalars scalars, double clipScale, bool applyWeightDecay)
    {
        double lr = scalars.LearningRate, beta1 = scalars.Beta1, beta2 = scalars.Beta2, eps = scalars.Epsilon;
        int step = checked((int)scalars.OptimizerStep);
        double biasCorrection1 = 1 - Math.Pow(beta1, step);
        double biasCorrection2 = 1 - Math.Pow(beta2, step);
        double stepSize = lr / biasCorrection1;
        double biasCorrection2Sqrt = Math.Sqrt(biasCorrection2);
        for (int i = 0; i < parameters.Length; i++)
        {
            double grad = gradients[i] * clipScale;
            if (applyWeightDecay) parameters[i] *= 1 - lr * scalars.WeightDecay;           // param.mul_(1 - lr * weight_decay)
            firstMoment[i] += (grad - firstMoment[i]) * (1 - beta1);                       // exp_avg.lerp_(grad, 1 - beta1)
            secondMoment[i] = secondMoment[i] * beta2 + (1 - beta2) * grad * grad;         // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
            double denom = Math.Sqrt(secondMoment[i]) / biasCorrection2Sqrt + eps;         // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            parameters[i] -= stepSize * firstMoment[i] / denom;                            // param.addcdiv_(exp_avg, denom, value=-step_size)
        }
    }
}
