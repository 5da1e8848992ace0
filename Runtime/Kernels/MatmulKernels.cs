using VkDiffusion.Runtime.Vulkan;

namespace VkDiffusion.Runtime.Kernels;

/// <summary>Which matmul implementation runs: chosen per device, or forced with VKDIFF_MATMUL.</summary>
public enum MatmulPath
{
    /// <summary>One output per invocation, scalar loads: slow, simple, the fallback for driver bugs.</summary>
    Reference,
    /// <summary>Register blocks without shared memory, vec4 storage-buffer loads.</summary>
    RegisterBlocked,
    /// <summary>
    /// Register blocks reading both operands through texel buffers: the fast path on CPU devices, whose
    /// texel fetch gathers all SIMD lanes at once (lavapipe, 1024^3: ~2.3x the storage-buffer loads; docs/benchmarks.md).
    /// </summary>
    RegisterBlockedTexels,
    /// <summary>Shared-memory tiles with register blocks: the fast path on GPUs.</summary>
    Tiled,
    /// <summary>
    /// Cooperative matrices (tensor cores, WMMA, XMX) on fp16 copies of the operands, fp32 accumulation; tile shape
    /// from what the device lists. Needs VK_KHR_cooperative_matrix with an fp16 x fp16 + fp32 subgroup shape.
    /// </summary>
    CooperativeMatrix,
}

/// <summary>
/// Records linear-layer products (weights row-major [out, in], rows of activations [rows, features]):
/// forward, the gradient with respect to the input, and the gradient with respect to the weight, each
/// optionally accumulating into its output and optionally batched (element strides per operand). The two operands
/// are fp32, or both fp16 or bf16 (the operands argument: mixed precision); the output and the accumulation
/// are always fp32. Deterministic: every output is one invocation's fixed-order sum, no atomics.
/// </summary>
public static class MatmulKernels
{
    /// <summary>reference | register | texel | tiled | coopmat: forces one implementation on any device.</summary>
    public const string PathVariable = "VKDIFF_MATMUL";

    /// <summary>auto (default) | off | N: split-K by shape and device, never, or into N slices wherever the reduction allows.</summary>
    public const string SplitVariable = "VKDIFF_SPLIT_K";

    /// <summary>
    /// auto (default) | small | large: each invocation's block of outputs on the register, texel and shared-tile paths, by
    /// the product's shape, or always the path's smaller (4x4) or larger one (8x8; 8x16 on texels).
    /// </summary>
    public const string BlocksVariable = "VKDIFF_MATMUL_BLOCKS";

    /// <summary>MxNxK: the cooperative-matrix tile (of those matmul.comp is built for and the device lists) over the first listed.</summary>
    public const string CooperativeTileVariable = "VKDIFF_COOPMAT_TILE";

    // A split-K slice reduces at least this many steps (and a multiple of SplitGranularity, which keeps vec4 loads
    // aligned and fills whole shared-memory k-steps of every variant).
    private const int MinSplitLength = 256;
    private const int SplitGranularity = 64;

    /// <summary>Y[M,N] (+)= X[M,K] · W[N,K]^T.</summary>
    public static void Forward(CommandList commands, BufferSlice x, BufferSlice w, BufferSlice y, int rowCount, int inFeatures, int outFeatures,
        bool accumulate = false, Precision operands = Precision.Fp32) =>
        Forward(commands, x, w, y, rowCount, inFeatures, outFeatures, 1, 0, 0, 0, accumulate, operands);

    /// <summary>dX[M,K] (+)= dY[M,N] · W[N,K].</summary>
    public static void BackwardInput(CommandList commands, BufferSlice dy, BufferSlice w, BufferSlice dx, int rowCount, int inFeatures, int outFeatures,
        bool accumulate = false, Precision operands = Precision.Fp32) =>
        BackwardInput(commands, dy, w, dx, rowCount, inFeatures, outFeatures, 1, 0, 0, 0, accumulate, operands);

    /// <summary>dW[N,K] (+)= dY[M,N]^T · X[M,K].</summary>
    public static void BackwardWeight(CommandList commands, BufferSlice dy, BufferSlice x, BufferSlice dw, int rowCount, int inFeatures, int outFeatures,
        bool accumulate = false, Precision operands = Precision.Fp32) =>
        BackwardWeight(commands, dy, x, dw, rowCount, inFeatures, outFeatures, 1, 0, 0, 0, accumulate, operands);

    /// <summary>
    /// Batched forward: for b &lt; batchCount, Y_b = X_b · W_b^T, where operand b starts
    /// b * (its batch stride) elements into its slice (a stride of 0 shares the operand across the batch).
    /// E.g. attention scores S_b[T,T] = Q_b[T,d] · K_b[T,d]^T.
    /// </summary>
    public static void Forward(CommandList commands, BufferSlice x, BufferSlice w, BufferSlice y, int rowCount, int inFeatures, int outFeatures,
        int batchCount, long xBatchStride, long wBatchStride, long yBatchStride, bool accumulate = false, Precision operands = Precision.Fp32)
    {
        CheckShape(rowCount, inFeatures, outFeatures, batchCount);
        int bytes = operands.ElementBytes();
        Record(commands, new Problem(rowCount, outFeatures, inFeatures, batchCount,
            new Operand(x, inFeatures, 1, xBatchStride, "x", bytes),
            new Operand(w, inFeatures, 1, wBatchStride, "w", bytes),
            new Operand(y, outFeatures, 0, yBatchStride, "y", sizeof(float)), accumulate, operands));
    }

    /// <summary>
    /// Batched input gradient: dX_b = dY_b · W_b (operand b starts b * its batch stride elements in).
    /// E.g. attention output O_b[T,d] = P_b[T,T] · V_b[T,d] (dy = P, w = V, inFeatures = d, outFeatures = T).
    /// </summary>
    public static void BackwardInput(CommandList commands, BufferSlice dy, BufferSlice w, BufferSlice dx, int rowCount, int inFeatures, int outFeatures,
        int batchCount, long dyBatchStride, long wBatchStride, long dxBatchStride, bool accumulate = false, Precision operands = Precision.Fp32)
    {
        CheckShape(rowCount, inFeatures, outFeatures, batchCount);
        int bytes = operands.ElementBytes();
        // A(i=m, r=n) = dY[m, n]; B(j=k, r=n) = W[n, k]: unit stride along j.
        Record(commands, new Problem(rowCount, inFeatures, outFeatures, batchCount,
            new Operand(dy, outFeatures, 1, dyBatchStride, "dy", bytes),
            new Operand(w, 1, inFeatures, wBatchStride, "w", bytes),
            new Operand(dx, inFeatures, 0, dxBatchStride, "dx", sizeof(float)), accumulate, operands));
    }

    /// <summary>Batched weight gradient: dW_b = dY_b^T · X_b (operand b starts b * its batch stride elements in).</summary>
    public static void BackwardWeight(CommandList commands, BufferSlice dy, BufferSlice x, BufferSlice dw, int rowCount, int inFeatures, int outFeatures,
        int batchCount, long dyBatchStride, long xBatchStride, long dwBatchStride, bool accumulate = false, Precision operands = Precision.Fp32)
    {
        CheckShape(rowCount, inFeatures, outFeatures, batchCount);
        int bytes = operands.ElementBytes();
        // A(i=n, r=m) = dY[m, n]; B(j=k, r=m) = X[m, k]: both unit stride along their row index.
        Record(commands, new Problem(outFeatures, inFeatures, rowCount, batchCount,
            new Operand(dy, 1, outFeatures, dyBatchStride, "dy", bytes),
            new Operand(x, 1, inFeatures, xBatchStride, "x", bytes),
            new Operand(dw, inFeatures, 0, dwBatchStride, "dw", sizeof(float)), accumulate, operands));
    }

    /// <summary>Floating-point operations of one product: 2 · M · N · K per batch entry.</summary>
    public static double Flops(int rowCount, int inFeatures, int outFeatures, int batchCount = 1) =>
        2.0 * rowCount * inFeatures * outFeatures * batchCount;

    private static readonly ThreadOverride<MatmulPath> forcedPath = new();
    private static readonly ThreadOverride<int> forcedSplitCount = new();

    /// <summary>
    /// Forces a path and/or a split count for products recorded on this thread until the result is disposed, over the
    /// device's choice and the environment: the self-test and the benchmarks compare paths in one process.
    /// </summary>
    public static IDisposable Override(MatmulPath? path = null, int? splitCount = null)
    {
        IDisposable pathScope = forcedPath.Force(path), splitScope = forcedSplitCount.Force(splitCount);
        return new OverrideScope(pathScope, splitScope);
    }

    private sealed class OverrideScope(IDisposable pathScope, IDisposable splitScope) : IDisposable
    {
        public void Dispose()
        {
            splitScope.Dispose();
            pathScope.Dispose();
        }
    }

    /// <summary>
    /// The implementation this device gets for fp32 operands, unless VKDIFF_MATMUL (or <see cref="Override"/>) forces
    /// one: the device's <see cref="KernelProfile"/> (texel loads on lavapipe, storage loads on other host processors,
    /// shared tiles on GPUs).
    /// </summary>
    public static MatmulPath ChoosePath(DeviceInfo device) => ForcedPath() ?? KernelProfile.For(device).Fp32Matmul;

    /// <summary>
    /// The implementation for operands in <paramref name="operands"/>: as <see cref="ChoosePath(DeviceInfo)"/>, except that
    /// fp16 operands on a GPU with a usable cooperative-matrix shape go to the matrix units unless a path is forced, and
    /// that 16-bit operands take the register path for the texel one and bf16 the shared-tile path for the
    /// cooperative-matrix one (matmul.comp builds neither variant).
    /// </summary>
    public static MatmulPath ChoosePath(GpuContext context, Precision operands)
    {
        MatmulPath path = ForcedPath()
            ?? (operands == Precision.Fp16 && KernelProfile.For(context.Info).PrefersMatrixUnits && CooperativeMatrixTile(context, out _) is not null
                ? MatmulPath.CooperativeMatrix
                : ChoosePath(context.Info));
        return (operands, path) switch
        {
            (not Precision.Fp32, MatmulPath.RegisterBlockedTexels) => MatmulPath.RegisterBlocked,
            (Precision.Bf16, MatmulPath.CooperativeMatrix) => MatmulPath.Tiled,
            _ => path,
        };
    }

    private static MatmulPath? ForcedPath()
    {
        if (forcedPath.Value is { } path) return path;
        string? forced = KernelSwitches.Get(PathVariable);
        return forced?.Trim().ToLowerInvariant() switch
        {
            null or "" => null,
            "reference" or "simple" => MatmulPath.Reference,
            "register" or "registers" => MatmulPath.RegisterBlocked,
            "texel" or "texels" => MatmulPath.RegisterBlockedTexels,
            "tiled" or "shared" => MatmulPath.Tiled,
            "coopmat" => MatmulPath.CooperativeMatrix,
            _ => throw new InvalidInputException($"{PathVariable}={forced} is not a matmul path; use reference, register, texel, tiled or coopmat."),
        };
    }

    /// <summary>
    /// How many slices the reduction of an M x N x R product (batchCount of them) is split into on this device: enough
    /// that the grid has about <see cref="TargetWorkgroups"/> workgroups when its output tiles alone leave most of
    /// the device idle, each slice at least <see cref="MinSplitLength"/> long. 1 means no split.
    /// </summary>
    public static int SplitCount(DeviceInfo device, long outputTiles, int reductionLength)
    {
        int maxSplits = Math.Max(1, reductionLength / MinSplitLength);
        if (forcedSplitCount.Value is { } overridden) return Math.Clamp(overridden, 1, maxSplits);
        if (ForcedSplitCount() is int splits) return Math.Min(splits, maxSplits);
        if (outputTiles * 2 > TargetWorkgroups(device)) return 1;
        return (int)Math.Clamp(TargetWorkgroups(device) / outputTiles, 1, maxSplits);
    }

    /// <summary>VKDIFF_SPLIT_K as a slice count (1 for off), or null for auto (the device and shape decide).</summary>
    public static int? ForcedSplitCount()
    {
        string? forced = KernelSwitches.Get(SplitVariable)?.Trim().ToLowerInvariant();
        return forced switch
        {
            null or "auto" => null,
            "off" or "0" => 1,
            _ when int.TryParse(forced, out int splits) && splits >= 1 => splits,
            _ => throw new InvalidInputException($"{SplitVariable}={forced} is not a split setting; use auto, off or a positive number of slices."),
        };
    }

    private static long TargetWorkgroups(DeviceInfo device) => KernelProfile.For(device).TargetWorkgroups;

    // An operand seen as a 2-D array: element (row, r) of batch b at b*BatchStride + row*RowStride + r*ReductionStride,
    // each element ElementBytes long. For the output, ReductionStride is unused (columns are contiguous).
    private readonly record struct Operand(BufferSlice Slice, long RowStride, long ReductionStride, long BatchStride, string Name, int ElementBytes);

    // C[b][i][j] (+)= sum_r A(b,i,r) B(b,j,r), i < M, j < N, r < R. Operands: the storage format of A and B.
    private readonly record struct Problem(int M, int N, int R, int BatchCount, Operand A, Operand B, Operand C, bool Accumulate, Precision Operands);

    private readonly record struct MatmulPush(
        uint M, uint N, uint R, uint Accumulate,
        uint AOffset, uint AStrideI, uint AStrideR, uint ABatch,
        uint BOffset, uint BStrideJ, uint BStrideR, uint BBatch,
        uint COffset, uint CStrideI, uint CBatch,
        uint SplitCount, uint SplitLength, uint CSplit);

    private readonly record struct SplitReducePush(
        uint M, uint N, uint Batch, uint SplitCount, uint PartialSplit, uint Accumulate, uint COffset, uint CStrideI, uint CBatch);

    // A workgroup of GroupX x GroupY invocations computes a TileM x TileN block of C. Texels: a and b are read through
    // texel buffers (storage buffers otherwise). Vec4Loads: a and b may be read as vec4s (fp32x4 texels with Texels)
    // where their alignment allows.
    private readonly record struct Variant(string Name, uint GroupX, uint GroupY, uint TileM, uint TileN, bool Texels = false, bool Vec4Loads = false)
    {
        // Register-blocked variants: each invocation owns a blockM x blockN block of outputs.
        public static Variant Blocked(string name, uint groupX, uint groupY, uint blockM, uint blockN, bool texels = false, bool vec4Loads = false) =>
            new(name, groupX, groupY, groupY * blockM, groupX * blockN, texels, vec4Loads);
    }

    private static void CheckShape(int rowCount, int inFeatures, int outFeatures, int batchCount)
    {
        if (rowCount <= 0 || inFeatures <= 0 || outFeatures <= 0 || batchCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(rowCount),
                $"matmul shape rows {rowCount}, in {inFeatures}, out {outFeatures}, batch {batchCount} must be positive");
    }

    private static Variant ChooseVariant(GpuContext context, MatmulPath path, int m, int n, int batchCount, Precision operands)
    {
        // 16-bit operands: the fp32 variant's shape under the name with the storage suffix (the path is one that has it).
        if (operands != Precision.Fp32)
        {
            Variant variant = ChooseVariant(context, path, m, n, batchCount, Precision.Fp32);
            return variant with { Name = variant.Name + operands.VariantSuffix() };
        }
        long outputs = (long)m * n;
        bool? large = ForcedLargeBlocks();
        return path switch
        {
            MatmulPath.Reference => Variant.Blocked("matmul_simple", 16, 16, 1, 1),
            MatmulPath.RegisterBlockedTexels => TexelVariant(m, n, batchCount, large),
            MatmulPath.CooperativeMatrix => CooperativeMatrixVariant(context),
            // CPU: 8x8 outputs per invocation amortise each per-lane load over 8 FMAs (4x4 ran at half the speed
            // at 1024^3; 8x16 and 16x16 were no faster); 64-invocation workgroups, since lavapipe pays a fixed
            // cost per workgroup. Products with fewer than 8 such workgroups of 8x8 blocks use 4x4 blocks so
            // every core still gets several workgroups.
            MatmulPath.RegisterBlocked => large ?? outputs >= 8 * 64 * 64
                ? Variant.Blocked("matmul_reg8x8", 8, 8, 8, 8, vec4Loads: true)
                : Variant.Blocked("matmul_reg4x4", 8, 8, 4, 4, vec4Loads: true),
            _ => large ?? (m >= 512 && n >= 512) ? Variant.Blocked("matmul_tiled8x8", 16, 16, 8, 8) : Variant.Blocked("matmul_tiled4x4", 16, 16, 4, 4),
        };
    }

    // VKDIFF_MATMUL_BLOCKS: null for the shape's choice.
    private static bool? ForcedLargeBlocks() => KernelSwitches.Get(BlocksVariable)?.Trim().ToLowerInvariant() switch
    {
        null or "auto" => null,
        "small" => false,
        "large" => true,
        string other => throw new InvalidInputException($"{BlocksVariable}={other} is not a block choice; use auto, small or large."),
    };

    // The cooperative-matrix tile shapes matmul.comp is built for, best first; a device gets the first it lists (unless
    // VKDIFF_COOPMAT_TILE names another it lists).
    public static readonly (uint M, uint N, uint K)[] CooperativeMatrixTiles = [(16, 16, 16), (16, 8, 16), (8, 16, 16), (8, 8, 8)];
    // Subgroups per workgroup along i and j and accumulator tiles per subgroup along each (SG_M, SG_N, CM_TILES in matmul.comp).
    private const uint CooperativeSubgroupsM = 2, CooperativeSubgroupsN = 2, CooperativeTilesPerSubgroup = 2;

    /// <summary>The cooperative-matrix tile (M, N, K) this device's matmuls use, or why it has none.</summary>
    public static (uint M, uint N, uint K)? CooperativeMatrixTile(GpuContext context, out string whyNot)
    {
        DeviceInfo device = context.Info;
        whyNot = "";
        if (!context.CooperativeMatrixEnabled)
        {
            whyNot = $"{device.Name} does not offer VK_KHR_cooperative_matrix on Vulkan 1.3 with maintenance4 and the Vulkan memory model";
            return null;
        }
        // The kernel lays its subgroups out from the workgroup size, so the subgroup size must be the one reported (required
        // at pipeline creation where the device varies it).
        if (CooperativeMatrixSubgroup.For(device, out whyNot) is null) return null;
        var listed = device.CooperativeMatrixShapes.Where(s => s.IsSubgroupScope && s.IsFloat16WithFloat32Accumulator).ToList();
        bool Listed((uint M, uint N, uint K) tile) => listed.Any(s => s.M == tile.M && s.N == tile.N && s.K == tile.K);
        if (KernelSwitches.Get(CooperativeTileVariable)?.Trim().ToLowerInvariant() is string forced)
        {
            var named = CooperativeMatrixTiles.Where(t => $"{t.M}x{t.N}x{t.K}" == forced).ToList();
            if (named.Count == 0)
                throw new InvalidInputException($"{CooperativeTileVariable}={forced} is not a tile the kernels are built for; use one of " +
                    $"{string.Join(", ", CooperativeMatrixTiles.Select(t => $"{t.M}x{t.N}x{t.K}"))} that the device lists, or unset it.");
            if (!Listed(named[0]))
                throw new InvalidInputException($"{CooperativeTileVariable}={forced}: {device.Name} does not list that fp16 x fp16 + fp32 shape " +
                    $"(it lists: {string.Join("; ", device.CooperativeMatrixShapes)}); unset it.");
            return named[0];
        }
        foreach (var tile in CooperativeMatrixTiles)
            if (Listed(tile)) return tile;
        whyNot = $"{device.Name} lists no fp16 x fp16 + fp32 subgroup shape of {string.Join(", ", CooperativeMatrixTiles.Select(t => $"{t.M}x{t.N}x{t.K}"))} " +
            $"(it lists: {(device.CooperativeMatrixShapes.Count == 0 ? "none" : string.Join("; ", device.CooperativeMatrixShapes))})";
        return null;
    }

    private static Variant CooperativeMatrixVariant(GpuContext context)
    {
        if (CooperativeMatrixTile(context, out string whyNot) is not { } tile)
            throw new InvalidInputException($"{PathVariable}=coopmat: {whyNot}; unset {PathVariable}.");
        var (m, n, k) = tile;
        uint groupX = CooperativeSubgroupsM * CooperativeSubgroupsN * context.Info.SubgroupSize;
        return new Variant($"matmul_coopmat_f16_{m}x{n}x{k}", groupX, 1,
            CooperativeSubgroupsM * CooperativeTilesPerSubgroup * m, CooperativeSubgroupsN * CooperativeTilesPerSubgroup * n);
    }

    /// <summary>The VKDIFF_MATMUL value that selects <paramref name="path"/>.</summary>
    public static string PathName(MatmulPath path) => path switch
    {
        MatmulPath.Reference => "reference",
        MatmulPath.RegisterBlocked => "register",
        MatmulPath.RegisterBlockedTexels => "texel",
        MatmulPath.Tiled => "tiled",
        _ => "coopmat",
    };

    // CPU, texel loads: a gathered load is cheap enough that 8x16 blocks beat 8x8 (1024^3 on lavapipe). Workgroups
    // are 8 lanes wide and up to 8 tall, shorter while that leaves fewer than 16 workgroups to share among the
    // cores (a 128x128 weight gradient over 1024 rows: 14 -> 26 GFLOP/s with 8x2 workgroups instead of 8x8).
    // Narrow or tiny products, where a 128-column tile would be mostly idle lanes, use 4x4 blocks.
    private static Variant TexelVariant(int m, int n, int batchCount, bool? large)
    {
        const uint blockM = 8, blockN = 16, groupX = 8, enoughGroups = 16;
        if (!(large ?? !(n < 64 || (long)m * n < 8 * 8 * blockM * blockN))) return Variant.Blocked("matmul_texel4x4", 8, 8, 4, 4, texels: true, vec4Loads: true);
        uint groupY = 8;
        while (groupY > 1 && Workgroups(m, groupY * blockM) * Workgroups(n, groupX * blockN) * batchCount < enoughGroups) groupY /= 2;
        return Variant.Blocked("matmul_texel8x16", groupX, groupY, blockM, blockN, texels: true, vec4Loads: true);
    }

    private static long Workgroups(int extent, uint tile) => (extent + tile - 1) / tile;

    private static void Record(CommandList commands, Problem problem)
    {
        DeviceInfo device = commands.Context.Info;
        Variant variant = ChooseVariant(commands.Context, ChoosePath(commands.Context, problem.Operands), problem.M, problem.N, problem.BatchCount, problem.Operands);
        long maxBinding = (long)Math.Min(device.MaxStorageBufferRange, int.MaxValue);
        if (variant.Texels) maxBinding = Math.Min(maxBinding, (long)device.MaxTexelBufferElements * sizeof(float));
        long maxGroups = Math.Min(device.MaxComputeWorkGroupCountX, 65535u);
        if (problem.BatchCount > 65535)
            throw new ArgumentOutOfRangeException(nameof(problem), $"matmul batch count {problem.BatchCount} exceeds 65535");
        if (Workgroups(problem.N, variant.TileN) > maxGroups)
            throw new ArgumentOutOfRangeException(nameof(problem), $"matmul output width {problem.N} exceeds {maxGroups} tiles of {variant.TileN}");

        // Split until every binding fits the device's range and the grid its limits. An operand too large for one binding
        // is cut along its outer (larger-stride) index: activations along their rows (i), a weight gradient's operands
        // along the reduction (r, accumulating), a tied LM head's 50304-row table along j (or along r in its input
        // gradient). Chunks are multiples of 128 so vec4 alignment and tile boundaries survive the split.
        var chunk = new Extents(problem.M, problem.N, problem.R);
        while (!Fits(problem, variant, chunk, maxBinding, maxGroups))
            chunk = Smaller(problem, variant, chunk, maxBinding, maxGroups)
                ?? throw new BindingRangeException($"matmul operands ({problem.A.Name}, {problem.B.Name}, {problem.C.Name}) do not fit this device's " +
                    $"maxStorageBufferRange of {device.MaxStorageBufferRange} bytes even when split; use a smaller batch or width");

        for (int i = 0; i < problem.M; i += chunk.M)
            for (int j = 0; j < problem.N; j += chunk.N)
                for (int r = 0; r < problem.R; r += chunk.R)
                {
                    Problem part = problem with
                    {
                        M = Math.Min(chunk.M, problem.M - i),
                        N = Math.Min(chunk.N, problem.N - j),
                        R = Math.Min(chunk.R, problem.R - r),
                        A = Advance(problem.A, i * problem.A.RowStride + r * problem.A.ReductionStride),
                        B = Advance(problem.B, j * problem.B.RowStride + r * problem.B.ReductionStride),
                        C = Advance(problem.C, i * problem.C.RowStride + j),
                        Accumulate = problem.Accumulate || r > 0,
                    };
                    Dispatch(commands, part, variant);
                }
    }

    // The extents of one dispatch's part of a product.
    private readonly record struct Extents(int M, int N, int R);

    // The next smaller chunk: the grid's rows, or the outer index of the first operand whose binding is too large; null
    // when nothing can shrink further.
    private static Extents? Smaller(Problem problem, Variant variant, Extents chunk, long maxBinding, long maxGroups)
    {
        if (Workgroups(chunk.M, variant.TileM) > maxGroups) return chunk.M > 128 ? chunk with { M = Half(chunk.M) } : null;
        Problem part = problem with { M = chunk.M, N = chunk.N, R = chunk.R };
        var cuts = new[]
        {
            (Operand: part.A, Rows: part.M, Output: false, Outer: part.A.RowStride >= part.A.ReductionStride ? 'i' : 'r', Inner: part.A.RowStride >= part.A.ReductionStride ? 'r' : 'i'),
            (Operand: part.B, Rows: part.N, Output: false, Outer: part.B.RowStride >= part.B.ReductionStride ? 'j' : 'r', Inner: part.B.RowStride >= part.B.ReductionStride ? 'r' : 'j'),
            (Operand: part.C, Rows: part.M, Output: true, Outer: 'i', Inner: 'j'),
        };
        foreach (var cut in cuts)
        {
            if (ElementCount(part, cut.Operand, cut.Rows, cut.Output) * cut.Operand.ElementBytes + 256 <= maxBinding) continue;
            foreach (char index in new[] { cut.Outer, cut.Inner })
            {
                int extent = index switch { 'i' => chunk.M, 'j' => chunk.N, _ => chunk.R };
                if (extent <= 128) continue;
                return index switch
                {
                    'i' => chunk with { M = Half(extent) },
                    'j' => chunk with { N = Half(extent) },
                    _ => chunk with { R = Half(extent) },
                };
            }
        }
        return null;
    }

    private static int Half(int extent) => Math.Max(128, (extent / 2 + 127) / 128 * 128);

    private static Operand Advance(Operand operand, long elements) => operand with { Slice = SliceFrom(operand, elements) };

    // Moves an operand's start by whole elements; the binding is later aligned down, so any element offset works.
    private static BufferSlice SliceFrom(Operand operand, long elements)
    {
        long bytes = elements * operand.ElementBytes;
        if (bytes > operand.Slice.Length)
            throw new ArgumentException($"matmul operand {operand.Name} ({operand.Slice}) is too small for the shape");
        return new BufferSlice(operand.Slice.Buffer, operand.Slice.Offset + bytes, operand.Slice.Length - bytes);
    }

    private static bool Fits(Problem problem, Variant variant, Extents chunk, long maxBinding, long maxGroups)
    {
        Problem part = problem with { M = chunk.M, N = chunk.N, R = chunk.R };
        if (Workgroups(chunk.M, variant.TileM) > maxGroups) return false;
        // Alignment can add up to 256 bytes in front of a binding.
        return ElementCount(part, part.A, part.M) * part.A.ElementBytes + 256 <= maxBinding
            && ElementCount(part, part.B, part.N) * part.B.ElementBytes + 256 <= maxBinding
            && ElementCount(part, part.C, part.M, isOutput: true) * part.C.ElementBytes + 256 <= maxBinding;
    }

    // One past the last element the problem touches in this operand.
    private static long ElementCount(Problem problem, Operand operand, int rows, bool isOutput = false)
    {
        long last = (problem.BatchCount - 1) * operand.BatchStride + (rows - 1) * operand.RowStride
            + (isOutput ? problem.N - 1 : (problem.R - 1) * operand.ReductionStride);
        return last + 1;
    }

    private static void Dispatch(CommandList commands, Problem problem, Variant variant)
    {
        uint alignment = commands.Context.Info.MinStorageOrTexelOffsetAlignment;
        var (aBinding, aOffset) = Bind(problem.A, ElementCount(problem, problem.A, problem.M), alignment);
        var (bBinding, bOffset) = Bind(problem.B, ElementCount(problem, problem.B, problem.N), alignment);
        var (cBinding, cOffset) = Bind(problem.C, ElementCount(problem, problem.C, problem.M, isOutput: true), alignment);

        bool aUnitR = problem.A.ReductionStride == 1;
        bool bUnitR = problem.B.ReductionStride == 1;
        // A vec4 texel view must span whole 16-byte texels.
        bool aVec4 = variant.Vec4Loads && CanLoadVec4(problem.A, aOffset, aUnitR, problem.M) && (!variant.Texels || aBinding.Length % 16 == 0);
        bool bVec4 = variant.Vec4Loads && CanLoadVec4(problem.B, bOffset, bUnitR, problem.N) && (!variant.Texels || bBinding.Length % 16 == 0);
        Kernel kernel = commands.Context.Kernels.Get(variant.Name, variant.GroupX, variant.GroupY,
            aUnitR ? 1u : 0u, bUnitR ? 1u : 0u, aVec4 ? 1u : 0u, bVec4 ? 1u : 0u);
        Binding aRead = ReadBinding(aBinding, variant.Texels, aVec4), bRead = ReadBinding(bBinding, variant.Texels, bVec4);
        uint groupsX = (uint)Workgroups(problem.N, variant.TileN), groupsY = (uint)Workgroups(problem.M, variant.TileM);

        int splits = PartialSplitCount(commands.Context.Info, problem, groupsX * (long)groupsY);
        MatmulPush Push(bool accumulate, uint outputOffset, long outputRowStride, long outputBatchStride, uint splitLength, long outputSplitStride) => new(
            (uint)problem.M, (uint)problem.N, (uint)problem.R, accumulate ? 1u : 0u,
            aOffset, Index(problem.A.RowStride), Index(problem.A.ReductionStride), Index(problem.A.BatchStride),
            bOffset, Index(problem.B.RowStride), Index(problem.B.ReductionStride), Index(problem.B.BatchStride),
            outputOffset, Index(outputRowStride), Index(outputBatchStride),
            (uint)splits, splitLength, Index(outputSplitStride));
        if (splits == 1)
        {
            commands.Dispatch(kernel, groupsX, groupsY, (uint)problem.BatchCount,
                Push(problem.Accumulate, cOffset, problem.C.RowStride, problem.C.BatchStride, (uint)problem.R, 0), aRead, bRead, Binding.Write(cBinding));
            return;
        }

        // Split-K: slice s of the reduction writes its partial product to partials[s][batch][M][N]; a second pass sums
        // the slices in order into C. Each split product gets its own scratch: sharing one would order otherwise
        // independent products of a recorded step behind each other's barriers.
        long partialElements = (long)problem.M * problem.N * problem.BatchCount;
        BufferSlice partials = commands.Scratch(splits * partialElements * sizeof(float), "matmul-split-k-partials");
        commands.Dispatch(kernel, groupsX, groupsY, (uint)(problem.BatchCount * splits),
            Push(false, 0, problem.N, (long)problem.M * problem.N, (uint)SplitLength(problem.R, splits), partialElements),
            aRead, bRead, Binding.Write(partials));
        var reducePush = new SplitReducePush((uint)problem.M, (uint)problem.N, (uint)problem.BatchCount, (uint)splits, Index(partialElements),
            problem.Accumulate ? 1u : 0u, cOffset, Index(problem.C.RowStride), Index(problem.C.BatchStride));
        commands.Dispatch(commands.Context.Kernels.Get("matmul_split_reduce", SplitReduceWorkgroupSize),
            KernelShapes.Groups(partialElements, SplitReduceWorkgroupSize), 1, 1, reducePush, Binding.Read(partials), Binding.Write(cBinding));
    }

    private const uint SplitReduceWorkgroupSize = 256;

    // Slices whose reduction steps are a multiple of SplitGranularity; the last takes the remainder.
    private static int SplitLength(int reductionLength, int splits) =>
        ((reductionLength + splits - 1) / splits + SplitGranularity - 1) / SplitGranularity * SplitGranularity;

    // The split for this dispatch, lowered until the slices are whole (rounding can leave the last ones empty), the
    // grid's z fits and the partial products fit one binding.
    private static int PartialSplitCount(DeviceInfo device, Problem problem, long outputTiles)
    {
        int splits = SplitCount(device, outputTiles * problem.BatchCount, problem.R);
        long partialBytes = (long)problem.M * problem.N * problem.BatchCount * sizeof(float);
        long maxBinding = (long)Math.Min(device.MaxStorageBufferRange, int.MaxValue);
        while (splits > 1 && ((long)SplitLength(problem.R, splits) * (splits - 1) >= problem.R
            || (long)problem.BatchCount * splits > 65535 || splits * partialBytes > maxBinding))
            splits--;
        return splits;
    }

    private static Binding ReadBinding(BufferSlice binding, bool texels, bool vec4) =>
        texels ? Binding.ReadTexels(binding, vec4 ? TexelFormat.Float4 : TexelFormat.Float) : Binding.Read(binding);

    // vec4 loads along the unit-stride dimension need every vec4 to start at a multiple of 4 elements and,
    // along a row index, the clamped last group of four rows to be whole.
    private static bool CanLoadVec4(Operand operand, uint offset, bool unitReduction, int rows) =>
        offset % 4 == 0 && operand.BatchStride % 4 == 0 &&
        (unitReduction ? operand.RowStride % 4 == 0 : operand.ReductionStride % 4 == 0 && rows % 4 == 0);

    // The binding starts at the operand's first element rounded down to the device's offset alignment;
    // the element offset inside the binding goes to the shader.
    private static (BufferSlice Binding, uint Offset) Bind(Operand operand, long elementCount, uint alignment)
    {
        long bytes = elementCount * operand.ElementBytes;
        if (bytes > operand.Slice.Length)
            throw new ArgumentException($"matmul operand {operand.Name}: {operand.Slice} holds {operand.Slice.Length} bytes, the shape needs {bytes}");
        long misalignment = operand.Slice.Offset % alignment;
        var binding = new BufferSlice(operand.Slice.Buffer, operand.Slice.Offset - misalignment, misalignment + bytes);
        return (binding, (uint)(misalignment / operand.ElementBytes));
    }

    private static uint Index(long value)
    {
        if (value < 0 || value > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(value), $"matmul stride {value} does not fit 32 bits");
        return (uint)value;
    }
}
