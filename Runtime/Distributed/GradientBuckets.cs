using VkDiffusion.Runtime.Graph;

namespace VkDiffusion.Runtime.Distributed;

/// <summary>Gradients summed across ranks together: copied after the op that last writes them into
/// <see cref="Exchange"/>, a host-visible tensor the host all-reduces in place, then copied back.</summary>
public sealed record GradientBucket(IReadOnlyList<Tensor> Gradients, Tensor Exchange, int Stage)
{
    public long ByteLength => Exchange.ByteLength;
}

/// <summary>
/// Cuts a training graph for data parallelism. Backward makes the parameters' gradients final in reverse layer
/// order; gradients are grouped in that order into buckets of about <c>bucketBytes</c>, and after the op that
/// finishes a bucket the graph copies it to host-visible memory and a new stage (command list) begins, so the host
/// can all-reduce that bucket while the device runs the rest of backward. The last stage starts by copying every
/// reduced bucket back; the ops that follow (gradient norm, optimizer) see the sums over all ranks.
/// </summary>
public sealed class GradientBuckets
{
    /// <summary>PyTorch DDP's default bucket size: large enough that one all-reduce's latency is small against its transfer.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    private GradientBuckets(IReadOnlyList<GradientBucket> buckets, IReadOnlyList<int> stageStarts)
    {
        Buckets = buckets;
        StageStarts = stageStarts;
    }

    /// <summary>In the order their gradients become final; bucket i is ready when stage <see cref="GradientBucket.Stage"/> has run.</summary>
    public IReadOnlyList<GradientBucket> Buckets { get; }
    /// <summary>Op indices where stages 1.. begin, for <see cref="CompiledGraph"/>.</summary>
    public IReadOnlyList<int> StageStarts { get; }
    /// <summary>The stage that copies the reduced gradients back and runs everything after backward: submit it once every bucket is reduced.</summary>
    public int UpdateStage => StageStarts.Count;
    public long TotalBytes => Buckets.Sum(bucket => bucket.ByteLength);

    /// <summary>Adds the bucket copies to <paramref name="graph"/> (before it is compiled) and says where its stages begin.</summary>
    public static GradientBuckets Insert(ComputeGraph graph, IReadOnlyList<Tensor> gradients, long bucketBytes = DefaultBucketBytes)
    {
        if (gradients.Count == 0) throw new ArgumentException("no gradients to exchange", nameof(gradients));
        int LastWriter(Tensor gradient)
        {
            for (int index = graph.Ops.Count - 1; index >= 0; index--)
                if (graph.Ops[index].Writes.Any(written => written.Storage == gradient.Storage)) return index;
            throw new ArgumentException($"no op writes {gradient.Name}");
        }
        var byFinalOp = gradients.Select(gradient => (Gradient: gradient, FinalOp: LastWriter(gradient))).OrderBy(g => g.FinalOp).ToList();
        int updateStart = byFinalOp[^1].FinalOp + 1;

        var groups = new List<List<(Tensor Gradient, int FinalOp)>>();
        long groupBytes = 0;
        foreach (var entry in byFinalOp)
        {
            // A gradient finished by the same op as the one before it cannot go to a later bucket: no op lies between.
            bool sameOp = groups.Count > 0 && groups[^1][^1].FinalOp == entry.FinalOp;
            if (groups.Count == 0 || (!sameOp && groupBytes + entry.Gradient.ByteLength > bucketBytes))
            {
                groups.Add([]);
                groupBytes = 0;
            }
            groups[^1].Add(entry);
            groupBytes += entry.Gradient.ByteLength;
        }

        var exchanges = groups.Select((group, index) => graph.NewTensor($"grad_exchange{index}", TensorRole.HostOutput,
            checked((int)(group.Sum(g => g.Gradient.ByteLength) / 4)))).ToList();
        // The copies back open the update; inserted first so the earlier insertion points keep their indices.
        for (int index = groups.Count - 1; index >= 0; index--)
        {
            IReadOnlyList<Tensor> members = groups[index].Select(g => g.Gradient).ToList();
            Tensor exchange = exchanges[index];
            graph.Insert(updateStart, $"reduced gradients {index} -> device", [exchange], members, commands => CopyBucket(commands, members, exchange, toExchange: false));
        }
        var copiesOut = new List<GraphOp>();
        for (int index = groups.Count - 1; index >= 0; index--)
        {
            IReadOnlyList<Tensor> members = groups[index].Select(g => g.Gradient).ToList();
            Tensor exchange = exchanges[index];
            copiesOut.Add(graph.Insert(groups[index][^1].FinalOp + 1, $"gradients {index} -> host", members, [exchange],
                commands => CopyBucket(commands, members, exchange, toExchange: true)));
        }
        copiesOut.Reverse();
        var ops = graph.Ops.ToList();
        // Each bucket's stage ends with its copy out; the copies back open the last stage.
        var stageStarts = copiesOut.Select(op => ops.IndexOf(op) + 1).ToList();
        var buckets = groups.Select((group, index) => new GradientBucket(group.Select(g => g.Gradient).ToList(), exchanges[index], index)).ToList();
        return new GradientBuckets(buckets, stageStarts);
    }

    private static void CopyBucket(Vulkan.CommandList commands, IReadOnlyList<Tensor> gradients, Tensor exchange, bool toExchange)
    {
        long offset = 0;
        foreach (Tensor gradient in gradients)
        {
            Vulkan.BufferSlice packed = exchange.Slice.Slice(offset, gradient.ByteLength);
            if (toExchange) commands.Copy(gradient.Slice, packed);
            else commands.Copy(packed, gradient.Slice);
            offset += gradient.ByteLength;
        }
    }
}
