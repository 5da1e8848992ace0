using VkDiffusion.Runtime.Graph;
using VkDiffusion.Runtime.Kernels;

namespace VkDiffusion.Model;

/// <summary>
/// The transformer's building blocks as graph ops with their backward registered on the tape. Each
/// function appends its forward ops now and, through <see cref="Tape.OnBackward"/>, its backward ops
/// when the tape runs backwards.
/// </summary>
public static class Layers
{
    public static Tensor Embedding(Tape tape, string name, Tensor tokens, Tensor table, int tokenCount, int vocabRows, int channelCount)
    {
        ComputeGraph graph = tape.Graph;
        Tensor y = graph.NewTensor(name, TensorRole.Transient, tokenCount, channelCount);
        graph.Add(name, [tokens, table], [y], c => EmbeddingKernels.Forward(c, tokens.Slice, table.Slice, y.Slice, tokenCount, vocabRows, channelCount));
        tape.OnBackward(() =>
        {
            Tensor dy = tape.GradientOf(y);
            var (dTable, accumulate) = tape.Contribute(table);
            Tensor scratch = graph.NewScratch(name + ".sort_scratch", EmbeddingKernels.ScratchBytes(tokenCount));
            graph.Add(name + ".backward", [tokens, dy, dTable], [dTable, scratch],
                c => EmbeddingKernels.Backward(c, tokens.Slice, dy.Slice, dTable.Slice, scratch.Slice, tokenCount, vocabRows, channelCount, accumulate));
        });
        return y;
    }

    public static Tensor RmsNorm(Tape tape, string name, Tensor x, Tensor weight, int rowCount, int channelCount)
    {
        ComputeGraph graph = tape.Graph;
        Tensor y = graph.NewTensor(name, TensorRole.Transient, rowCount, channelCount);
        Tensor rstd = graph.NewTensor(name + ".rstd", TensorRole.Transient, rowCount);
        graph.Add(name, [x, weight], [y, rstd], c => RmsNormKernels.Forward(c, x.Slice, weight.Slice, y.Slice, rstd.Slice, rowCount, channelCount));
        tape.OnBackward(() =>
        {
            Tensor dy = tape.GradientOf(y);
            var (dx, accumulateDx) = tape.Contribute(x);
            var (dWeight, accumulateDWeight) = tape.Contribute(weight);
            Tensor scratch = graph.NewScratch(name + ".scratch", RmsNormKernels.ScratchBytes(rowCount, channelCount));
            graph.Add(name + ".backward", [x, weight, rstd, dy, dx, dWeight], [dx, dWeight, scratch],
                c => RmsNormKernels.Backward(c, x.Slice, weight.Slice, rstd.Slice, dy.Slice, dx.Slice, dWeight.Slice, scratch.Slice,
                    rowCount, channelCount, accumulateDx, accumulateDWeight));
        });
        return y;
    }

    /// <summary>
    /// y = x · Wᵀ with W stored [outFeatures, inFeatures]. Under mixed precision the products read 16-bit copies of
    /// x, W and dy and accumulate in fp32; y, dx and dW are fp32.
    /// </summary>
    public static Tensor Linear(Tape tape, string name, Tensor x, Tensor weight, int rowCount, int inFeatures, int outFeatures, MixedPrecision mixed)
    {
        ComputeGraph graph = tape.Graph;
        Precision operands = mixed.Precision;
        Tensor y = graph.NewTensor(name, TensorRole.Transient, rowCount, outFeatures);
        Tensor xOperand = mixed.Operand(name + ".input", x), wOperand = mixed.Weight(weight);
        graph.Add(name, [xOperand, wOperand], [y],
            c => MatmulKernels.Forward(c, xOperand.Slice, wOperand.Slice, y.Slice, rowCount, inFeatures, outFeatures, operands: operands));
        tape.OnBackward(() =>
        {
            Tensor dyOperand = mixed.Operand(name + ".output_gradient", tape.GradientOf(y));
            var (dWeight, accumulateWeight) = tape.Contribute(weight);
            graph.Add(name + ".backward_weight", [dyOperand, xOperand, dWeight], [dWeight],
                c => MatmulKernels.BackwardWeight(c, dyOperand.Slice, xOperand.Slice, dWeight.Slice, rowCount, inFeatures, outFeatures, accumulateWeight, operands));
            if (!tape.RequiresGradient(x)) return;
            var (dx, accumulateInput) = tape.Contribute(x);
            graph.Add(name + ".backward_input", [dyOperand, wOperand, dx], [dx],
                c => MatmulKernels.BackwardInput(c, dyOperand.Slice, wOperand.Slice, dx.Slice, rowCount, inFeatures, outFeatures, accumulateInput, operands));
        });
        return y;
    }

    /// <summary>
    /// Rotates Q and K of the fused QKV activations and returns what attention reads: qkv itself, rotated in place, or
    /// with <paramref name="sixteenBitInput"/> a new 16-bit tensor of its precision holding the rotated Q and K and V, written
    /// in the same pass (qkv stays as the projection wrote it). The backward rotates the gradient back in place.
    /// </summary>
    public static Tensor Rope(Tape tape, string name, Tensor qkv, Tensor positions, int tokenCount, int headCount, int headDim, float theta,
        MixedPrecision? sixteenBitInput = null)
    {
        ComputeGraph graph = tape.Graph;
        Tensor rotated = qkv;
        if (sixteenBitInput is null)
            graph.Add(name, [qkv, positions], [qkv], c => RopeKernels.Forward(c, qkv.Slice, positions.Slice, tokenCount, headCount, headDim, theta));
        else
        {
            rotated = sixteenBitInput.NewOperand(name, [.. qkv.Shape]);
            graph.Add(name, [qkv, positions], [rotated], c => RopeKernels.ForwardTo16Bit(c, qkv.Slice, positions.Slice, rotated.Slice,
                sixteenBitInput.Precision, tokenCount, headCount, headDim, theta));
        }
        tape.OnBackward(() =>
        {
            // The rounding to 16 bits passes the gradient through unchanged (as PyTorch's casts do).
            if (rotated != qkv) tape.PassThrough(qkv, tape.GradientOf(rotated));
            Tensor dQkv = tape.GradientOf(qkv);
            graph.Add(name + ".backward", [dQkv, positions], [dQkv],
                c => RopeKernels.Backward(c, dQkv.Slice, positions.Slice, tokenCount, headCount, headDim, theta));
        });
        return rotated;
    }

    /// <summary>Fused attention on qkv as it is stored: fp32, or fp16 / bf16 under mixed precision; output and gradients fp32.</summary>
    public static Tensor Attention(Tape tape, string name, Tensor qkv, int batchCount, int sequenceLength, int headCount, int headDim, bool causal)
    {
        ComputeGraph graph = tape.Graph;
        int tokenCount = batchCount * sequenceLength;
        Precision inputs = qkv.Type switch
        {
            ElementType.Float16 => Precision.Fp16,
            ElementType.BFloat16 => Precision.Bf16,
            _ => Precision.Fp32,
        };
        Tensor output = graph.NewTensor(name, TensorRole.Transient, tokenCount, headCount * headDim);
        Tensor logSumExp = graph.NewTensor(name + ".lse", TensorRole.Transient, batchCount * headCount * sequenceLength);
        graph.Add(name, [qkv], [output, logSumExp],
            c => AttentionKernels.Forward(c, qkv.Slice, output.Slice, logSumExp.Slice, batchCount, sequenceLength, headCount, headDim, causal, inputs));
        tape.OnBackward(() =>
        {
            Tensor dOutput = tape.GradientOf(output);
            var (dQkv, accumulate) = tape.Contribute(qkv);
            if (accumulate) throw new InvalidOperationException($"{name}: the fused QKV activations feed only attention");
            Tensor scratch = graph.NewScratch(name + ".scratch", AttentionKernels.ScratchBytes(batchCount, sequenceLength, headCount));
            graph.Add(name + ".backward", [qkv, output, logSumExp, dOutput], [dQkv, scratch],
                c => AttentionKernels.Backward(c, qkv.Slice, output.Slice, logSumExp.Slice, dOutput.Slice, dQkv.Slice, scratch.Slice,
                    batchCount, sequenceLength, headCount, headDim, causal, inputs));
        });
        return output;
    }

    public static Tensor Swiglu(Tape tape, string name, Tensor gateUp, int rowCount, int hiddenCount)
    {
        ComputeGraph graph = tape.Graph;
        Tensor y = graph.NewTensor(name, TensorRole.Transient, rowCount, hiddenCount);
        graph.Add(name, [gateUp], [y], c => SwigluKernels.Forward(c, gateUp.Slice, y.Slice, rowCount, hiddenCount));
        tape.OnBackward(() =>
        {
            Tensor dy = tape.GradientOf(y);
            var (dGateUp, accumulate) = tape.Contribute(gateUp);
            if (accumulate) throw new InvalidOperationException($"{name}: the gate/up activations feed only SwiGLU");
            graph.Add(name + ".backward", [gateUp, dy], [dGateUp], c => SwigluKernels.Backward(c, gateUp.Slice, dy.Slice, dGateUp.Slice, rowCount, hiddenCount));
        });
        return y;
    }

    /// <summary>y = x + branch; the backward hands dy to both unchanged.</summary>
    public static Tensor Residual(Tape tape, string name, Tensor x, Tensor branch)
    {
        ComputeGraph graph = tape.Graph;
        Tensor y = graph.NewTensor(name, TensorRole.Transient, [.. x.Shape]);
        graph.Add(name, [x, branch], [y], c => BasicKernels.Add(c, x.Slice, branch.Slice, y.Slice));
        tape.OnBackward(() =>
        {
            Tensor dy = tape.GradientOf(y);
            tape.PassThrough(branch, dy);
            tape.PassThrough(x, dy);
        });
        return y;
    }

    /// <summary>Inverted dropout on a residual branch (training only; off by default).</summary>
    public static Tensor Dropout(Tape tape, string name, Tensor x, Tensor stepScalars, float probability, uint streamId)
    {
        if (probability <= 0) return x;
        ComputeGraph graph = tape.Graph;
        int count = checked((int)x.ElementCount);
        Tensor y = graph.NewTensor(name, TensorRole.Transient, [.. x.Shape]);
        graph.Add(name, [x, stepScalars], [y], c => DropoutKernels.Forward(c, x.Slice, y.Slice, stepScalars.Slice, probability, streamId, count));
        tape.OnBackward(() =>
        {
            Tensor dy = tape.GradientOf(y);
            var (dx, accumulate) = tape.Contribute(x);
            if (accumulate) throw new InvalidOperationException($"{name}: dropout's input feeds only dropout");
            graph.Add(name + ".backward", [dy, stepScalars], [dx],
                c => DropoutKernels.Backward(c, dy.Slice, dx.Slice, stepScalars.Slice, probability, streamId, count));
        });
        return y;
    }
}
