using VkDiffusion.Trainer.Experiments;

namespace VkDiffusion.Tests.Experiments;

public sealed class LbfgsTests
{
    /// <summary>f = Σ 100(x_{i+1} - x_i²)² + (1 - x_i)², minimum 0 at (1, ..., 1).</summary>
    private static double Rosenbrock(ReadOnlySpan<double> x, Span<double> gradient)
    {
        double value = 0;
        gradient.Clear();
        for (int i = 0; i + 1 < x.Length; i++)
        {
            double bend = x[i + 1] - x[i] * x[i], offset = 1 - x[i];
            value += 100 * bend * bend + offset * offset;
            gradient[i] += -400 * bend * x[i] - 2 * offset;
            gradient[i + 1] += 200 * bend;
        }
        return value;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(10)]
    public void Rosenbrock_reaches_its_minimum_with_analytic_gradients(int dimension)
    {
        var start = Enumerable.Range(0, dimension).Select(i => i % 2 == 0 ? -1.2 : 1.0).ToArray();
        var result = Lbfgs.Minimize(Rosenbrock, start);
        // Near the minimum f ≈ ½ eᵀHe with H's smallest eigenvalue ~0.4, so f < 1e-16 means |x - 1| ≲ 1e-7;
        // 1e-6 leaves room for the flat valley along which L-BFGS stops by the relative-decrease rule.
        Assert.True(result.Value < 1e-14, $"f = {result.Value} after {result.Iterations} iterations ({result.StopReason})");
        foreach (double coordinate in result.Minimum) Assert.Equal(1.0, coordinate, 1e-6);
    }

    [Fact]
    public void Rosenbrock_reaches_its_minimum_with_central_differences()
    {
        var objective = Lbfgs.WithCentralDifferences(x =>
        {
            var gradient = new double[x.Length];
            return Rosenbrock(x, gradient);
        });
        var result = Lbfgs.Minimize(objective, [-1.2, 1.0]);
        // Central differences with h = 1e-6 carry O(h²·f''') ≈ 1e-10 gradient error plus ~1e-10 rounding
        // (eps·f/h), so the iterate can stall only where |∇f| ~ 1e-9: within ~1e-5 of (1, 1).
        Assert.Equal(1.0, result.Minimum[0], 1e-5);
        Assert.Equal(1.0, result.Minimum[1], 1e-5);
    }

    [Fact]
    public void Quadratic_minimum_is_the_solution_of_the_linear_system()
    {
        // f = ½ xᵀMx - bᵀx with M = QᵀDQ symmetric positive definite (eigenvalues 1..100): minimum M⁻¹b.
        const int n = 8;
        var random = new Random(3);
        var q = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) q[i, j] = random.NextDouble() - 0.5;
        var matrix = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++)
                    matrix[i, j] += q[k, i] * (1 + 99.0 * k / (n - 1)) * q[k, j];
        for (int i = 0; i < n; i++) matrix[i, i] += 1; // keeps it well inside positive definiteness whatever Q is
        var rhs = Enumerable.Range(0, n).Select(i => Math.Sin(i + 1)).ToArray();

        double Quadratic(ReadOnlySpan<double> x, Span<double> gradient)
        {
            double value = 0;
            for (int i = 0; i < n; i++)
            {
                double row = 0;
                for (int j = 0; j < n; j++) row += matrix[i, j] * x[j];
                gradient[i] = row - rhs[i];
                value += 0.5 * x[i] * row - rhs[i] * x[i];
            }
            return value;
        }

        // Stop on the gradient alone: the default relative-decrease rule stops once f moves by < 1e-13·|f|, which
        // for a quadratic leaves |x - x*| ~ sqrt(1e-13) — fine for fitting, too loose to test convergence.
        var options = new LbfgsOptions { GradientTolerance = 1e-11, RelativeDecreaseTolerance = 0 };
        var result = Lbfgs.Minimize(Quadratic, new double[n], options);
        var expected = SolveLinearSystem(matrix, rhs);
        // With M's smallest eigenvalue ≥ 1, |x - x*| ≤ |∇f| / λ_min ≤ √n·1e-11 at the gradient stop; a stop on a
        // stalled line search (rounding of f near its minimum) still leaves |∇f| ≲ 1e-9, so 1e-8 holds either way.
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], result.Minimum[i], 1e-8);
    }

    private static double[] SolveLinearSystem(double[,] matrix, double[] rhs)
    {
        int n = rhs.Length;
        var a = (double[,])matrix.Clone();
        var b = (double[])rhs.Clone();
        for (int column = 0; column < n; column++)
        {
            int pivot = Enumerable.Range(column, n - column).MaxBy(row => Math.Abs(a[row, column]));
            for (int k = 0; k < n; k++) (a[column, k], a[pivot, k]) = (a[pivot, k], a[column, k]);
            (b[column], b[pivot]) = (b[pivot], b[column]);
            for (int row = column + 1; row < n; row++)
            {
                double factor = a[row, column] / a[column, column];
                for (int k = column; k < n; k++) a[row, k] -= factor * a[column, k];
                b[row] -= factor * b[column];
            }
        }
        var x = new double[n];
        for (int row = n - 1; row >= 0; row--)
        {
            double sum = b[row];
            for (int k = row + 1; k < n; k++) sum -= a[row, k] * x[k];
            x[row] = sum / a[row, row];
        }
        return x;
    }
}
