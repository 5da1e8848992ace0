namespace VkDiffusion.Trainer.Experiments;

/// <summary>An objective for <see cref="Lbfgs"/>: returns f(x) and writes ∇f(x) into <c>gradient</c>.</summary>
public delegate double DifferentiableFunction(ReadOnlySpan<double> x, Span<double> gradient);

public sealed record LbfgsOptions
{
    public int MaxIterations { get; init; } = 1000;
    /// <summary>How many (s, y) pairs approximate the inverse Hessian.</summary>
    public int HistorySize { get; init; } = 10;
    /// <summary>Stop when max |∂f/∂x_i| falls below this.</summary>
    public double GradientTolerance { get; init; } = 1e-10;
    /// <summary>Stop when an iteration lowers f by less than this fraction of |f| (scale-free: the fit's Huber objective can be ~1e-8).</summary>
    public double RelativeDecreaseTolerance { get; init; } = 1e-13;
}

public sealed record LbfgsResult(double[] Minimum, double Value, int Iterations, int Evaluations, string StopReason);

/// <summary>
/// Limited-memory BFGS (Nocedal and Wright, Numerical Optimization, algorithms 7.4 and 7.5) with a line search
/// that enforces the strong Wolfe conditions (algorithms 3.5 and 3.6), so every accepted pair has s·y &gt; 0.
/// </summary>
public static class Lbfgs
{
    private const double SufficientDecrease = 1e-4, CurvatureCondition = 0.9;

    public static LbfgsResult Minimize(DifferentiableFunction objective, ReadOnlySpan<double> start, LbfgsOptions? options = null)
    {
        options ??= new LbfgsOptions();
        int dimension = start.Length;
        var x = start.ToArray();
        var gradient = new double[dimension];
        int evaluations = 1;
        double value = objective(x, gradient);
        if (!double.IsFinite(value)) return new LbfgsResult(x, value, 0, evaluations, "objective not finite at the start");

        var steps = new List<double[]>(); // s_k = x_{k+1} - x_k
        var gradientChanges = new List<double[]>(); // y_k = g_{k+1} - g_k
        var direction = new double[dimension];
        var nextX = new double[dimension];
        var nextGradient = new double[dimension];
        for (int iteration = 0; iteration < options.MaxIterations; iteration++)
        {
            if (MaxAbs(gradient) < options.GradientTolerance)
                return new LbfgsResult(x, value, iteration, evaluations, "gradient below tolerance");

            SearchDirection(gradient, steps, gradientChanges, direction);
            double slope = Dot(gradient, direction);
            if (slope >= 0)
            {
                // The curvature pairs went stale (rounding near the optimum): restart from steepest descent.
                steps.Clear();
                gradientChanges.Clear();
                for (int i = 0; i < dimension; i++) direction[i] = -gradient[i];
                slope = Dot(gradient, direction);
            }
            // Without curvature information the first trial step moves x by at most 1 in the sup norm.
            double initialStep = steps.Count == 0 ? Math.Min(1.0, 1.0 / MaxAbs(direction)) : 1.0;
            var search = StrongWolfeSearch(objective, x, value, gradient, direction, slope, initialStep, nextX, nextGradient);
            evaluations += search.Evaluations;
            if (!search.Found)
                return new LbfgsResult(x, value, iteration, evaluations, "line search found no decrease");

            var step = new double[dimension];
            var gradientChange = new double[dimension];
            for (int i = 0; i < dimension; i++)
            {
                step[i] = nextX[i] - x[i];
                gradientChange[i] = nextGradient[i] - gradient[i];
            }
            double previousValue = value;
            Array.Copy(nextX, x, dimension);
            Array.Copy(nextGradient, gradient, dimension);
            value = search.Value;

            if (Dot(step, gradientChange) > 1e-12 * Math.Sqrt(Dot(step, step) * Dot(gradientChange, gradientChange)))
            {
                steps.Add(step);
                gradientChanges.Add(gradientChange);
                if (steps.Count > options.HistorySize)
                {
                    steps.RemoveAt(0);
                    gradientChanges.RemoveAt(0);
                }
            }
            double scale = Math.Max(Math.Abs(previousValue), Math.Abs(value));
            if (previousValue - value <= options.RelativeDecreaseTolerance * scale)
                return new LbfgsResult(x, value, iteration + 1, evaluations, "relative decrease below tolerance");
        }
        return new LbfgsResult(x, value, options.MaxIterations, evaluations, "iteration limit");
    }

    /// <summary>Wraps a value-only function with central-difference gradients (step h·max(1, |x_i|), error O(h²)).</summary>
    public static DifferentiableFunction WithCentralDifferences(Func<double[], double> function, double relativeStep = 1e-6) =>
        (x, gradient) =>
        {
            var point = x.ToArray();
            for (int i = 0; i < point.Length; i++)
            {
                double original = point[i], h = relativeStep * Math.Max(1.0, Math.Abs(original));
                point[i] = original + h;
                double above = function(point);
                point[i] = original - h;
                double below = function(point);
                point[i] = original;
                gradient[i] = (above - below) / (2 * h);
            }
            return function(point);
        };

    /// <summary>Two-loop recursion: direction = -H·g with H the L-BFGS inverse-Hessian approximation.</summary>
    private static void SearchDirection(double[] gradient, List<double[]> steps, List<double[]> gradientChanges, double[] direction)
    {
        int count = steps.Count;
        var alphas = new double[count];
        for (int i = 0; i < direction.Length; i++) direction[i] = -gradient[i];
        for (int k = count - 1; k >= 0; k--)
        {
            alphas[k] = Dot(steps[k], direction) / Dot(gradientChanges[k], steps[k]);
            Axpy(-alphas[k], gradientChanges[k], direction);
        }
        if (count > 0)
        {
            double[] lastStep = steps[^1], lastChange = gradientChanges[^1];
            double gamma = Dot(lastStep, lastChange) / Dot(lastChange, lastChange);
            for (int i = 0; i < direction.Length; i++) direction[i] *= gamma;
        }
        for (int k = 0; k < count; k++)
        {
            double beta = Dot(gradientChanges[k], direction) / Dot(gradientChanges[k], steps[k]);
            Axpy(alphas[k] - beta, steps[k], direction);
        }
    }

    private readonly record struct SearchResult(bool Found, double Value, int Evaluations);

    private static SearchResult StrongWolfeSearch(DifferentiableFunction objective, double[] x, double value, double[] gradient,
        double[] direction, double slope, double initialStep, double[] trialX, double[] trialGradient)
    {
        int evaluations = 0;
        double Evaluate(double stepLength, out double trialSlope)
        {
            for (int i = 0; i < x.Length; i++) trialX[i] = x[i] + stepLength * direction[i];
            evaluations++;
            double trialValue = objective(trialX, trialGradient);
            trialSlope = Dot(trialGradient, direction);
            return trialValue;
        }

        double previousStep = 0, previousValue = value, previousSlope = slope;
        double stepLength = initialStep;
        const int maxBracketTrials = 60;
        for (int trial = 0; trial < maxBracketTrials; trial++)
        {
            double trialValue = Evaluate(stepLength, out double trialSlope);
            if (!double.IsFinite(trialValue) || trialValue > value + SufficientDecrease * stepLength * slope
                || (trial > 0 && trialValue >= previousValue))
                return Zoom(previousStep, previousValue, previousSlope, stepLength, trialValue, trialSlope);
            if (Math.Abs(trialSlope) <= -CurvatureCondition * slope) return new SearchResult(true, trialValue, evaluations);
            if (trialSlope >= 0)
                return Zoom(stepLength, trialValue, trialSlope, previousStep, previousValue, previousSlope);
            previousStep = stepLength;
            previousValue = trialValue;
            previousSlope = trialSlope;
            stepLength *= 2;
        }
        return new SearchResult(false, value, evaluations);

        // Invariant: the interval between low and high holds a strong-Wolfe point; low has the lowest value so far.
        SearchResult Zoom(double low, double lowValue, double lowSlope, double high, double highValue, double highSlope)
        {
            const int maxZoomTrials = 60;
            for (int trial = 0; trial < maxZoomTrials; trial++)
            {
                double candidate = Interpolate(low, lowValue, lowSlope, high, highValue, highSlope);
                double candidateValue = Evaluate(candidate, out double candidateSlope);
                if (!double.IsFinite(candidateValue) || candidateValue > value + SufficientDecrease * candidate * slope
                    || candidateValue >= lowValue)
                {
                    high = candidate;
                    highValue = candidateValue;
                    highSlope = candidateSlope;
                }
                else
                {
                    if (Math.Abs(candidateSlope) <= -CurvatureCondition * slope) return new SearchResult(true, candidateValue, evaluations);
                    if (candidateSlope * (high - low) >= 0)
                    {
                        high = low;
                        highValue = lowValue;
                        highSlope = lowSlope;
                    }
                    low = candidate;
                    lowValue = candidateValue;
                    lowSlope = candidateSlope;
                }
                if (Math.Abs(high - low) <= 1e-16 * Math.Max(1.0, Math.Abs(low))) break;
            }
            // The interval collapsed: accept the best point if it decreased f at all (sufficient for progress;
            // the pair is dropped later if its curvature is not positive).
            if (low > 0 && lowValue < value)
            {
                double finalValue = Evaluate(low, out _);
                return new SearchResult(true, finalValue, evaluations);
            }
            return new SearchResult(false, value, evaluations);
        }
    }

    /// <summary>Minimiser of the cubic through both end points' values and slopes, kept inside the middle 80% of the interval.</summary>
    private static double Interpolate(double low, double lowValue, double lowSlope, double high, double highValue, double highSlope)
    {
        double left = Math.Min(low, high), right = Math.Max(low, high), width = right - left;
        double d1 = lowSlope + highSlope - 3 * (lowValue - highValue) / (low - high);
        double discriminant = d1 * d1 - lowSlope * highSlope;
        double candidate = double.NaN;
        if (discriminant >= 0 && double.IsFinite(lowValue) && double.IsFinite(highValue))
        {
            double d2 = Math.Sign(high - low) * Math.Sqrt(discriminant);
            candidate = high - (high - low) * (highSlope + d2 - d1) / (highSlope - lowSlope + 2 * d2);
        }
        double margin = 0.1 * width;
        if (!double.IsFinite(candidate) || candidate < left + margin || candidate > right - margin) candidate = 0.5 * (left + right);
        return candidate;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static void Axpy(double scale, ReadOnlySpan<double> source, Span<double> target)
    {
        for (int i = 0; i < source.Length; i++) target[i] += scale * source[i];
    }

    private static double MaxAbs(ReadOnlySpan<double> values)
    {
        double max = 0;
        foreach (double value in values) max = Math.Max(max, Math.Abs(value));
        return max;
    }
}
